using System.Buffers.Binary;
using System.Text.Json;

namespace InpaintSuite.Runtime.Lora;

/// <summary>Element types a LoRA tensor may have (all are widened to float32 for merging).</summary>
public enum SafetensorsDtype { F32, F16, BF16 }

/// <summary>One tensor's header entry: dtype, shape and byte span relative to the data section.</summary>
public sealed record SafetensorsTensor(string Name, SafetensorsDtype Dtype, int[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public override string ToString() => $"{Name}: {Dtype}[{string.Join(", ", Shape)}]";
}

/// <summary>A file that is not a valid .safetensors file (the message says what is wrong and where).</summary>
public sealed class SafetensorsFormatException(string message) : FormatException(message);

/// <summary>
/// A .safetensors file read by the project: <c>u64 LE header length N</c>, N bytes of UTF-8 JSON (an object of
/// tensor entries <c>{"dtype","shape","data_offsets":[begin,end]}</c> plus an optional string map
/// <c>"__metadata__"</c>), then the raw little-endian tensor bytes. Everything is validated before any tensor is read,
/// following the rules of the reference implementation: the header is a JSON object, every span equals
/// product(shape) x element size, spans lie inside the data section and do not overlap. Only f32/f16/bf16 tensors are
/// accepted (what LoRA files hold); any other dtype is a clear error naming the tensor.
/// </summary>
public sealed class SafetensorsFile
{
    /// <summary>Headers beyond this are not LoRA files (the reference implementation's limit is 100 MB too).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly byte[] _data;
    private readonly int _dataStart;
    private readonly Dictionary<string, SafetensorsTensor> _tensors;

    private SafetensorsFile(string source, byte[] data, int dataStart, Dictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        _data = data;
        _dataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Where the bytes came from (for messages).</summary>
    public string Source { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IReadOnlyCollection<SafetensorsTensor> Tensors => _tensors.Values;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafetensorsTensor Tensor(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{Source}: no tensor '{name}'");

    public static SafetensorsFile Load(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"LoRA file not found: {path}", path);
        if (info.Length > int.MaxValue) throw new SafetensorsFormatException($"{path}: {info.Length} bytes is larger than the 2 GiB this reader accepts for a LoRA file");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Reads only the header (for listing a folder without loading tensors).</summary>
    public static (IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<SafetensorsTensor> Tensors) ReadHeader(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Span<byte> len = stackalloc byte[8];
        if (fs.Length < 8 || fs.ReadAtLeast(len, 8, throwOnEndOfStream: false) < 8) throw new SafetensorsFormatException($"{path}: {fs.Length} bytes is too short for a safetensors file (8-byte header length missing)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        CheckHeaderLength(n, fs.Length, path);
        var header = new byte[(int)n];
        fs.ReadExactly(header);
        var (tensors, meta) = ParseHeader(header, fs.Length - 8 - (long)n, path);
        return (meta, tensors.Values.ToList());
    }

    public static SafetensorsFile Parse(byte[] bytes, string source = "safetensors")
    {
        if (bytes.Length < 8) throw new SafetensorsFormatException($"{source}: {bytes.Length} bytes is too short for a safetensors file (8-byte header length missing)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        CheckHeaderLength(n, bytes.Length, source);
        int dataStart = 8 + (int)n;
        var (tensors, meta) = ParseHeader(bytes.AsSpan(8, (int)n), bytes.Length - dataStart, source);
        return new SafetensorsFile(source, bytes, dataStart, tensors, meta);
    }

    private static void CheckHeaderLength(ulong n, long fileLength, string source)
    {
        if (n == 0) throw new SafetensorsFormatException($"{source}: header length is 0");
        if (n > MaxHeaderBytes) throw new SafetensorsFormatException($"{source}: header length {n} exceeds {MaxHeaderBytes} bytes (not a safetensors file?)");
        if ((long)n > fileLength - 8) throw new SafetensorsFormatException($"{source}: header length {n} runs past the end of the {fileLength}-byte file (truncated?)");
    }

    private static (Dictionary<string, SafetensorsTensor>, IReadOnlyDictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, long dataLength, string source)
    {
        // The writer pads the header with spaces; trailing NULs/spaces are allowed, anything else must be JSON.
        var trimmed = header.TrimEnd((byte)' ').TrimEnd((byte)0);
        if (trimmed.Length == 0 || trimmed[0] != (byte)'{') throw new SafetensorsFormatException($"{source}: the header is not a JSON object");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(trimmed.ToArray()); }
        catch (JsonException e) { throw new SafetensorsFormatException($"{source}: the header is not valid JSON: {e.Message}"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new SafetensorsFormatException($"{source}: the header is not a JSON object");
        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                if (p.Value.ValueKind != JsonValueKind.Object) throw new SafetensorsFormatException($"{source}: __metadata__ is not an object");
                foreach (var m in p.Value.EnumerateObject())
                    meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                continue;
            }
            tensors[p.Name] = ParseEntry(p.Name, p.Value, dataLength, source);
        }
        // Spans must not overlap (sorted by begin, each starts at or after the previous end).
        long previousEnd = 0;
        string? previous = null;
        foreach (var t in tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin < previousEnd) throw new SafetensorsFormatException($"{source}: tensor '{t.Name}' [{t.Begin}, {t.End}) overlaps '{previous}' (ends at {previousEnd})");
            previousEnd = t.End;
            previous = t.Name;
        }
        return (tensors, meta);
    }

    private static SafetensorsTensor ParseEntry(string name, JsonElement e, long dataLength, string source)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new SafetensorsFormatException($"{source}: entry '{name}' is not an object");
        if (!e.TryGetProperty("dtype", out var d) || d.ValueKind != JsonValueKind.String) throw new SafetensorsFormatException($"{source}: tensor '{name}' has no dtype");
        var dtypeName = d.GetString();
        SafetensorsDtype dtype = dtypeName switch
        {
            "F32" => SafetensorsDtype.F32,
            "F16" => SafetensorsDtype.F16,
            "BF16" => SafetensorsDtype.BF16,
            _ => throw new SafetensorsFormatException($"{source}: tensor '{name}' has dtype {dtypeName}; LoRA tensors must be F32, F16 or BF16"),
        };
        if (!e.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array) throw new SafetensorsFormatException($"{source}: tensor '{name}' has no shape");
        var shape = new int[s.GetArrayLength()];
        int i = 0;
        long count = 1;
        foreach (var dim in s.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt32(out var v) || v < 0) throw new SafetensorsFormatException($"{source}: tensor '{name}' has an invalid dimension {dim.GetRawText()}");
            shape[i++] = v;
            count = checked(count * v);
        }
        if (!e.TryGetProperty("data_offsets", out var o) || o.ValueKind != JsonValueKind.Array || o.GetArrayLength() != 2)
            throw new SafetensorsFormatException($"{source}: tensor '{name}' has no data_offsets [begin, end]");
        if (!o[0].TryGetInt64(out var begin) || !o[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new SafetensorsFormatException($"{source}: tensor '{name}' has invalid data_offsets {o.GetRawText()}");
        if (end > dataLength) throw new SafetensorsFormatException($"{source}: tensor '{name}' ends at byte {end} of a {dataLength}-byte data section (truncated?)");
        long expected = count * (dtype == SafetensorsDtype.F32 ? 4 : 2);
        if (end - begin != expected) throw new SafetensorsFormatException($"{source}: tensor '{name}' {dtypeName}[{string.Join(", ", shape)}] needs {expected} bytes but its data_offsets span {end - begin}");
        return new SafetensorsTensor(name, dtype, shape, begin, end);
    }

    /// <summary>The tensor's values as float32 (f16 and bf16 widened exactly).</summary>
    public float[] ReadFloat32(string name) => ReadFloat32(Tensor(name));

    public float[] ReadFloat32(SafetensorsTensor t)
    {
        var bytes = _data.AsSpan(_dataStart + (int)t.Begin, (int)(t.End - t.Begin));
        var result = new float[(int)t.ElementCount];
        switch (t.Dtype)
        {
            case SafetensorsDtype.F32:
                for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                break;
            case SafetensorsDtype.F16:
                for (int i = 0; i < result.Length; i++) result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                break;
            case SafetensorsDtype.BF16:
                for (int i = 0; i < result.Length; i++) result[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) << 16);
                break;
        }
        foreach (var v in result)
            if (!float.IsFinite(v)) throw new SafetensorsFormatException($"{Source}: tensor '{t.Name}' holds NaN or infinite values");
        return result;
    }

    /// <summary>Writes a float32 safetensors file (tests and benchmarks make synthetic LoRAs with it).</summary>
    public static byte[] Write(IReadOnlyList<(string Name, int[] Shape, float[] Data)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var sorted = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, shape, data) in sorted)
            {
                if (data.LongLength != shape.Aggregate(1L, (a, d) => a * d)) throw new ArgumentException($"tensor '{name}' has {data.Length} values for shape [{string.Join(", ", shape)}]");
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += 4L * data.Length;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        var header = json.ToArray().ToList();
        while ((8 + header.Count) % 8 != 0) header.Add((byte)' ');
        var output = new MemoryStream();
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Count);
        output.Write(len);
        output.Write(header.ToArray());
        Span<byte> f = stackalloc byte[4];
        foreach (var (_, _, data) in sorted)
            foreach (var v in data) { BinaryPrimitives.WriteSingleLittleEndian(f, v); output.Write(f); }
        return output.ToArray();
    }
}
