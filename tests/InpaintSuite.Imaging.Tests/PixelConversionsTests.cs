using InpaintSuite.Imaging;
using Xunit;

namespace InpaintSuite.Imaging.Tests;

public class PixelConversionsTests
{
    [Fact]
    public void Bgra8WithStrideRoundTripsAndSwapsChannels()
    {
        int w = 37, h = 23, stride = w * 4 + 12;
        var rng = new Random(1);
        var wire = new byte[stride * h];
        rng.NextBytes(wire);
        var img = PixelConversions.FromBgra8(wire, w, h, stride);
        Assert.Equal((w, h, PixelDepth.U8), (img.Width, img.Height, img.Depth));
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            int s = y * stride + x * 4;
            Assert.Equal(wire[s + 2], img.Row8(y)[x * 4]);
            Assert.Equal(wire[s + 1], img.Row8(y)[x * 4 + 1]);
            Assert.Equal(wire[s], img.Row8(y)[x * 4 + 2]);
            Assert.Equal(wire[s + 3], img.Row8(y)[x * 4 + 3]);
        }
        var back = new byte[stride * h];
        PixelConversions.ToBgra8(img, back, stride);
        for (int y = 0; y < h; y++) Assert.True(wire.AsSpan(y * stride, w * 4).SequenceEqual(back.AsSpan(y * stride, w * 4)));
    }

    [Fact]
    public void SwapRedBlueVectorMatchesScalar()
    {
        var src = new byte[4 * 1003];
        new Random(2).NextBytes(src);
        var a = new byte[src.Length];
        var b = new byte[src.Length];
        PixelConversions.SwapRedBlue(src, a);
        PixelConversions.SwapRedBlueScalar(src, b);
        Assert.Equal(b, a);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rgba16AndFloatWireRoundTrip(bool bigEndian)
    {
        int w = 19, h = 31;
        var img16 = TestImages.Random(w, h, PixelDepth.U16, 3);
        int stride = w * 8 + 6;
        var wire = new byte[stride * h];
        PixelConversions.ToRgba16(img16, wire, stride, bigEndian);
        ushort first = bigEndian ? (ushort)(wire[0] << 8 | wire[1]) : (ushort)(wire[1] << 8 | wire[0]);
        Assert.Equal(img16.Pixels16[0], first);
        Assert.Equal(img16.Data, PixelConversions.FromRgba16(wire, w, h, stride, bigEndian).Data);

        var f = TestImages.Random(w, h, PixelDepth.F32, 4);
        var fw = new byte[(w * 16 + 4) * h];
        PixelConversions.ToRgba32F(f, fw, w * 16 + 4);
        Assert.Equal(f.Data, PixelConversions.FromRgba32F(fw, w, h, w * 16 + 4).Data);
    }

    [Fact]
    public void DepthConversionsRoundTripExactlyFrom8Bit()
    {
        var img = TestImages.Random(41, 17, PixelDepth.U8, 5);
        Assert.Equal(img.Data, PixelConversions.ConvertDepth(PixelConversions.ConvertDepth(img, PixelDepth.U16), PixelDepth.U8).Data);
        Assert.Equal(img.Data, PixelConversions.ConvertDepth(PixelConversions.ConvertDepth(img, PixelDepth.F32), PixelDepth.U8).Data);
        var i16 = PixelConversions.ConvertDepth(img, PixelDepth.U16);
        Assert.Equal(img.Data[7] * 257, i16.Pixels16[7]);
        // 16 -> 8 rounds to nearest
        var s = new ushort[] { 0, 128, 129, 32767, 65535 };
        var d = new byte[5];
        PixelConversions.U16ToU8(s, d);
        Assert.Equal(new byte[] { 0, 0, 1, 127, 255 }, d);
    }

    [Fact]
    public void MaskWithStrideAndBadStrideRejected()
    {
        int w = 13, h = 7, stride = 16;
        var wire = new byte[stride * h];
        new Random(6).NextBytes(wire);
        var m = PixelConversions.MaskFromBytes(wire, w, h, stride);
        Assert.Equal(wire[stride * 3 + 5], m.Row(3)[5]);
        var back = new byte[stride * h];
        PixelConversions.MaskToBytes(m, back, stride);
        Assert.Equal(wire[stride * 6 + 12], back[stride * 6 + 12]);
        Assert.Throws<ArgumentOutOfRangeException>(() => PixelConversions.MaskFromBytes(wire, w, h, 12));
        Assert.Throws<ArgumentException>(() => PixelConversions.FromRgba8(new byte[10], 3, 3, 12));
    }
}
