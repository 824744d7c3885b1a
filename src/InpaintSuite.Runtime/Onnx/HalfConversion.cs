using System.Numerics.Tensors;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>float32 &lt;-&gt; float16 conversion for fp16 models (vectorised; IEEE round-to-nearest-even like System.Half).</summary>
public static class HalfConversion
{
    public static void ToHalf(ReadOnlySpan<float> source, Span<Half> destination) => TensorPrimitives.ConvertToHalf(source, destination);

    public static void ToSingle(ReadOnlySpan<Half> source, Span<float> destination) => TensorPrimitives.ConvertToSingle(source, destination);

    public static Half[] ToHalf(ReadOnlySpan<float> source)
    {
        var result = new Half[source.Length];
        ToHalf(source, result);
        return result;
    }

    public static float[] ToSingle(ReadOnlySpan<Half> source)
    {
        var result = new float[source.Length];
        ToSingle(source, result);
        return result;
    }

    /// <summary>Scalar reference the vectorised path is tested against.</summary>
    internal static void ToHalfScalar(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = (Half)source[i];
    }

    /// <summary>Scalar reference the vectorised path is tested against.</summary>
    internal static void ToSingleScalar(ReadOnlySpan<Half> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = (float)source[i];
    }
}
