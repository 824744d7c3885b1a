using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace InpaintSuite.Runtime.Numerics;

/// <summary>One array read from a NumPy <c>.npy</c> file (C order).</summary>
public sealed class NpyArray
{
    internal NpyArray(string dtype, long[] shape, byte[] data)
    {
        Dtype = dtype;
        Shape = shape;
        Data = data;
    }

    /// <summary>NumPy dtype descriptor without byte-order mark: "f4", "f8", "f2", "i8", "i4", "u1", "b1", ...</summary>
    public string Dtype { get; }

    public long[] Shape { get; }

    /// <summary>Raw little-endian element bytes, C order.</summary>
    public byte[] Data { get; }

    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Values converted to float32 (from f4, f8, f2, integer or bool arrays).</summary>
    public float[] ToFloat32()
    {
        var r = new float[Count];
        var d = Data.AsSpan();
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = Dtype switch
            {
                "f4" => BinaryPrimitives.ReadSingleLittleEndian(d[(i * 4)..]),
                "f8" => (float)BinaryPrimitives.ReadDoubleLittleEndian(d[(i * 8)..]),
                "f2" => (float)BinaryPrimitives.ReadHalfLittleEndian(d[(i * 2)..]),
                _ => (float)ToInt64At(d, i),
            };
        }
        return r;
    }

    /// <summary>Values converted to int64 (integer and bool arrays).</summary>
    public long[] ToInt64()
    {
        var r = new long[Count];
        for (int i = 0; i < r.Length; i++) r[i] = ToInt64At(Data, i);
        return r;
    }

    private long ToInt64At(ReadOnlySpan<byte> d, int i) => Dtype switch
    {
        "i8" => BinaryPrimitives.ReadInt64LittleEndian(d[(i * 8)..]),
        "u8" => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(d[(i * 8)..])),
        "i4" => BinaryPrimitives.ReadInt32LittleEndian(d[(i * 4)..]),
        "u4" => BinaryPrimitives.ReadUInt32LittleEndian(d[(i * 4)..]),
        "i2" => BinaryPrimitives.ReadInt16LittleEndian(d[(i * 2)..]),
        "u2" => BinaryPrimitives.ReadUInt16LittleEndian(d[(i * 2)..]),
        "i1" => (sbyte)d[i],
        "u1" or "b1" => d[i],
        _ => throw new NotSupportedException($"npy dtype '{Dtype}' is not an integer type"),
    };
}

/// <summary>
/// Minimal reader for NumPy's <c>.npy</c> format (versions 1.0–3.0): little-endian or byte-order-free dtypes, C order.
/// Shared by the scheduler, ONNX Runtime and pipeline tests that read the diffusers reference arrays.
/// </summary>
public static partial class NpyReader
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        using var s = File.OpenRead(path);
        return Read(s, path);
    }

    public static NpyArray Read(Stream stream, string name = "npy")
    {
        var pre = new byte[8];
        stream.ReadExactly(pre);
        if (!pre.AsSpan(0, 6).SequenceEqual(Magic)) throw new FormatException($"{name}: not a .npy file");
        int major = pre[6];
        int headerLen;
        if (major == 1)
        {
            var b = new byte[2];
            stream.ReadExactly(b);
            headerLen = BinaryPrimitives.ReadUInt16LittleEndian(b);
        }
        else if (major is 2 or 3)
        {
            var b = new byte[4];
            stream.ReadExactly(b);
            headerLen = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(b));
        }
        else throw new FormatException($"{name}: unsupported .npy version {major}");
        var hb = new byte[headerLen];
        stream.ReadExactly(hb);
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);

        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shapeM = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shapeM.Success) throw new FormatException($"{name}: unreadable .npy header: {header.Trim()}");
        if (fortran.Groups[1].Value == "True") throw new NotSupportedException($"{name}: Fortran-order arrays are not supported");
        string d = descr.Groups[1].Value;
        char order = d[0];
        string dtype = order is '<' or '|' or '=' ? d[1..] : order == '>' ? throw new NotSupportedException($"{name}: big-endian arrays are not supported") : d;
        long[] shape = shapeM.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        int itemSize = dtype switch
        {
            "f8" or "i8" or "u8" => 8,
            "f4" or "i4" or "u4" => 4,
            "f2" or "i2" or "u2" => 2,
            "i1" or "u1" or "b1" => 1,
            _ => throw new NotSupportedException($"{name}: dtype '{d}' is not supported"),
        };
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[checked(count * itemSize)];
        stream.ReadExactly(data);
        return new NpyArray(dtype, shape, data);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")]
    private static partial Regex DescrRegex();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRegex();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
