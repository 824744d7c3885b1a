using System.Buffers.Binary;
using System.Text;

namespace InpaintSuite.Runtime.Lora;

/// <summary>Where an initializer's bytes are: inside the model bytes (raw_data or packed float_data) or in an external file.</summary>
public sealed record OnnxInitializer(string Name, int DataType, long[] Dims, int TagStart, int TensorStart, int TensorEnd, int DataOffset, int DataLength, string? ExternalLocation, long ExternalOffset, long ExternalLength)
{
    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);

    public bool IsExternal => ExternalLocation != null;

    /// <summary>ONNX TensorProto.DataType: 1 float, 10 float16, 16 bfloat16.</summary>
    public int ElementSize => DataType switch { 1 => 4, 10 or 16 => 2, _ => 0 };
}

/// <summary>A weight a LoRA module can patch: the initializer and whether it is stored transposed ([in, out], MatMul / Gemm transB=0).</summary>
public sealed record OnnxWeightSlot(string ModulePath, OnnxInitializer Initializer, bool Transposed, string Node);

/// <summary>
/// The Conv/Gemm/MatMul weights of an ONNX graph (parsed from the ModelProto bytes, no ONNX Runtime) and the module
/// path each belongs to, found in the graph rather than in a table:
/// Conv/Gemm weights keep their torch names (<c>unet.&lt;path&gt;.weight</c> or <c>&lt;path&gt;.weight</c>); Linear layers on
/// 3-D inputs become a MatMul whose weight is an anonymous <c>onnx::MatMul_N</c> initializer holding Wᵀ, and only the
/// consuming node's name (<c>/unet/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul</c>) tells the module.
/// Every weight is indexed under each path it can be called by (with and without a leading <c>unet</c> /
/// <c>text_encoder</c> scope) and under kohya's underscore form of each, so both key conventions resolve by lookup.
/// </summary>
public sealed class OnnxWeightGraph
{
    private static readonly string[] WrapperScopes = ["unet", "text_encoder", "text_encoder_2", "model"];

    private readonly Dictionary<string, OnnxWeightSlot?> _byDotted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OnnxWeightSlot?> _byKohya = new(StringComparer.Ordinal);

    private OnnxWeightGraph(byte[] model, int graphStart, int graphEnd, int graphTagStart, Dictionary<string, OnnxInitializer> initializers, List<OnnxWeightSlot> slots)
    {
        Model = model;
        GraphStart = graphStart;
        GraphEnd = graphEnd;
        GraphTagStart = graphTagStart;
        Initializers = initializers;
        Slots = slots;
        foreach (var slot in slots)
        {
            foreach (var path in Aliases(slot.ModulePath))
            {
                Add(_byDotted, path, slot);
                Add(_byKohya, path.Replace('.', '_'), slot);
            }
        }
    }

    /// <summary>The serialised ModelProto (not modified by the graph; patching works on a copy).</summary>
    public byte[] Model { get; }

    internal int GraphStart { get; }
    internal int GraphEnd { get; }
    internal int GraphTagStart { get; }

    public IReadOnlyDictionary<string, OnnxInitializer> Initializers { get; }

    /// <summary>Every Conv/Gemm/MatMul weight with the module path its node or name gives.</summary>
    public IReadOnlyList<OnnxWeightSlot> Slots { get; }

    private static void Add(Dictionary<string, OnnxWeightSlot?> map, string key, OnnxWeightSlot slot)
    {
        // Two different weights under one name: ambiguous, so neither is patched by that name.
        if (map.TryGetValue(key, out var existing)) { if (existing != null && existing.Initializer != slot.Initializer) map[key] = null; }
        else map[key] = slot;
    }

    private static IEnumerable<string> Aliases(string path)
    {
        yield return path;
        foreach (var scope in WrapperScopes)
            if (path.StartsWith(scope + ".", StringComparison.Ordinal)) yield return path[(scope.Length + 1)..];
    }

    /// <summary>The weight of a module named as in diffusers/PEFT (<c>down_blocks.0.attentions.0.proj_in</c>).</summary>
    public OnnxWeightSlot? FindDotted(string path) => _byDotted.GetValueOrDefault(path);

    /// <summary>The weight of a module named as in kohya (<c>down_blocks_0_attentions_0_proj_in</c>).</summary>
    public OnnxWeightSlot? FindKohya(string key) => _byKohya.GetValueOrDefault(key);

