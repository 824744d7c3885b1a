using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace InpaintSuite.Runtime.Models;

/// <summary>
/// Rewrites a float16 ONNX model as float32 (what diffusers' <c>vae.to(float32)</c> does for SDXL's VAE, which
/// overflows in fp16): float16 initializers and Constant tensors become float32, graph inputs/outputs/value_info of
/// type float16 become float, and Cast(to=float16) / dtype=float16 attributes become float. The math is then the fp32
/// graph of the fp16 weights. Works on the protobuf wire format directly (no ONNX library); every field it does not
/// rewrite is copied byte for byte. Weights stored as external data are not supported (an SDXL VAE is ~160 MB, inline).
/// </summary>
public static class OnnxFloat32Upcast
{
    private const int Float = 1, Float16 = 10;

    /// <summary>The float32 model, as bytes.</summary>
    public static byte[] Convert(ReadOnlySpan<byte> model)
    {
        var w = new ArrayBufferWriter<byte>(model.Length * 2);
        Message(model, Kind.Model, w, "");
        return w.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Where the float32 copy of <paramref name="modelPath"/> lives in <paramref name="cacheDirectory"/>: named by the
    /// source's full path, size and time stamp, so a replaced model gets a new copy. Cheap (no conversion).
    /// </summary>
    public static string CachedPath(string modelPath, string cacheDirectory)
    {
        var info = new FileInfo(modelPath);
        string key = Path.GetFullPath(modelPath) + "|" + (info.Exists ? info.Length : 0) + "|" + (info.Exists ? info.LastWriteTimeUtc.Ticks : 0);
        string hash = System.Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16].ToLowerInvariant();
        return Path.Combine(cacheDirectory, hash, "model.onnx");
    }

    /// <summary>Converts <paramref name="modelPath"/> to <paramref name="target"/> unless it is there already. True when it converted.</summary>
    public static bool EnsureConverted(string modelPath, string target)
    {
        if (File.Exists(target)) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // Write then rename: a concurrent reader never sees half a model.
        string tmp = target + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllBytes(tmp, Convert(File.ReadAllBytes(modelPath)));
        try { File.Move(tmp, target, overwrite: false); }
        catch (IOException) when (File.Exists(target)) { File.Delete(tmp); }
        return true;
    }

    /// <summary>Where converted models go by default (per user, outside the models folder, which may be read-only).</summary>
    public static string DefaultCacheDirectory => Path.Combine(Path.GetTempPath(), "inpaintsuite-fp32-upcast");

    private enum Kind { Model, Graph, Node, Attribute, Tensor, ValueInfo, Type, TensorType }

    /// <summary>Copies one message, rewriting the fields that carry float16; <paramref name="context"/> is a node's op_type for its attributes.</summary>
    private static void Message(ReadOnlySpan<byte> src, Kind kind, IBufferWriter<byte> dst, string context)
    {
        if (kind == Kind.Tensor) { Tensor(src, dst); return; }
        if (kind == Kind.Node) context = NodeOpType(src);
        bool castTo16 = kind == Kind.Attribute && IsDtypeAttribute(src, context);
        int pos = 0;
        while (pos < src.Length)
        {
            int start = pos;
            ulong tag = ReadVarint(src, ref pos);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (wire == 2)
            {
                int len = checked((int)ReadVarint(src, ref pos));
                var body = src.Slice(pos, len);
                pos += len;
                Kind? sub = (kind, field) switch
                {
                    (Kind.Model, 7) => Kind.Graph,
                    (Kind.Graph, 1) => Kind.Node,
                    (Kind.Graph, 5) => Kind.Tensor,
                    (Kind.Graph, 11 or 12 or 13) => Kind.ValueInfo,
                    (Kind.Node, 5) => Kind.Attribute,
                    (Kind.Attribute, 5 or 10) => Kind.Tensor,
                    (Kind.Attribute, 6 or 11) => Kind.Graph,
                    (Kind.ValueInfo, 2) => Kind.Type,
                    (Kind.Type, 1) => Kind.TensorType,
                    _ => null,
                };
                if (sub is { } k)
                {
                    var inner = new ArrayBufferWriter<byte>(len + 16);
                    Message(body, k, inner, context);
                    WriteVarint(dst, tag);
                    WriteVarint(dst, (ulong)inner.WrittenCount);
                    dst.Write(inner.WrittenSpan);
                    continue;
                }
                dst.Write(src[start..pos]);
            }
            else if (wire == 0)
            {
                ulong v = ReadVarint(src, ref pos);
                bool rewrite = (kind == Kind.TensorType && field == 1 && v == Float16) || (castTo16 && field == 3 && v == Float16);
                if (rewrite) { WriteVarint(dst, tag); WriteVarint(dst, Float); }
                else dst.Write(src[start..pos]);
            }
            else
            {
                pos += wire switch { 1 => 8, 5 => 4, _ => throw new FormatException($"unsupported protobuf wire type {wire}") };
                dst.Write(src[start..pos]);
            }
        }
    }

