using System.Numerics;
using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Lora;

/// <summary>The merge arithmetic: ΔW = coef · Up·Down accumulated row by row (axpy), in float32.</summary>
public static class LoraMath
{
    /// <summary>y += a·x, vectorised (<see cref="AddScaledScalar"/> is the reference it is tested against).</summary>
    public static void AddScaled(Span<float> y, float a, ReadOnlySpan<float> x)
    {
        if (x.Length != y.Length) throw new ArgumentException("x and y differ in length");
        int i = 0;
        if (Vector.IsHardwareAccelerated && y.Length >= Vector<float>.Count)
        {
            var va = new Vector<float>(a);
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            for (int k = 0; k < vy.Length; k++) vy[k] += va * vx[k];
            i = vy.Length * Vector<float>.Count;
        }
        for (; i < y.Length; i++) y[i] += a * x[i];
    }

    public static void AddScaledScalar(Span<float> y, float a, ReadOnlySpan<float> x)
    {
        if (x.Length != y.Length) throw new ArgumentException("x and y differ in length");
        for (int i = 0; i < y.Length; i++) y[i] += a * x[i];
    }

    /// <summary>
    /// delta += coef · U·D with U [rows, rank] and D [rank, cols] (row-major), for a weight stored as [rows, cols];
    /// with <paramref name="transposed"/> the weight is stored [cols, rows] (ONNX MatMul Wᵀ) and delta gets (U·D)ᵀ.
    /// </summary>
    public static void AccumulateDelta(Span<float> delta, ReadOnlySpan<float> up, ReadOnlySpan<float> down, int rows, int rank, int cols, float coef, bool transposed, bool vectorised = true)
    {
        if (up.Length != rows * rank || down.Length != rank * cols || delta.Length != rows * cols)
            throw new ArgumentException($"shapes do not agree: up {up.Length} = {rows}x{rank}, down {down.Length} = {rank}x{cols}, delta {delta.Length}");
        if (!transposed)
        {
            for (int o = 0; o < rows; o++)
            {
                var row = delta.Slice(o * cols, cols);
                for (int k = 0; k < rank; k++)
                {
                    float a = coef * up[o * rank + k];
                    if (vectorised) AddScaled(row, a, down.Slice(k * cols, cols)); else AddScaledScalar(row, a, down.Slice(k * cols, cols));
                }
            }
            return;
        }
        // Wᵀ[i, o] += coef Σ_k D[k, i]·U[o, k]: rows of Uᵀ are contiguous, so each output row is rank axpys.
        var ut = new float[rank * rows];
        for (int o = 0; o < rows; o++)
            for (int k = 0; k < rank; k++) ut[k * rows + o] = up[o * rank + k];
        for (int i = 0; i < cols; i++)
        {
            var row = delta.Slice(i * rows, rows);
            for (int k = 0; k < rank; k++)
            {
                float a = coef * down[k * cols + i];
                if (vectorised) AddScaled(row, a, ut.AsSpan(k * rows, rows)); else AddScaledScalar(row, a, ut.AsSpan(k * rows, rows));
            }
        }
    }
}
