using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace InpaintSuite.Imaging;

/// <summary>
/// Separable Gaussian blur (FIR, radius ceil(3 sigma) like OpenCV's 8-bit kernel size, edges replicated),
/// for masks (1 channel) and RGBA images (4 interleaved channels, each blurred independently, no alpha
/// weighting). Rows are processed in bands in parallel: each band blurs its rows horizontally into a float
/// buffer, then runs the vertical pass in column strips that stay in cache. The symmetric kernel is folded
/// (w_k * (a[-k] + a[+k])) to halve the multiplies. Each fast path has a scalar reference it is tested against.
/// </summary>
public static class GaussianBlur
{
    private const int MinBandRows = 64;
    private const int StripFloats = 512;

    /// <summary>Normalised half kernel w[0..r] for sigma (r = ceil(3 sigma)).</summary>
    public static float[] HalfKernel(float sigma)
    {
        if (!(sigma > 0)) return [1f];
        int r = Math.Max(1, (int)Math.Ceiling(3 * sigma));
        var w = new double[r + 1];
        double sum = 0;
        for (int k = 0; k <= r; k++)
        {
            w[k] = Math.Exp(-(double)k * k / (2.0 * sigma * sigma));
            sum += k == 0 ? w[k] : 2 * w[k];
        }
        var f = new float[r + 1];
        for (int k = 0; k <= r; k++) f[k] = (float)(w[k] / sum);
        return f;
    }

    /// <summary>Blurs a mask; sigma &lt;= 0 returns a copy.</summary>
    public static Mask Blur(Mask mask, float sigma)
    {
        var dst = new Mask(mask.Width, mask.Height);
        if (!(sigma > 0)) { mask.Data.CopyTo(dst.Data, 0); return dst; }
        var src = mask.Data;
        int w = mask.Width;
        Run(w, mask.Height, 1, HalfKernel(sigma),
            (y, row) => Widen(src.AsSpan(y * w, w), row),
            (y, c0, vals) => Narrow(vals, dst.Data.AsSpan(y * w + c0, vals.Length)));
        return dst;
    }

    /// <summary>Blurs each channel of an RGBA image (any depth; result has the same depth).</summary>
    public static RgbaImage Blur(RgbaImage image, float sigma)
    {
        var dst = new RgbaImage(image.Width, image.Height, image.Depth);
        if (!(sigma > 0)) { image.Data.CopyTo(dst.Data, 0); return dst; }
        int rl = image.RowLength;
        var k = HalfKernel(sigma);
        switch (image.Depth)
        {
            case PixelDepth.U8:
                Run(image.Width, image.Height, 4, k, (y, row) => Widen(image.Row8(y), row),
                    (y, c0, vals) => Narrow(vals, dst.Row8(y).Slice(c0, vals.Length)));
                break;
            case PixelDepth.U16:
                Run(image.Width, image.Height, 4, k, (y, row) => { var s = image.Row16(y); for (int i = 0; i < rl; i++) row[i] = s[i]; },
                    (y, c0, vals) => { var d = dst.Row16(y).Slice(c0, vals.Length); for (int i = 0; i < vals.Length; i++) d[i] = (ushort)Math.Clamp(vals[i] + 0.5f, 0f, 65535f); });
                break;
            default:
                Run(image.Width, image.Height, 4, k, (y, row) => image.RowF(y).CopyTo(row),
                    (y, c0, vals) => vals.CopyTo(dst.RowF(y).Slice(c0, vals.Length)));
                break;
        }
        return dst;
    }

    /// <summary>Float planes (width*channels per row), in place into <paramref name="dst"/>; used by fills and tests.</summary>
    public static void BlurPlane(float[] src, float[] dst, int width, int height, int channels, float sigma)
    {
        int rl = width * channels;
        if (!(sigma > 0)) { src.AsSpan(0, rl * height).CopyTo(dst); return; }
        Run(width, height, channels, HalfKernel(sigma), (y, row) => src.AsSpan(y * rl, rl).CopyTo(row),
            (y, c0, vals) => vals.CopyTo(dst.AsSpan(y * rl + c0, vals.Length)));
    }

    public delegate void LoadRow(int y, Span<float> row);
    public delegate void StoreStrip(int y, int c0, ReadOnlySpan<float> values);