    /// <summary>A TensorProto: float16 data (raw_data, or int32_data holding the bits) becomes float32 raw_data.</summary>
    private static void Tensor(ReadOnlySpan<byte> src, IBufferWriter<byte> dst)
    {
        int dataType = 0;
        bool external = false;
        int pos = 0;
        while (pos < src.Length)
        {
            ulong tag = ReadVarint(src, ref pos);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (wire == 0) { ulong v = ReadVarint(src, ref pos); if (field == 2) dataType = (int)v; if (field == 14 && v == 1) external = true; }
            else Skip(src, ref pos, wire);
        }
        if (dataType != Float16) { dst.Write(src); return; }
        if (external) throw new NotSupportedException("float16 weights in external data files cannot be upcast");

        var halves = new List<ushort>();
        pos = 0;
        var rest = new ArrayBufferWriter<byte>(64);
        while (pos < src.Length)
        {
            int start = pos;
            ulong tag = ReadVarint(src, ref pos);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (field == 2 && wire == 0) { ReadVarint(src, ref pos); continue; } // data_type: written below
            if (field == 9 && wire == 2)
            {
                int len = checked((int)ReadVarint(src, ref pos));
                for (int i = 0; i + 1 < len; i += 2) halves.Add(BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(pos + i, 2)));
                pos += len;
                continue;
            }
            if (field == 5 && wire == 2)
            {
                int len = checked((int)ReadVarint(src, ref pos));
                int end = pos + len;
                while (pos < end) halves.Add((ushort)ReadVarint(src, ref pos));
                continue;
            }
            if (field == 5 && wire == 0) { halves.Add((ushort)ReadVarint(src, ref pos)); continue; }
            Skip(src, ref pos, wire);
            rest.Write(src[start..pos]);
        }
        WriteVarint(dst, 2 << 3);
        WriteVarint(dst, Float);
        dst.Write(rest.WrittenSpan);
        var raw = new byte[halves.Count * 4];
        for (int i = 0; i < halves.Count; i++)
            BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), (float)BitConverter.UInt16BitsToHalf(halves[i]));
        WriteVarint(dst, (9 << 3) | 2);
        WriteVarint(dst, (ulong)raw.Length);
        dst.Write(raw);
    }

    private static string NodeOpType(ReadOnlySpan<byte> node)
    {
        int pos = 0;
        while (pos < node.Length)
        {
            ulong tag = ReadVarint(node, ref pos);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (field == 4 && wire == 2)
            {
                int len = checked((int)ReadVarint(node, ref pos));
                return Encoding.UTF8.GetString(node.Slice(pos, len));
            }
            Skip(node, ref pos, wire);
        }
        return "";
    }

    /// <summary>Cast's "to" and the "dtype" of generator ops (RandomNormal, EyeLike, ...) name an element type.</summary>
    private static bool IsDtypeAttribute(ReadOnlySpan<byte> attribute, string opType)
    {
        int pos = 0;
        while (pos < attribute.Length)
        {
            ulong tag = ReadVarint(attribute, ref pos);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (field == 1 && wire == 2)
            {
                int len = checked((int)ReadVarint(attribute, ref pos));
                string name = Encoding.UTF8.GetString(attribute.Slice(pos, len));
                return (name == "to" && opType == "Cast") || name == "dtype";
            }
            Skip(attribute, ref pos, wire);
        }
        return false;
    }

    private static void Skip(ReadOnlySpan<byte> src, ref int pos, int wire)
    {
        switch (wire)
        {
            case 0: ReadVarint(src, ref pos); break;
            case 1: pos += 8; break;
            case 2: int len = checked((int)ReadVarint(src, ref pos)); pos += len; break;
            case 5: pos += 4; break;
            default: throw new FormatException($"unsupported protobuf wire type {wire}");
        }
        if (pos > src.Length) throw new FormatException("truncated protobuf message");
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> src, ref int pos)
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= src.Length) throw new FormatException("truncated varint");
            byte b = src[pos++];
            v |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return v;
        }
        throw new FormatException("varint too long");
    }

    private static void WriteVarint(IBufferWriter<byte> dst, ulong v)
    {
        var span = dst.GetSpan(10);
        int n = 0;
        while (v >= 0x80) { span[n++] = (byte)(v | 0x80); v >>= 7; }
        span[n++] = (byte)v;
        dst.Advance(n);
    }
}
