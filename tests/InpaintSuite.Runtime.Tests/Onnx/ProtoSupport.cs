using System.Buffers.Binary;
using System.Text;
using InpaintSuite.Runtime.Onnx;

namespace InpaintSuite.Runtime.Tests.Onnx;

/// <summary>Reads an ONNX TensorProto (.pb) into an <see cref="OrtTensor"/>: raw_data and the typed repeated fields.</summary>
internal static class TensorProtoReader
{
    public static (string? Name, OrtTensor Tensor) Read(byte[] bytes)
    {
        var dims = new List<long>();
        int dataType = 0;
        string? name = null;
        byte[]? raw = null;
        var floats = new List<float>();
        var doubles = new List<double>();
        var int32s = new List<long>();   // int32_data also carries int8/16, uint8/16, bool, float16 bits
        var int64s = new List<long>();
        var uint64s = new List<ulong>();
        var r = new ProtoReader(bytes);
        while (r.More)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1: ReadInts(r, wire, dims); break;
                case 2: dataType = (int)r.Varint(); break;
                case 4:
                    if (wire == 2) { var s = r.Bytes(); for (int i = 0; i < s.Length; i += 4) floats.Add(BinaryPrimitives.ReadSingleLittleEndian(s.AsSpan(i))); }
                    else floats.Add(BitConverter.Int32BitsToSingle((int)r.Fixed32()));
                    break;
                case 5: ReadInts(r, wire, int32s); break;
                case 7: ReadInts(r, wire, int64s); break;
                case 8: name = Encoding.UTF8.GetString(r.Bytes()); break;
                case 9: raw = r.Bytes(); break;
                case 10:
                    if (wire == 2) { var s = r.Bytes(); for (int i = 0; i < s.Length; i += 8) doubles.Add(BinaryPrimitives.ReadDoubleLittleEndian(s.AsSpan(i))); }
                    else doubles.Add(BitConverter.Int64BitsToDouble((long)r.Fixed64()));
                    break;
                case 11:
                {
                    var tmp = new List<long>();
                    ReadInts(r, wire, tmp);
                    uint64s.AddRange(tmp.Select(v => (ulong)v));
                    break;
                }
                default: r.Skip(wire); break;
            }
        }
        var shape = dims.ToArray();
        long count = 1;
        foreach (var d in shape) count *= d;
        var type = (OrtElementType)dataType;
        OrtTensor tensor = type switch
        {
            OrtElementType.Float => Make(raw, floats.ToArray(), shape),
            OrtElementType.Double => Make(raw, doubles.ToArray(), shape),
            OrtElementType.Int64 => Make(raw, int64s.ToArray(), shape),
            OrtElementType.UInt64 => Make(raw, uint64s.ToArray(), shape),
            OrtElementType.Int32 => Make(raw, int32s.Select(v => (int)v).ToArray(), shape),
            OrtElementType.UInt32 => Make(raw, uint64s.Select(v => (uint)v).ToArray(), shape),
            OrtElementType.Int16 => Make(raw, int32s.Select(v => (short)v).ToArray(), shape),
            OrtElementType.UInt16 => Make(raw, int32s.Select(v => (ushort)v).ToArray(), shape),
            OrtElementType.Int8 => Make(raw, int32s.Select(v => (sbyte)v).ToArray(), shape),
            OrtElementType.UInt8 => Make(raw, int32s.Select(v => (byte)v).ToArray(), shape),
            OrtElementType.Bool => Make(raw, int32s.Select(v => v != 0).ToArray(), shape),
            OrtElementType.Float16 => Make(raw, int32s.Select(v => BitConverter.UInt16BitsToHalf((ushort)v)).ToArray(), shape),
            _ => throw new NotSupportedException($"TensorProto data_type {dataType} is not supported by the test reader"),
        };
        if (tensor.ElementCount != count) throw new InvalidDataException($"TensorProto holds {tensor.ElementCount} values for shape [{string.Join(",", shape)}]");
        return (name, tensor);
    }

    private static OrtTensor<T> Make<T>(byte[]? raw, T[] typed, long[] shape) where T : unmanaged
    {
        if (raw != null)
        {
            var data = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(raw).ToArray(); // little-endian hosts only
            return new OrtTensor<T>(data, shape);
        }
        return new OrtTensor<T>(typed, shape);
    }

    private static void ReadInts(ProtoReader r, int wire, List<long> into)
    {
        if (wire == 2)
        {
            var inner = new ProtoReader(r.Bytes());
            while (inner.More) into.Add((long)inner.Varint());
        }
        else into.Add((long)r.Varint());
    }
}

