using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>
/// The few element-wise kernels every scheduler step is made of, vectorised with <see cref="Vector{T}"/> (no FMA, so
/// lanes round exactly like the scalar reference versions, which tests compare against). Destination may alias an
/// input exactly (same start), never partially.
/// </summary>
public static class Lanes
{
    /// <summary>dst[i] = a*x[i] + b*y[i].</summary>
    public static void AxpBy(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, Span<float> dst)
    {
        int n = dst.Length;
        if (x.Length != n || y.Length != n) throw new ArgumentException("length mismatch");
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float rd = ref MemoryMarshal.GetReference(dst);
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var va = new Vector<float>(a);
            var vb = new Vector<float>(b);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var r = va * Vector.LoadUnsafe(ref rx, (nuint)i) + vb * Vector.LoadUnsafe(ref ry, (nuint)i);
                r.StoreUnsafe(ref rd, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref rd, i) = a * Unsafe.Add(ref rx, i) + b * Unsafe.Add(ref ry, i);
    }

    /// <summary>dst[i] = a*x[i] + b*y[i] + c*z[i].</summary>
    public static void AxpBypCz(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, float c, ReadOnlySpan<float> z, Span<float> dst)
    {
        int n = dst.Length;
        if (x.Length != n || y.Length != n || z.Length != n) throw new ArgumentException("length mismatch");
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float rz = ref MemoryMarshal.GetReference(z);
        ref float rd = ref MemoryMarshal.GetReference(dst);
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var va = new Vector<float>(a);
            var vb = new Vector<float>(b);
            var vc = new Vector<float>(c);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var r = va * Vector.LoadUnsafe(ref rx, (nuint)i) + vb * Vector.LoadUnsafe(ref ry, (nuint)i) + vc * Vector.LoadUnsafe(ref rz, (nuint)i);
                r.StoreUnsafe(ref rd, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref rd, i) = a * Unsafe.Add(ref rx, i) + b * Unsafe.Add(ref ry, i) + c * Unsafe.Add(ref rz, i);
    }

    /// <summary>dst[i] = x[i] * a.</summary>
    public static void Scale(ReadOnlySpan<float> x, float a, Span<float> dst)
    {
        int n = dst.Length;
        if (x.Length != n) throw new ArgumentException("length mismatch");
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float rd = ref MemoryMarshal.GetReference(dst);
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var va = new Vector<float>(a);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                (Vector.LoadUnsafe(ref rx, (nuint)i) * va).StoreUnsafe(ref rd, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref rd, i) = Unsafe.Add(ref rx, i) * a;
    }

    /// <summary>dst[i] = clamp(x[i], lo, hi).</summary>
    public static void Clamp(Span<float> x, float lo, float hi)
    {
        for (int i = 0; i < x.Length; i++) x[i] = Math.Clamp(x[i], lo, hi);
    }

    /// <summary>Scalar reference of <see cref="AxpBy"/>.</summary>
    public static void AxpByScalar(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = a * x[i] + b * y[i];
    }

    /// <summary>Scalar reference of <see cref="AxpBypCz"/>.</summary>
    public static void AxpBypCzScalar(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, float c, ReadOnlySpan<float> z, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = a * x[i] + b * y[i] + c * z[i];
    }
}
