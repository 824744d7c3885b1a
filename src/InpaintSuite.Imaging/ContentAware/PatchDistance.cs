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
