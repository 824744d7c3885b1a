using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>
/// PNG scanline filters. Row buffers hold <c>bpp</c> zero bytes before the row so the left neighbour of the
/// first pixel reads as 0 without a branch. Encoding filters have no serial dependency and are vectorised
/// (Vector128), each tested against the scalar reference in <see cref="FilterScalar"/>; unfiltering Sub/Avg/Paeth is serial by
/// nature and stays scalar (Up is vectorised).
/// </summary>
internal static class PngFilters
{
    public const int None = 0, Sub = 1, Up = 2, Average = 3, Paeth = 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PaethPredictor(int a, int b, int c)
    {
        int pa = Math.Abs(b - c), pb = Math.Abs(a - c), pc = Math.Abs(a + b - 2 * c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Reverses the filter in place. <paramref name="cur"/> and <paramref name="prev"/> hold bpp leading zeros.</summary>
    public static unsafe void Unfilter(byte filter, byte[] cur, byte[] prev, int bpp, int n)
    {
        fixed (byte* c0 = cur)
        fixed (byte* p0 = prev)
        {
            byte* x = c0 + bpp, b = p0 + bpp;
            switch (filter)
            {
                case None:
                    return;
                case Sub:
                    for (int i = 0; i < n; i++) x[i] += x[i - bpp];
                    return;
                case Up:
                    {
                        int i = 0;
                        for (; i + 16 <= n; i += 16)
                            Vector128.Store(Vector128.Load(x + i) + Vector128.Load(b + i), x + i);
                        for (; i < n; i++) x[i] += b[i];
                        return;
                    }
                case Average:
                    for (int i = 0; i < n; i++) x[i] += (byte)((x[i - bpp] + b[i]) >> 1);
                    return;
                case Paeth:
                    if (bpp == 4 && Sse2.IsSupported) { UnfilterPaeth4(x, b, n); return; }
                    for (int i = 0; i < n; i++) x[i] += (byte)PaethPredictor(x[i - bpp], b[i], b[i - bpp]);
                    return;
                default:
                    throw new InvalidDataException($"PNG row has unknown filter type {filter}");
            }
        }
    }

    /// <summary>Paeth for 4-byte pixels: the four channels of a pixel are independent, so one pixel at a time in SIMD lanes.</summary>
    private static unsafe void UnfilterPaeth4(byte* x, byte* b, int n)
    {
        var a = Vector128<short>.Zero; // left pixel (decoded), widened
        var c = Vector128<short>.Zero; // upper-left pixel, widened
        var zero = Vector128<byte>.Zero;
        for (int i = 0; i < n; i += 4)
        {
            var bv = Sse2.UnpackLow(Vector128.CreateScalarUnsafe(*(int*)(b + i)).AsByte(), zero).AsInt16();
            var pa = Vector128.Abs(bv - c);
            var pb = Vector128.Abs(a - c);
            var pc = Vector128.Abs(a + bv - c - c);
            var useA = Vector128.LessThanOrEqual(pa, pb) & Vector128.LessThanOrEqual(pa, pc);
            var useB = Vector128.LessThanOrEqual(pb, pc);
            var pred = Vector128.ConditionalSelect(useA, a, Vector128.ConditionalSelect(useB, bv, c));
            var raw = Sse2.UnpackLow(Vector128.CreateScalarUnsafe(*(int*)(x + i)).AsByte(), zero).AsInt16();
            var outv = (raw + pred) & Vector128.Create((short)0xFF);
            *(int*)(x + i) = Sse2.PackUnsignedSaturate(outv, outv).AsInt32().ToScalar();
            a = outv;
            c = bv;
        }
    }

    /// <summary>Scalar reference: writes the filtered row into <paramref name="dst"/> (length n).</summary>
    public static void FilterScalar(int filter, ReadOnlySpan<byte> cur, ReadOnlySpan<byte> prev, int bpp, Span<byte> dst)
    {
        int n = dst.Length;
        for (int i = 0; i < n; i++)
        {
            int x = cur[bpp + i], a = cur[i], b = prev[bpp + i], c = prev[i];
            int p = filter switch
            {
                None => 0,
                Sub => a,
                Up => b,
                Average => (a + b) >> 1,
                _ => PaethPredictor(a, b, c),
            };
            dst[i] = (byte)(x - p);
        }
    }

    /// <summary>Vectorised filter; returns the sum of |filtered| as signed bytes (the libpng heuristic's cost).</summary>
    public static unsafe long Filter(int filter, byte[] cur, byte[] prev, int bpp, Span<byte> dst)
    {
        int n = dst.Length;
        fixed (byte* c0 = cur)
        fixed (byte* p0 = prev)
        fixed (byte* d = dst)
        {
            byte* x = c0 + bpp, xa = c0, b = p0 + bpp, pc = p0;
            int i = 0;
            var acc = Vector128<ulong>.Zero;
            switch (filter)
            {
                case None:
                    for (; i + 16 <= n; i += 16) { var v = Vector128.Load(x + i); v.Store(d + i); acc += Sad(v); }
                    break;
                case Sub:
                    for (; i + 16 <= n; i += 16) { var v = Vector128.Load(x + i) - Vector128.Load(xa + i); v.Store(d + i); acc += Sad(v); }
                    break;
                case Up:
                    for (; i + 16 <= n; i += 16) { var v = Vector128.Load(x + i) - Vector128.Load(b + i); v.Store(d + i); acc += Sad(v); }
                    break;
                case Average:
                    for (; i + 16 <= n; i += 16)
                    {
                        var av = Vector128.Load(xa + i); var bv = Vector128.Load(b + i);
                        var pred = (av & bv) + Vector128.ShiftRightLogical(av ^ bv, 1);
                        var v = Vector128.Load(x + i) - pred; v.Store(d + i); acc += Sad(v);
                    }
                    break;
                default:
                    for (; i + 16 <= n; i += 16)
                    {
                        var av = Vector128.Load(xa + i); var bv = Vector128.Load(b + i); var cv = Vector128.Load(pc + i);
                        var (aLo, aHi) = Vector128.Widen(av); var (bLo, bHi) = Vector128.Widen(bv); var (cLo, cHi) = Vector128.Widen(cv);
                        var predLo = PaethVec(aLo.AsInt16(), bLo.AsInt16(), cLo.AsInt16());
                        var predHi = PaethVec(aHi.AsInt16(), bHi.AsInt16(), cHi.AsInt16());
                        var pred = Vector128.Narrow(predLo.AsUInt16(), predHi.AsUInt16());
                        var v = Vector128.Load(x + i) - pred; v.Store(d + i); acc += Sad(v);
                    }
                    break;
            }
            long sum = (long)(acc.GetElement(0) + acc.GetElement(1));
            for (; i < n; i++)
            {
                int xv = x[i], a = xa[i], bb = b[i], c = pc[i];
                int p = filter switch { None => 0, Sub => a, Up => bb, Average => (a + bb) >> 1, _ => PaethPredictor(a, bb, c) };
                byte f = (byte)(xv - p);
                d[i] = f;
                sum += f < 128 ? f : 256 - f;
            }
            return sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> PaethVec(Vector128<short> a, Vector128<short> b, Vector128<short> c)
    {
        var pa = Vector128.Abs(b - c);
        var pb = Vector128.Abs(a - c);
        var pcv = Vector128.Abs(a + b - c - c);
        var useA = Vector128.LessThanOrEqual(pa, pb) & Vector128.LessThanOrEqual(pa, pcv);
        var useB = Vector128.LessThanOrEqual(pb, pcv);
        return Vector128.ConditionalSelect(useA, a, Vector128.ConditionalSelect(useB, b, c));
    }

    /// <summary>Sum of min(v, 256 - v) per byte, as two 64-bit partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Sad(Vector128<byte> v)
    {
        var m = Vector128.Min(v, Vector128<byte>.Zero - v);
        if (Sse2.IsSupported) return Sse2.SumAbsoluteDifferences(m, Vector128<byte>.Zero).AsUInt64();
        var (lo, hi) = Vector128.Widen(m);
        var s = lo + hi;
        var (s0, s1) = Vector128.Widen(s);
        var t = s0 + s1;
        var (t0, t1) = Vector128.Widen(t);
        return t0 + t1;
    }
}
