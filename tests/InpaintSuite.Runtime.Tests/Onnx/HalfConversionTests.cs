using InpaintSuite.Runtime.Onnx;
using Xunit;

namespace InpaintSuite.Runtime.Tests.Onnx;

public sealed class HalfConversionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1003)]
    [InlineData(4099)]
    public void VectorisedFloatToHalfMatchesScalarBitForBit(int length)
    {
        var rng = new Random(length + 1);
        var special = new[] { 0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 65504f, 65520f, 65519.99f, 1e-8f, 5.9604645e-8f, 2.9802322e-8f, 6.1035156e-5f, -1e-40f, 1.00048828125f, 1.0009765625f };
        var src = new float[length];
        for (int i = 0; i < length; i++)
            src[i] = i < special.Length && length > 16 ? special[i] : (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-9, 6)));
        var fast = new Half[length];
        var scalar = new Half[length];
        HalfConversion.ToHalf(src, fast);
        HalfConversion.ToHalfScalar(src, scalar);
        for (int i = 0; i < length; i++)
            Assert.True(BitConverter.HalfToUInt16Bits(fast[i]) == BitConverter.HalfToUInt16Bits(scalar[i]) || (Half.IsNaN(fast[i]) && Half.IsNaN(scalar[i])), $"index {i}: {src[i]:R}");
    }

    [Fact]
    public void VectorisedHalfToFloatMatchesScalarForAllHalfValues()
    {
        var all = new Half[65536];
        for (int i = 0; i < all.Length; i++) all[i] = BitConverter.UInt16BitsToHalf((ushort)i);
        var fast = HalfConversion.ToSingle(all);
        var scalar = new float[all.Length];
        HalfConversion.ToSingleScalar(all, scalar);
        for (int i = 0; i < all.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(fast[i]) == BitConverter.SingleToInt32Bits(scalar[i]) || (float.IsNaN(fast[i]) && float.IsNaN(scalar[i])), $"half bits {i:X4}");
    }

    [Fact]
    public void TensorConversionsKeepTheShape()
    {
        var t = OrtTensor.Create(new[] { 1f, 2, 3, 4, 5, 6 }, 3, 2);
        var h = t.ToFloat16();
        Assert.Equal(OrtElementType.Float16, h.ElementType);
        Assert.Equal([3L, 2], h.Shape);
        Assert.Equal(t.Span.ToArray(), h.ToFloat32().Span.ToArray());
        Assert.Throws<InvalidOperationException>(() => OrtTensor.Create(new[] { 1L }, 1).ToFloat32());
    }
}
