using System.Text;

namespace InpaintSuite.Runtime.Models;

/// <summary>One dimension of a graph input/output: a fixed size, a symbolic name, or unknown.</summary>
public readonly record struct OnnxDimension(long? Value, string? Param)
{
    public override string ToString() => Value?.ToString() ?? Param ?? "?";
}

/// <summary>A graph input or output (ValueInfoProto) with its tensor element type and shape.</summary>
public sealed record OnnxValueInfo(string Name, int ElementType, IReadOnlyList<OnnxDimension>? Shape)
{
    /// <summary>ONNX TensorProto.DataType names for the common types ("float", "float16", "int64", ...).</summary>
    public string ElementTypeName => OnnxHeaderReader.ElementTypeName(ElementType);

    /// <summary>Rank, or -1 when the model does not state a shape.</summary>
    public int Rank => Shape?.Count ?? -1;

    public override string ToString() => $"{Name}: {ElementTypeName}[{(Shape is null ? "?" : string.Join(", ", Shape))}]";
}

/// <summary>What <see cref="OnnxHeaderReader"/> reads from a ModelProto without loading weights.</summary>
public sealed record OnnxModelHeader(
    long IrVersion,
    string ProducerName,
    IReadOnlyList<(string Domain, long Version)> Opsets,
    IReadOnlyList<OnnxValueInfo> Inputs,
    IReadOnlyList<OnnxValueInfo> Outputs,
    IReadOnlyList<string> ExternalDataFiles)
{
    public OnnxValueInfo? Input(string name) => Inputs.FirstOrDefault(i => i.Name == name);
    public OnnxValueInfo? Output(string name) => Outputs.FirstOrDefault(i => i.Name == name);
}

/// <summary>
/// Reads an .onnx file's graph inputs/outputs straight from the protobuf stream (ModelProto.graph = 7;
/// GraphProto.input = 11, output = 12, initializer = 5; ValueInfoProto name = 1, type = 2; TypeProto.tensor_type = 1;
/// Tensor elem_type = 1, shape = 2; TensorShapeProto.dim = 1; Dimension dim_value = 1, dim_param = 2), seeking over
/// weights and nodes, so inspecting a 3 GB UNet costs a few reads. No ONNX Runtime needed.
/// Graph inputs that are initializers (old IR versions list them) are left out; tensors stored outside the file
/// (TensorProto.external_data "location") are reported so callers can check the files exist.
/// </summary>
public static class OnnxHeaderReader
{
    public static OnnxModelHeader Read(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        var r = new ProtoReader(fs);
        long ir = 0;
        string producer = "";
        var opsets = new List<(string, long)>();
        var inputs = new List<OnnxValueInfo>();
        var outputs = new List<OnnxValueInfo>();
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        var external = new SortedSet<string>(StringComparer.Ordinal);
        bool sawGraph = false;
        while (!r.AtEnd(r.Length))
        {
            var (field, wire) = r.ReadTag();
            switch (field)
            {
                case 1 when wire == 0: ir = (long)r.ReadVarint(); break;
                case 2 when wire == 2: producer = r.ReadString(); break;
                case 8 when wire == 2:
                    {
                        long end = r.ReadLengthEnd();
                        string domain = ""; long version = 0;
                        while (!r.AtEnd(end))
                        {
                            var (f, w) = r.ReadTag();
                            if (f == 1 && w == 2) domain = r.ReadString();
                            else if (f == 2 && w == 0) version = (long)r.ReadVarint();
                            else r.SkipField(w);
                        }
                        opsets.Add((domain, version));
                        break;
                    }
                case 7 when wire == 2:
                    sawGraph = true;
                    ReadGraph(r, r.ReadLengthEnd(), inputs, outputs, initializers, external);
                    break;
                default: r.SkipField(wire); break;
            }
        }
        if (!sawGraph) throw new FormatException("no graph in the ONNX model");
        if (ir <= 0) throw new FormatException("no ir_version: not an ONNX model");
        return new OnnxModelHeader(ir, producer, opsets, inputs.Where(i => !initializers.Contains(i.Name)).ToList(), outputs, external.ToList());
    }

    private static void ReadGraph(ProtoReader r, long end, List<OnnxValueInfo> inputs, List<OnnxValueInfo> outputs, HashSet<string> initializers, SortedSet<string> external)
    {
        while (!r.AtEnd(end))
        {
            var (field, wire) = r.ReadTag();
            if (wire != 2) { r.SkipField(wire); continue; }
            long e = r.ReadLengthEnd();
            switch (field)
            {
                case 11: inputs.Add(ReadValueInfo(r, e)); break;
                case 12: outputs.Add(ReadValueInfo(r, e)); break;
                case 5: ReadInitializer(r, e, initializers, external); break;
                default: r.SeekTo(e); break;
            }
        }
        r.SeekTo(end);
    }

    private static void ReadInitializer(ProtoReader r, long end, HashSet<string> names, SortedSet<string> external)
    {
        while (!r.AtEnd(end))
        {
            var (field, wire) = r.ReadTag();
            if (field == 8 && wire == 2) names.Add(r.ReadString());
            else if (field == 13 && wire == 2)
            {
                long e = r.ReadLengthEnd();
                string key = "", value = "";
                while (!r.AtEnd(e))
                {
                    var (f, w) = r.ReadTag();
                    if (f == 1 && w == 2) key = r.ReadString();
                    else if (f == 2 && w == 2) value = r.ReadString();
                    else r.SkipField(w);
                }
                if (key == "location" && value.Length > 0) external.Add(value);
            }
            else r.SkipField(wire);
        }
    }