    public OnnxWeightSlot? Find(LoraModule m) => m.Dotted ? FindDotted(m.ModuleKey) : FindKohya(m.ModuleKey);

    /// <summary>Width of the cross-attention context (768 SD 1.x, 1024 SD 2.x, 2048 SDXL), or null when the graph has no attn2.to_k.</summary>
    public long? CrossAttentionWidth
    {
        get
        {
            var slot = Slots.FirstOrDefault(s => s.ModulePath.EndsWith("attn2.to_k", StringComparison.Ordinal));
            if (slot == null || slot.Initializer.Dims.Length != 2) return null;
            return slot.Transposed ? slot.Initializer.Dims[0] : slot.Initializer.Dims[1];
        }
    }

    public static OnnxWeightGraph Load(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"ONNX model not found: {path}", path);
        if (info.Length > int.MaxValue) throw new LoraException($"{path}: {info.Length} bytes is more than the 2 GiB a single .onnx file can hold (weights must be in external data)");
        return Parse(File.ReadAllBytes(path));
    }

    public static OnnxWeightGraph Parse(byte[] model)
    {
        var r = new Reader(model, 0, model.Length);
        int graphStart = -1, graphEnd = -1, graphTag = -1;
        while (!r.AtEnd)
        {
            int tagStart = r.Position;
            var (field, wire) = r.Tag();
            if (field == 7 && wire == 2) { graphTag = tagStart; (graphStart, graphEnd) = r.LengthDelimited(); }
            else r.Skip(wire);
        }
        if (graphStart < 0) throw new LoraException("the ONNX model has no graph");
        var initializers = new Dictionary<string, OnnxInitializer>(StringComparer.Ordinal);
        var nodes = new List<(string Name, string Op, List<string> Inputs, long TransB)>();
        var g = new Reader(model, graphStart, graphEnd);
        while (!g.AtEnd)
        {
            int tagStart = g.Position;
            var (field, wire) = g.Tag();
            if (wire != 2) { g.Skip(wire); continue; }
            var (s, e) = g.LengthDelimited();
            if (field == 1) nodes.Add(ReadNode(model, s, e));
            else if (field == 5) { var t = ReadTensor(model, tagStart, s, e); initializers[t.Name] = t; }
        }
        var slots = new List<OnnxWeightSlot>();
        foreach (var (name, op, inputs, transB) in nodes)
        {
            if (op is not ("Conv" or "Gemm" or "MatMul") || inputs.Count < 2) continue;
            if (!initializers.TryGetValue(inputs[1], out var init) || init.ElementSize == 0) continue;
            bool transposed = op == "MatMul" || (op == "Gemm" && transB == 0);
            // The node's scope names the module; a weight named <path>.weight names it too (both are indexed).
            var fromNode = ModulePathOfNode(name);
            if (fromNode != null) slots.Add(new OnnxWeightSlot(fromNode, init, transposed, name));
            if (init.Name.EndsWith(".weight", StringComparison.Ordinal) && init.Name[..^7] != fromNode)
                slots.Add(new OnnxWeightSlot(init.Name[..^7], init, transposed, name));
        }
        return new OnnxWeightGraph(model, graphStart, graphEnd, graphTag, initializers, slots);
    }

    /// <summary>"/unet/down_blocks.0/attentions.0/proj_in/Conv" -> "unet.down_blocks.0.attentions.0.proj_in" (the last segment is the op).</summary>
    internal static string? ModulePathOfNode(string node)
    {
        if (node.Length == 0 || node[0] != '/') return null;
        int last = node.LastIndexOf('/');
        if (last <= 0) return null;
        return node[1..last].Replace('/', '.');
    }

    private static (string, string, List<string>, long) ReadNode(byte[] b, int start, int end)
    {
        var r = new Reader(b, start, end);
        string name = "", op = "";
        var inputs = new List<string>();
        long transB = 0;
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            if (w != 2) { r.Skip(w); continue; }
            var (s, e) = r.LengthDelimited();
            switch (f)
            {
                case 1: inputs.Add(Encoding.UTF8.GetString(b, s, e - s)); break;
                case 3: name = Encoding.UTF8.GetString(b, s, e - s); break;
                case 4: op = Encoding.UTF8.GetString(b, s, e - s); break;
                case 5:
                    {
                        // AttributeProto: name = 1, i = 3.
                        var a = new Reader(b, s, e);
                        string an = ""; long iv = 0;
                        while (!a.AtEnd)
                        {
                            var (af, aw) = a.Tag();
                            if (af == 1 && aw == 2) { var (x, y) = a.LengthDelimited(); an = Encoding.UTF8.GetString(b, x, y - x); }
                            else if (af == 3 && aw == 0) iv = (long)a.Varint();
                            else a.Skip(aw);
                        }
                        if (an == "transB") transB = iv;
                        break;
                    }
            }
        }
        return (name, op, inputs, transB);
    }

    private static OnnxInitializer ReadTensor(byte[] b, int tagStart, int start, int end)
    {
        var r = new Reader(b, start, end);
        var dims = new List<long>();
        int type = 0, dataOffset = -1, dataLength = 0;
        string name = "";
        string? location = null;
        long extOffset = 0, extLength = -1;
        bool external = false;
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1 when w == 0: dims.Add((long)r.Varint()); break;
                case 1 when w == 2: { var (s, e) = r.LengthDelimited(); var p = new Reader(b, s, e); while (!p.AtEnd) dims.Add((long)p.Varint()); break; }
                case 2 when w == 0: type = (int)r.Varint(); break;
                case 8 when w == 2: { var (s, e) = r.LengthDelimited(); name = Encoding.UTF8.GetString(b, s, e - s); break; }
                case 9 when w == 2: { var (s, e) = r.LengthDelimited(); dataOffset = s; dataLength = e - s; break; }
                // float_data, packed: the same little-endian bytes as raw_data.
                case 4 when w == 2: { var (s, e) = r.LengthDelimited(); if (dataOffset < 0) { dataOffset = s; dataLength = e - s; } break; }
                case 14 when w == 0: external = r.Varint() == 1; break;
                case 13 when w == 2:
                    {
                        var (s, e) = r.LengthDelimited();
                        var p = new Reader(b, s, e);
                        string key = "", value = "";
                        while (!p.AtEnd)
                        {
                            var (pf, pw) = p.Tag();
                            if (pw == 2 && pf is 1 or 2) { var (x, y) = p.LengthDelimited(); var str = Encoding.UTF8.GetString(b, x, y - x); if (pf == 1) key = str; else value = str; }
                            else p.Skip(pw);
                        }
                        if (key == "location") location = value;
                        else if (key == "offset") extOffset = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        else if (key == "length") extLength = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    }
                default: r.Skip(w); break;
            }
        }
        if (!external) location = null;
        return new OnnxInitializer(name, type, dims.ToArray(), tagStart, start, end, dataOffset, dataLength, location, extOffset, extLength);
    }

    /// <summary>Protobuf wire reader over a byte range.</summary>
    internal struct Reader(byte[] b, int start, int end)
    {
        private int _pos = start;

        public readonly int Position => _pos;

        public readonly bool AtEnd => _pos >= end;

        public ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= end) throw new LoraException("ONNX protobuf: truncated varint");
                byte x = b[_pos++];
                v |= (ulong)(x & 0x7F) << shift;
                if ((x & 0x80) == 0) return v;
            }
            throw new LoraException("ONNX protobuf: malformed varint");
        }

        public (int Field, int Wire) Tag()
        {
            ulong t = Varint();
            if (t >> 3 == 0) throw new LoraException("ONNX protobuf: field number 0 (not an ONNX model?)");
            return ((int)(t >> 3), (int)(t & 7));
        }

        public (int Start, int End) LengthDelimited()
        {
            ulong n = Varint();
            if (n > (ulong)(end - _pos)) throw new LoraException("ONNX protobuf: field runs past its message (truncated model?)");
            int s = _pos;
            _pos += (int)n;
            return (s, _pos);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: LengthDelimited(); break;
                case 5: _pos += 4; break;
                default: throw new LoraException($"ONNX protobuf: unsupported wire type {wire}");
            }
            if (_pos > end) throw new LoraException("ONNX protobuf: field runs past its message (truncated model?)");
        }
    }

    internal static float ReadElement(ReadOnlySpan<byte> data, int type, int i) => type switch
    {
        1 => BinaryPrimitives.ReadSingleLittleEndian(data[(4 * i)..]),
        10 => (float)BinaryPrimitives.ReadHalfLittleEndian(data[(2 * i)..]),
        _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(data[(2 * i)..]) << 16),
    };
}

/// <summary>A LoRA cannot be merged as asked (keys that match nothing, wrong base model, corrupt file).</summary>
public class LoraException(string message, Exception? inner = null) : Exception(message, inner);