/// <summary>Minimal protobuf wire-format reader.</summary>
internal sealed class ProtoReader(byte[] data)
{
    private int pos;

    public bool More => pos < data.Length;

    public (int Field, int Wire) Tag()
    {
        var t = Varint();
        return ((int)(t >> 3), (int)(t & 7));
    }

    public ulong Varint()
    {
        ulong result = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = data[pos++];
            result |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return result;
        }
    }

    public uint Fixed32() { var v = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(pos)); pos += 4; return v; }

    public ulong Fixed64() { var v = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(pos)); pos += 8; return v; }

    public byte[] Bytes()
    {
        int len = (int)Varint();
        var b = data.AsSpan(pos, len).ToArray();
        pos += len;
        return b;
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(); break;
            case 1: pos += 8; break;
            case 2: pos += (int)Varint(); break;
            case 5: pos += 4; break;
            default: throw new InvalidDataException($"unsupported wire type {wire}");
        }
    }
}

/// <summary>Minimal protobuf writer, enough to build ONNX ModelProtos in tests.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream stream = new();

    public byte[] ToArray() => stream.ToArray();

    public ProtoWriter Varint(int field, long value) { Tag(field, 0); RawVarint((ulong)value); return this; }

    public ProtoWriter Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, value);
        stream.Write(b);
        return this;
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value) { Tag(field, 2); RawVarint((ulong)value.Length); stream.Write(value); return this; }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int field, ProtoWriter inner) => Bytes(field, inner.ToArray());

    private void Tag(int field, int wire) => RawVarint((ulong)((field << 3) | wire));

    private void RawVarint(ulong v)
    {
        while (v >= 0x80) { stream.WriteByte((byte)(v | 0x80)); v >>= 7; }
        stream.WriteByte((byte)v);
    }
}

/// <summary>Builds small ONNX models (opset 17) for tests: value infos, nodes, initializers; a builder passed as a node attribute is its subgraph.</summary>
internal sealed class OnnxModelBuilder
{
    private readonly ProtoWriter graph = new();

    public OnnxModelBuilder() => graph.String(2, "test");

    /// <summary>Dims: a long (fixed) or a string (symbolic name).</summary>
    public OnnxModelBuilder Input(string name, OrtElementType type, params object[] dims) { graph.Message(11, ValueInfo(name, type, dims)); return this; }

    public OnnxModelBuilder Output(string name, OrtElementType type, params object[] dims) { graph.Message(12, ValueInfo(name, type, dims)); return this; }

    public OnnxModelBuilder Node(string opType, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var n = new ProtoWriter();
        foreach (var i in inputs) n.String(1, i);
        foreach (var o in outputs) n.String(2, o);
        n.String(4, opType);
        foreach (var (name, value) in attributes)
        {
            var a = new ProtoWriter().String(1, name);
            switch (value)
            {
                case long l: a.Varint(3, l).Varint(20, 2); break;
                case int i: a.Varint(3, i).Varint(20, 2); break;
                case float f: a.Float(2, f).Varint(20, 1); break;
                case OnnxModelBuilder g: a.Message(6, g.graph).Varint(20, 5); break; // a subgraph (Loop/If/Scan body)
                default: throw new NotSupportedException(value.GetType().Name);
            }
            n.Message(5, a);
        }
        graph.Message(1, n);
        return this;
    }

