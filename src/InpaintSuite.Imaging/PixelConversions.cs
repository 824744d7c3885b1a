using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace InpaintSuite.Imaging;

/// <summary>
/// Conversions between <see cref="RgbaImage"/> / <see cref="Mask"/> and the wire formats editors use:
/// BGRA8 (Paint.NET ColorBgra32, Krita 8-bit layers), RGBA8, RGBA16 (Krita 16-bit), RGBA32F, each with
/// an arbitrary row stride (bytes per row, at least width * bytes per pixel). Also depth conversion.
/// 16-bit and float wire data is little-endian unless stated.
/// </summary>
public static class PixelConversions
{
    // ---------------------------------------------------------------- wire -> image

    /// <summary>BGRA8 rows (B,G,R,A per pixel) with the given stride to an 8-bit RGBA image.</summary>
    public static RgbaImage FromBgra8(ReadOnlySpan<byte> src, int width, int height, int stride)
    {
        CheckWire(src.Length, width, height, stride, 4);
        var img = new RgbaImage(width, height, PixelDepth.U8);
        for (int y = 0; y < height; y++) SwapRedBlue(src.Slice(y * stride, width * 4), img.Row8(y));
        return img;
    }

    /// <summary>RGBA8 rows with the given stride to an 8-bit RGBA image.</summary>
    public static RgbaImage FromRgba8(ReadOnlySpan<byte> src, int width, int height, int stride)
    {
        CheckWire(src.Length, width, height, stride, 4);
        var img = new RgbaImage(width, height, PixelDepth.U8);
        for (int y = 0; y < height; y++) src.Slice(y * stride, width * 4).CopyTo(img.Row8(y));
        return img;
    }

