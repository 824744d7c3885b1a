using InpaintSuite.Imaging;
using Xunit;

namespace InpaintSuite.Imaging.Tests;

/// <summary>Vectorised mask row kernels against their scalar definition (odd lengths hit the scalar tails).</summary>
public class RowKernelTests
{
    [Theory]
    [InlineData((byte)128)]
    [InlineData((byte)1)]
    [InlineData((byte)255)]
    public void ThresholdRowMatchesDefinition(byte t)
    {
        var s = new byte[1001];
        new Random(t).NextBytes(s);
        var d = new byte[s.Length];
        MaskOps.ThresholdRow(s, d, t);
        for (int i = 0; i < s.Length; i++) Assert.Equal(s[i] >= t ? 255 : 0, d[i]);
    }

    [Fact]
    public void MinInPlaceMatchesDefinition()
    {
        var a = new byte[777];
        var b = new byte[777];
        new Random(1).NextBytes(a);
        new Random(2).NextBytes(b);
        var expect = a.Zip(b, (x, y) => Math.Min(x, y)).ToArray();
        MaskOps.MinInPlace(a, b);
        Assert.Equal(expect, a);
    }
}