    public OnnxModelBuilder Initializer(string name, float[] data, params long[] dims)
    {
        var t = new ProtoWriter();
        foreach (var d in dims) t.Varint(1, d);
        t.Varint(2, (int)OrtElementType.Float).String(8, name);
        t.Bytes(9, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        graph.Message(5, t);
        return this;
    }

    public byte[] Build(int opset = 17)
    {
        var model = new ProtoWriter().Varint(1, 8).String(2, "inpaintsuite-tests");
        model.Message(7, graph);
        model.Message(8, new ProtoWriter().String(1, "").Varint(2, opset));
        return model.ToArray();
    }

    private static ProtoWriter ValueInfo(string name, OrtElementType type, object[] dims)
    {
        var shape = new ProtoWriter();
        foreach (var d in dims)
        {
            var dim = new ProtoWriter();
            if (d is string s) dim.String(2, s); else dim.Varint(1, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
            shape.Message(1, dim);
        }
        var tensorType = new ProtoWriter().Varint(1, (int)type).Message(2, shape);
        return new ProtoWriter().String(1, name).Message(2, new ProtoWriter().Message(1, tensorType));
    }
}

/// <summary>Reads NumPy .npy files (v1-3, little-endian, C order) into tensors.</summary>
internal static class NpyReader
{
    public static OrtTensor Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY") throw new InvalidDataException($"{path} is not a .npy file");
        int major = bytes[6];
        int headerLen, offset;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); offset = 10; }
        else { headerLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)); offset = 12; }
        var header = Encoding.Latin1.GetString(bytes, offset, headerLen);
        var descr = Between(header, "'descr':", ",").Trim().Trim('\'');
        if (Between(header, "'fortran_order':", ",").Trim() != "False") throw new NotSupportedException($"{path}: Fortran order");
        var shapeText = Between(header, "'shape': (", ")");
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var data = bytes.AsSpan(offset + headerLen);
        return descr switch
        {
            "<f4" => new OrtTensor<float>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data).ToArray(), shape),
            "<f2" => new OrtTensor<Half>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(data).ToArray(), shape),
            "<i8" => new OrtTensor<long>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(data).ToArray(), shape),
            "<i4" => new OrtTensor<int>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(data).ToArray(), shape),
            "|u1" => new OrtTensor<byte>(data.ToArray(), shape),
            "|b1" => new OrtTensor<bool>(data.ToArray().Select(b => b != 0).ToArray(), shape),
            _ => throw new NotSupportedException($"{path}: dtype {descr}"),
        };
    }

    private static string Between(string s, string start, string end)
    {
        int a = s.IndexOf(start, StringComparison.Ordinal);
        if (a < 0) throw new InvalidDataException($"npy header lacks {start}: {s}");
        a += start.Length;
        int b = s.IndexOf(end, a, StringComparison.Ordinal);
        return s[a..b];
    }
}

internal static class TensorAssert
{
    /// <summary>Null when equal within tolerance (same type and shape; NaN equals NaN), else a description of the first mismatch.</summary>
    public static string? Compare(OrtTensor expected, OrtTensor actual, double rtol, double atol)
    {
        if (expected.ElementType != actual.ElementType) return $"element type {actual.ElementType}, expected {expected.ElementType}";
        if (!expected.Shape.SequenceEqual(actual.Shape)) return $"shape [{string.Join(",", actual.Shape)}], expected [{string.Join(",", expected.Shape)}]";
        switch (expected)
        {
            case OrtTensor<float> e: return CompareFloats(e.Span.ToArray().Select(v => (double)v).ToArray(), ((OrtTensor<float>)actual).Span.ToArray().Select(v => (double)v).ToArray(), rtol, atol);
            case OrtTensor<double> e: return CompareFloats(e.Span.ToArray(), ((OrtTensor<double>)actual).Span.ToArray(), rtol, atol);
            case OrtTensor<Half> e: return CompareFloats(e.Span.ToArray().Select(v => (double)v).ToArray(), ((OrtTensor<Half>)actual).Span.ToArray().Select(v => (double)v).ToArray(), rtol, atol);
            default:
                var a = ToObjects(expected);
                var b = ToObjects(actual);
                for (int i = 0; i < a.Length; i++) if (!Equals(a[i], b[i])) return $"element {i}: {b[i]}, expected {a[i]}";
                return null;
        }
    }

    private static object[] ToObjects(OrtTensor t) => t switch
    {
        OrtTensor<long> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<int> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<byte> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<bool> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<sbyte> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<short> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<ushort> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<uint> x => x.Span.ToArray().Cast<object>().ToArray(),
        OrtTensor<ulong> x => x.Span.ToArray().Cast<object>().ToArray(),
        _ => throw new NotSupportedException(t.ElementType.ToString()),
    };

    private static string? CompareFloats(double[] e, double[] a, double rtol, double atol)
    {
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
            if (e[i] == a[i]) continue; // equal infinities
            if (!(Math.Abs(a[i] - e[i]) <= atol + rtol * Math.Abs(e[i])))
                return $"element {i}: {a[i]:R}, expected {e[i]:R} (|diff| {Math.Abs(a[i] - e[i]):G3})";
        }
        return null;
    }

    public static double MaxAbsDiff(OrtTensor<float> e, OrtTensor<float> a)
    {
        double m = 0;
        var x = e.Span; var y = a.Span;
        for (int i = 0; i < x.Length; i++) m = Math.Max(m, Math.Abs(x[i] - y[i]));
        return m;
    }
}