    /// <summary>The banded, parallel separable filter. load fills a float row; store receives strips of finished rows.</summary>
    public static void Run(int width, int height, int channels, float[] half, LoadRow load, StoreStrip store, bool vectorised = true)
    {
        int r = half.Length - 1;
        int rl = width * channels;
        // Bands re-blur 2r rows of context horizontally; 8r rows per band keeps that overhead at 25%.
        int bandRows = Math.Max(MinBandRows, 8 * r);
        int bands = (height + bandRows - 1) / bandRows;
        var opts = new ParallelOptions { MaxDegreeOfParallelism = (long)rl * height * half.Length > 1 << 20 ? -1 : 1 };
        Parallel.For(0, bands, opts, band =>
        {
            int y0 = band * bandRows, y1 = Math.Min(height, y0 + bandRows);
            int hy0 = Math.Max(0, y0 - r), hy1 = Math.Min(height, y1 + r); // rows needed, clamped (edges replicate)
            int hn = hy1 - hy0;
            int padLen = rl + 2 * r * channels;
            var pad = ArrayPool<float>.Shared.Rent(padLen);
            var hb = ArrayPool<float>.Shared.Rent(hn * rl);
            var outStrip = ArrayPool<float>.Shared.Rent(StripFloats);
            try
            {
                for (int yy = hy0; yy < hy1; yy++)
                {
                    var p = pad.AsSpan(0, padLen);
                    load(yy, p.Slice(r * channels, rl));
                    for (int i = 0; i < r; i++)
                    {
                        p.Slice(r * channels, channels).CopyTo(p.Slice(i * channels, channels));
                        p.Slice(r * channels + rl - channels, channels).CopyTo(p.Slice(r * channels + rl + i * channels, channels));
                    }
                    var o = hb.AsSpan((yy - hy0) * rl, rl);
                    if (vectorised) HorizontalVector(p, o, half, channels); else HorizontalScalar(p, o, half, channels);
                }
                var rows = new int[2 * r + 1];
                for (int c0 = 0; c0 < rl; c0 += StripFloats)
                {
                    int n = Math.Min(StripFloats, rl - c0);
                    for (int y = y0; y < y1; y++)
                    {
                        for (int k = -r; k <= r; k++) rows[k + r] = (Math.Clamp(y + k, 0, height - 1) - hy0) * rl + c0;
                        var os = outStrip.AsSpan(0, n);
                        if (vectorised) VerticalVector(hb, rows, os, half); else VerticalScalar(hb, rows, os, half);
                        store(y, c0, os);
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(pad);
                ArrayPool<float>.Shared.Return(hb);
                ArrayPool<float>.Shared.Return(outStrip);
            }
        });
    }

    // pad holds r*channels replicated values each side; out[i] = sum_k w_k * pad[r*ch + i + k*ch].
    internal static void HorizontalScalar(ReadOnlySpan<float> pad, Span<float> o, float[] half, int ch)
    {
        int r = half.Length - 1, off = r * ch;
        for (int i = 0; i < o.Length; i++)
        {
            float acc = half[0] * pad[off + i];
            for (int k = 1; k <= r; k++) acc += half[k] * (pad[off + i - k * ch] + pad[off + i + k * ch]);
            o[i] = acc;
        }
    }

    internal static void HorizontalVector(ReadOnlySpan<float> pad, Span<float> o, float[] half, int ch)
    {
        int r = half.Length - 1, off = r * ch;
        int vc = Vector<float>.Count, i = 0;
        ref float p = ref MemoryMarshal.GetReference(pad);
        ref float d = ref MemoryMarshal.GetReference(o);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= o.Length - 16; i += 16)
            {
                ref float c = ref Unsafe.Add(ref p, off + i);
                var acc = Vector512.LoadUnsafe(ref c) * half[0];
                for (int k = 1; k <= r; k++)
                {
                    int s = k * ch;
                    acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref Unsafe.Subtract(ref c, s)) + Vector512.LoadUnsafe(ref Unsafe.Add(ref c, s)), Vector512.Create(half[k]), acc);
                }
                acc.StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i <= o.Length - vc; i += vc)
        {
            ref float c = ref Unsafe.Add(ref p, off + i);
            var acc = Load(ref c) * half[0];
            for (int k = 1; k <= r; k++)
            {
                int s = k * ch;
                acc += (Load(ref Unsafe.Subtract(ref c, s)) + Load(ref Unsafe.Add(ref c, s))) * half[k];
            }
            Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref d, i)), acc);
        }
        if (i < o.Length) HorizontalScalar(pad[i..], o[i..], half, ch);
    }

    internal static void VerticalScalar(float[] hb, int[] rows, Span<float> o, float[] half)
    {
        int r = half.Length - 1;
        for (int i = 0; i < o.Length; i++)
        {
            float acc = half[0] * hb[rows[r] + i];
            for (int k = 1; k <= r; k++) acc += half[k] * (hb[rows[r - k] + i] + hb[rows[r + k] + i]);
            o[i] = acc;
        }
    }

    internal static void VerticalVector(float[] hb, int[] rows, Span<float> o, float[] half)
    {
        int r = half.Length - 1, vc = Vector<float>.Count, i = 0;
        ref float b = ref MemoryMarshal.GetArrayDataReference(hb);
        ref float d = ref MemoryMarshal.GetReference(o);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= o.Length - 16; i += 16)
            {
                var acc = Vector512.LoadUnsafe(ref Unsafe.Add(ref b, rows[r] + i)) * half[0];
                for (int k = 1; k <= r; k++)
                    acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref Unsafe.Add(ref b, rows[r - k] + i)) + Vector512.LoadUnsafe(ref Unsafe.Add(ref b, rows[r + k] + i)), Vector512.Create(half[k]), acc);
                acc.StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i <= o.Length - vc; i += vc)
        {
            var acc = Load(ref Unsafe.Add(ref b, rows[r] + i)) * half[0];
            for (int k = 1; k <= r; k++)
                acc += (Load(ref Unsafe.Add(ref b, rows[r - k] + i)) + Load(ref Unsafe.Add(ref b, rows[r + k] + i))) * half[k];
            Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref d, i)), acc);
        }
        for (; i < o.Length; i++)
        {
            float acc = half[0] * hb[rows[r] + i];
            for (int k = 1; k <= r; k++) acc += half[k] * (hb[rows[r - k] + i] + hb[rows[r + k] + i]);
            o[i] = acc;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float f) => Unsafe.ReadUnaligned<Vector<float>>(ref Unsafe.As<float, byte>(ref f));

    /// <summary>bytes -> floats (0..255).</summary>
    public static void Widen(ReadOnlySpan<byte> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<byte>.Count)
        {
            int vb = Vector<byte>.Count, vf = Vector<float>.Count;
            for (; i <= s.Length - vb; i += vb)
            {
                Vector.Widen(new Vector<byte>(s[i..]), out var lo, out var hi);
                Vector.Widen(lo, out var a, out var b);
                Vector.Widen(hi, out var c, out var e);
                Vector.ConvertToSingle(Vector.AsVectorInt32(a)).CopyTo(d[i..]);
                Vector.ConvertToSingle(Vector.AsVectorInt32(b)).CopyTo(d[(i + vf)..]);
                Vector.ConvertToSingle(Vector.AsVectorInt32(c)).CopyTo(d[(i + 2 * vf)..]);
                Vector.ConvertToSingle(Vector.AsVectorInt32(e)).CopyTo(d[(i + 3 * vf)..]);
            }
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    /// <summary>floats (0..255) -> bytes, rounded to nearest, clamped.</summary>
    public static void Narrow(ReadOnlySpan<float> s, Span<byte> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<byte>.Count)
        {
            int vb = Vector<byte>.Count, vf = Vector<float>.Count;
            var half = new Vector<float>(0.5f);
            var zero = Vector<float>.Zero;
            var max = new Vector<float>(255f);
            for (; i <= s.Length - vb; i += vb)
            {
                var a = Vector.ConvertToInt32(Vector.Min(Vector.Max(new Vector<float>(s[i..]) + half, zero), max));
                var b = Vector.ConvertToInt32(Vector.Min(Vector.Max(new Vector<float>(s[(i + vf)..]) + half, zero), max));
                var c = Vector.ConvertToInt32(Vector.Min(Vector.Max(new Vector<float>(s[(i + 2 * vf)..]) + half, zero), max));
                var e = Vector.ConvertToInt32(Vector.Min(Vector.Max(new Vector<float>(s[(i + 3 * vf)..]) + half, zero), max));
                var lo = Vector.Narrow(Vector.AsVectorUInt32(a), Vector.AsVectorUInt32(b));
                var hi = Vector.Narrow(Vector.AsVectorUInt32(c), Vector.AsVectorUInt32(e));
                Vector.Narrow(lo, hi).CopyTo(d[i..]);
            }
        }
        for (; i < s.Length; i++)
        {
            float v = s[i] + 0.5f;
            d[i] = v >= 255f ? (byte)255 : v > 0f ? (byte)v : (byte)0;
        }
    }
}