    private static OnnxValueInfo ReadValueInfo(ProtoReader r, long end)
    {
        string name = "";
        int elem = 0;
        List<OnnxDimension>? shape = null;
        while (!r.AtEnd(end))
        {
            var (field, wire) = r.ReadTag();
            if (field == 1 && wire == 2) name = r.ReadString();
            else if (field == 2 && wire == 2)
            {
                long typeEnd = r.ReadLengthEnd();
                while (!r.AtEnd(typeEnd))
                {
                    var (tf, tw) = r.ReadTag();
                    if (tf != 1 || tw != 2) { r.SkipField(tw); continue; }
                    long tensorEnd = r.ReadLengthEnd();
                    while (!r.AtEnd(tensorEnd))
                    {
                        var (f, w) = r.ReadTag();
                        if (f == 1 && w == 0) elem = (int)r.ReadVarint();
                        else if (f == 2 && w == 2)
                        {
                            shape = [];
                            long shapeEnd = r.ReadLengthEnd();
                            while (!r.AtEnd(shapeEnd))
                            {
                                var (sf, sw) = r.ReadTag();
                                if (sf != 1 || sw != 2) { r.SkipField(sw); continue; }
                                long dimEnd = r.ReadLengthEnd();
                                long? value = null; string? param = null;
                                while (!r.AtEnd(dimEnd))
                                {
                                    var (df, dw) = r.ReadTag();
                                    if (df == 1 && dw == 0) value = (long)r.ReadVarint();
                                    else if (df == 2 && dw == 2) param = r.ReadString();
                                    else r.SkipField(dw);
                                }
                                shape.Add(new OnnxDimension(value, param));
                            }
                        }
                        else r.SkipField(w);
                    }
                }
            }
            else r.SkipField(wire);
        }
        return new OnnxValueInfo(name, elem, shape);
    }

    public static string ElementTypeName(int t) => t switch
    {
        1 => "float", 2 => "uint8", 3 => "int8", 4 => "uint16", 5 => "int16", 6 => "int32", 7 => "int64", 8 => "string",
        9 => "bool", 10 => "float16", 11 => "double", 12 => "uint32", 13 => "uint64", 16 => "bfloat16",
        0 => "undefined", _ => $"type{t}",
    };

    /// <summary>Protobuf wire reader over a seekable stream with its own buffer (skips seek instead of reading).</summary>
    private sealed class ProtoReader
    {
        private readonly Stream _s;
        private readonly byte[] _buf = new byte[64 * 1024];
        private long _bufStart;   // file offset of _buf[0]
        private int _bufLen, _bufPos;

        public ProtoReader(Stream s)
        {
            _s = s;
            Length = s.Length;
        }

        public long Length { get; }
        public long Position => _bufStart + _bufPos;

        public bool AtEnd(long end)
        {
            long p = Position;
            if (p > end) throw new FormatException("ONNX protobuf: field overruns its message");
            return p == end;
        }

        private byte ReadByte()
        {
            if (_bufPos == _bufLen)
            {
                _bufStart += _bufLen;
                _s.Position = _bufStart;
                _bufLen = _s.Read(_buf, 0, _buf.Length);
                _bufPos = 0;
                if (_bufLen == 0) throw new FormatException("ONNX protobuf: unexpected end of file");
            }
            return _buf[_bufPos++];
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                byte b = ReadByte();
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return result;
            }
            throw new FormatException("ONNX protobuf: malformed varint");
        }

        public (int Field, int Wire) ReadTag()
        {
            ulong tag = ReadVarint();
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (field == 0) throw new FormatException("ONNX protobuf: field number 0 (not an ONNX file?)");
            return (field, wire);
        }

        public long ReadLengthEnd()
        {
            ulong len = ReadVarint();
            long end = Position + (long)len;
            if (len > (ulong)Length || end > Length) throw new FormatException("ONNX protobuf: length beyond end of file (truncated or not an ONNX file)");
            return end;
        }

        public string ReadString()
        {
            long end = ReadLengthEnd();
            int n = checked((int)(end - Position));
            if (n > 1 << 20) throw new FormatException("ONNX protobuf: implausibly long string");
            var bytes = new byte[n];
            for (int i = 0; i < n; i++) bytes[i] = ReadByte();
            return Encoding.UTF8.GetString(bytes);
        }

        public void SeekTo(long offset)
        {
            if (offset > Length) throw new FormatException("ONNX protobuf: seek beyond end of file");
            if (offset >= _bufStart && offset <= _bufStart + _bufLen) { _bufPos = (int)(offset - _bufStart); return; }
            _bufStart = offset;
            _bufLen = 0;
            _bufPos = 0;
        }

        public void SkipField(int wire)
        {
            switch (wire)
            {
                case 0: ReadVarint(); break;
                case 1: SeekTo(Position + 8); break;
                case 2: SeekTo(ReadLengthEnd()); break;
                case 5: SeekTo(Position + 4); break;
                default: throw new FormatException($"ONNX protobuf: unsupported wire type {wire}");
            }
        }
    }
}