    /// <summary>RGBA16 rows (little-endian unless <paramref name="bigEndian"/>) with the given stride to a 16-bit image.</summary>
    public static RgbaImage FromRgba16(ReadOnlySpan<byte> src, int width, int height, int stride, bool bigEndian = false)
    {
        CheckWire(src.Length, width, height, stride, 8);
        var img = new RgbaImage(width, height, PixelDepth.U16);
        for (int y = 0; y < height; y++)
        {
            var s = MemoryMarshal.Cast<byte, ushort>(src.Slice(y * stride, width * 8));
            var d = img.Row16(y);
            if (bigEndian == BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(s, d);
            else s.CopyTo(d);
        }
        return img;
    }

    /// <summary>RGBA32F rows (little-endian float, nominal 0..1) with the given stride to a float image.</summary>
    public static RgbaImage FromRgba32F(ReadOnlySpan<byte> src, int width, int height, int stride)
    {
        CheckWire(src.Length, width, height, stride, 16);
        var img = new RgbaImage(width, height, PixelDepth.F32);
        for (int y = 0; y < height; y++) src.Slice(y * stride, width * 16).CopyTo(img.RowBytes(y));
        return img;
    }

    /// <summary>An 8-bit mask from rows with the given stride (255 = repaint).</summary>
    public static Mask MaskFromBytes(ReadOnlySpan<byte> src, int width, int height, int stride)
    {
        CheckWire(src.Length, width, height, stride, 1);
        var m = new Mask(width, height);
        for (int y = 0; y < height; y++) src.Slice(y * stride, width).CopyTo(m.Row(y));
        return m;
    }

    // ---------------------------------------------------------------- image -> wire

    /// <summary>Writes an image (converted to 8-bit if needed) as BGRA8 rows with the given stride; padding bytes are left alone.</summary>
    public static void ToBgra8(RgbaImage image, Span<byte> dst, int stride)
    {
        var img = ConvertDepth(image, PixelDepth.U8);
        CheckWire(dst.Length, img.Width, img.Height, stride, 4);
        for (int y = 0; y < img.Height; y++) SwapRedBlue(img.Row8(y), dst.Slice(y * stride, img.Width * 4));
    }

    public static void ToRgba8(RgbaImage image, Span<byte> dst, int stride)
    {
        var img = ConvertDepth(image, PixelDepth.U8);
        CheckWire(dst.Length, img.Width, img.Height, stride, 4);
        for (int y = 0; y < img.Height; y++) img.Row8(y).CopyTo(dst.Slice(y * stride, img.Width * 4));
    }

    public static void ToRgba16(RgbaImage image, Span<byte> dst, int stride, bool bigEndian = false)
    {
        var img = ConvertDepth(image, PixelDepth.U16);
        CheckWire(dst.Length, img.Width, img.Height, stride, 8);
        for (int y = 0; y < img.Height; y++)
        {
            var d = MemoryMarshal.Cast<byte, ushort>(dst.Slice(y * stride, img.Width * 8));
            if (bigEndian == BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(img.Row16(y), d);
            else img.Row16(y).CopyTo(d);
        }
    }

    public static void ToRgba32F(RgbaImage image, Span<byte> dst, int stride)
    {
        var img = ConvertDepth(image, PixelDepth.F32);
        CheckWire(dst.Length, img.Width, img.Height, stride, 16);
        for (int y = 0; y < img.Height; y++) img.RowBytes(y).CopyTo(dst.Slice(y * stride, img.Width * 16));
    }

    public static void MaskToBytes(Mask mask, Span<byte> dst, int stride)
    {
        CheckWire(dst.Length, mask.Width, mask.Height, stride, 1);
        for (int y = 0; y < mask.Height; y++) mask.Row(y).CopyTo(dst.Slice(y * stride, mask.Width));
    }

    /// <summary>Packed byte arrays for the common cases.</summary>
    public static byte[] ToBgra8(RgbaImage image)
    {
        var b = new byte[image.Width * image.Height * 4];
        ToBgra8(image, b, image.Width * 4);
        return b;
    }

    // ---------------------------------------------------------------- depth

    /// <summary>
    /// Converts between depths: 8->16 is exact (x*257), 16->8 and float->int round to nearest, float is
    /// clamped to 0..1 when going to integers. Returns <paramref name="image"/> itself when the depth matches.
    /// </summary>
    public static RgbaImage ConvertDepth(RgbaImage image, PixelDepth depth)
    {
        if (image.Depth == depth) return image;
        var r = new RgbaImage(image.Width, image.Height, depth);
        ConvertDepthRows(image, r, 0, image.Height);
        return r;
    }

    internal static void ConvertDepthRows(RgbaImage s, RgbaImage d, int y0, int y1)
    {
        for (int y = y0; y < y1; y++)
        {
            switch (s.Depth, d.Depth)
            {
                case (PixelDepth.U8, PixelDepth.U16): U8ToU16(s.Row8(y), d.Row16(y)); break;
                case (PixelDepth.U8, PixelDepth.F32): U8ToFloat(s.Row8(y), d.RowF(y)); break;
                case (PixelDepth.U16, PixelDepth.U8): U16ToU8(s.Row16(y), d.Row8(y)); break;
                case (PixelDepth.U16, PixelDepth.F32): U16ToFloat(s.Row16(y), d.RowF(y)); break;
                case (PixelDepth.F32, PixelDepth.U8): FloatToU8(s.RowF(y), d.Row8(y)); break;
                case (PixelDepth.F32, PixelDepth.U16): FloatToU16(s.RowF(y), d.Row16(y)); break;
                default: s.RowBytes(y).CopyTo(d.RowBytes(y)); break;
            }
        }
    }

    /// <summary>Channel maximum for a depth (1 for float).</summary>
    public static float MaxValue(PixelDepth depth) => depth switch { PixelDepth.U8 => 255f, PixelDepth.U16 => 65535f, _ => 1f };

    // ---------------------------------------------------------------- row kernels (vectorised + scalar reference)

    /// <summary>Swaps channels 0 and 2 of every 4-byte pixel (BGRA &lt;-&gt; RGBA). src and dst may be the same span.</summary>
    public static void SwapRedBlue(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        var s = MemoryMarshal.Cast<byte, uint>(src);
        var d = MemoryMarshal.Cast<byte, uint>(dst[..src.Length]);
        int i = 0;
        if (Vector.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            var keep = new Vector<uint>(0xFF00FF00u);
            var low = new Vector<uint>(0xFFu);
            for (; i <= s.Length - Vector<uint>.Count; i += Vector<uint>.Count)
            {
                var v = new Vector<uint>(s[i..]);
                var r = (v & keep) | ((v >> 16) & low) | ((v & low) << 16);
                r.CopyTo(d[i..]);
            }
        }
        SwapRedBlueScalar(src[(i * 4)..], dst[(i * 4)..]);
    }

    internal static void SwapRedBlueScalar(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        for (int i = 0; i + 3 < src.Length; i += 4)
        {
            byte a = src[i], b = src[i + 1], c = src[i + 2], e = src[i + 3];
            dst[i] = c; dst[i + 1] = b; dst[i + 2] = a; dst[i + 3] = e;
        }
    }

    public static void U8ToU16(ReadOnlySpan<byte> s, Span<ushort> d)
    {
        for (int i = 0; i < s.Length; i++) d[i] = (ushort)(s[i] * 257);
    }

    public static void U16ToU8(ReadOnlySpan<ushort> s, Span<byte> d)
    {
        // round(x * 255 / 65535) exactly, in integers.
        for (int i = 0; i < s.Length; i++) d[i] = (byte)((s[i] * 255 + 32767) / 65535);
    }

    public static void U8ToFloat(ReadOnlySpan<byte> s, Span<float> d)
    {
        const float inv = 1f / 255f;
        for (int i = 0; i < s.Length; i++) d[i] = s[i] * inv;
    }

    public static void U16ToFloat(ReadOnlySpan<ushort> s, Span<float> d)
    {
        const float inv = 1f / 65535f;
        for (int i = 0; i < s.Length; i++) d[i] = s[i] * inv;
    }

    public static void FloatToU8(ReadOnlySpan<float> s, Span<byte> d)
    {
        for (int i = 0; i < s.Length; i++)
        {
            float v = s[i] * 255f + 0.5f;
            d[i] = v >= 255f ? (byte)255 : v > 0f ? (byte)v : (byte)0; // NaN -> 0
        }
    }

    public static void FloatToU16(ReadOnlySpan<float> s, Span<ushort> d)
    {
        for (int i = 0; i < s.Length; i++)
        {
            float v = s[i] * 65535f + 0.5f;
            d[i] = v >= 65535f ? (ushort)65535 : v > 0f ? (ushort)v : (ushort)0;
        }
    }

    private static void CheckWire(int length, int width, int height, int stride, int bytesPerPixel)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"size {width}x{height} must be positive");
        if (stride < width * bytesPerPixel) throw new ArgumentOutOfRangeException(nameof(stride), $"stride {stride} is less than width*{bytesPerPixel} = {width * bytesPerPixel}");
        long need = (long)stride * (height - 1) + (long)width * bytesPerPixel;
        if (length < need) throw new ArgumentException($"buffer holds {length} bytes, {width}x{height} with stride {stride} needs {need}");
    }
}
