using System.Runtime.Intrinsics;

namespace InpaintSuite.Imaging.ContentAware;

/// <summary>
/// Sum of squared differences between two square patches of a 4-float-per-pixel plane (R, G, B, gradient).
/// A 7 px patch row is 28 floats = three 256-bit vectors and one 128-bit vector.
/// </summary>
internal static unsafe class PatchDistance
{
    /// <summary>
    /// SSD of the <paramref name="rows"/> x <paramref name="rowFloats"/> blocks starting at <paramref name="a"/> and
    /// <paramref name="b"/> (stride in floats). Stops after a row once the sum exceeds <paramref name="limit"/>
    /// (the caller only needs to know it lost).
    /// </summary>
    public static float Ssd(float* a, float* b, int stride, int rows, int rowFloats, float limit)
    {
        if (rowFloats == 28 && Vector256.IsHardwareAccelerated) return Ssd7(a, b, stride, rows, limit);
        float sum = 0;
        for (int r = 0; r < rows; r++)
        {
            float* pa = a + (nint)r * stride, pb = b + (nint)r * stride;
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var acc = Vector256<float>.Zero;
                for (; i + 8 <= rowFloats; i += 8)
                {
                    var d = Vector256.Load(pa + i) - Vector256.Load(pb + i);
                    acc += d * d;
                }
                if (i + 4 <= rowFloats)
                {
                    var d = Vector128.Load(pa + i) - Vector128.Load(pb + i);
                    acc += Vector256.Create(d * d, Vector128<float>.Zero);
                    i += 4;
                }
                sum += Vector256.Sum(acc);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                var acc = Vector128<float>.Zero;
                for (; i + 4 <= rowFloats; i += 4)
                {
                    var d = Vector128.Load(pa + i) - Vector128.Load(pb + i);
                    acc += d * d;
                }
                sum += Vector128.Sum(acc);
            }
            for (; i < rowFloats; i++)
            {
                float d = pa[i] - pb[i];
                sum += d * d;
            }
            if (sum > limit) return sum;
        }
        return sum;
    }

    /// <summary>
    /// The 7 px patch: rows of 28 floats, accumulated in vector registers across rows; the horizontal sum (for the
    /// early exit) only every second row.
    /// </summary>
    private static float Ssd7(float* a, float* b, int stride, int rows, float limit)
    {
        var acc = Vector256<float>.Zero;
        var acc4 = Vector128<float>.Zero;
        for (int r = 0; r < rows; r++)
        {
            float* pa = a + (nint)r * stride, pb = b + (nint)r * stride;
            var d0 = Vector256.Load(pa) - Vector256.Load(pb);
            var d1 = Vector256.Load(pa + 8) - Vector256.Load(pb + 8);
            var d2 = Vector256.Load(pa + 16) - Vector256.Load(pb + 16);
            var d3 = Vector128.Load(pa + 24) - Vector128.Load(pb + 24);
            acc += d0 * d0 + d1 * d1 + d2 * d2;
            acc4 += d3 * d3;
            if ((r & 1) == 1)
            {
                float partial = Vector256.Sum(acc) + Vector128.Sum(acc4);
                if (partial > limit) return partial;
            }
        }
        return Vector256.Sum(acc) + Vector128.Sum(acc4);
    }

    /// <summary>Scalar reference of <see cref="Ssd"/> (no early exit), for tests.</summary>
    public static float SsdScalar(ReadOnlySpan<float> plane, int aIndex, int bIndex, int stride, int rows, int rowFloats)
    {
        double sum = 0;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < rowFloats; i++)
            {
                double d = plane[aIndex + r * stride + i] - plane[bIndex + r * stride + i];
                sum += d * d;
            }
        return (float)sum;
    }
}
