using InpaintSuite.Imaging.Codecs;
using Xunit;

namespace InpaintSuite.Imaging.Tests.Codecs;

public sealed class PngRoundTripTests
{
    /// <summary>Photo-like content: smooth gradients plus mild noise, so every filter gets picked somewhere.</summary>
    internal static RgbaImage Synthetic(int w, int h, PixelDepth depth, int seed, bool opaque = false, bool grey = false)
    {
        var rng = new Random(seed);
        var img = new RgbaImage(w, h, depth);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double r = 0.5 + 0.5 * Math.Sin(x * 0.05 + y * 0.02), g = (double)y / h, b = (double)x / w;
                double a = opaque ? 1 : 0.5 + 0.5 * Math.Cos(x * 0.03);
                double n = rng.NextDouble() * 0.02;
                if (grey) { g = r; b = r; }
                double[] v = [Math.Clamp(r + n, 0, 1), Math.Clamp(g + (grey ? n : 0), 0, 1), Math.Clamp(b + (grey ? n : 0), 0, 1), a];
                if (grey) { v[1] = v[0]; v[2] = v[0]; }
                for (int c = 0; c < 4; c++)
                {
                    if (depth == PixelDepth.U8) img.Row8(y)[4 * x + c] = (byte)Math.Round(v[c] * 255);
                    else img.Row16(y)[4 * x + c] = (ushort)Math.Round(v[c] * 65535);
                }
            }
        return img;
    }

    [Theory]
    [InlineData(PixelDepth.U8, false, false)]
    [InlineData(PixelDepth.U8, true, false)]
    [InlineData(PixelDepth.U8, true, true)]
    [InlineData(PixelDepth.U8, false, true)]
    [InlineData(PixelDepth.U16, false, false)]
    [InlineData(PixelDepth.U16, true, false)]
    [InlineData(PixelDepth.U16, true, true)]
    [InlineData(PixelDepth.U16, false, true)]
    public void EncodeThenDecodeIsLossless(PixelDepth depth, bool opaque, bool grey)
    {
        var img = Synthetic(97, 61, depth, 7, opaque, grey);
        byte[] png = ImageCodec.EncodePng(img);
        var back = ImageCodec.Decode(png, out var info);
        Assert.Equal(depth, back.Depth);
        Assert.Equal(img.Data, back.Data);
        Assert.Equal(depth == PixelDepth.U16 ? 16 : 8, info.BitDepth);
        Assert.Equal(!opaque, info.HasAlpha);
        Assert.Equal(grey, info.IsGrey);
    }

    [Theory]
    [InlineData(PngFilterMode.None)]
    [InlineData(PngFilterMode.Sub)]
    [InlineData(PngFilterMode.Up)]
    [InlineData(PngFilterMode.Average)]
    [InlineData(PngFilterMode.Paeth)]
    [InlineData(PngFilterMode.Adaptive)]
    public void EveryFilterRoundTrips(PngFilterMode filter)
    {
        foreach (var depth in new[] { PixelDepth.U8, PixelDepth.U16 })
        {
            var img = Synthetic(53, 29, depth, 3);
            var back = ImageCodec.Decode(ImageCodec.EncodePng(img, new PngEncodeOptions { Filter = filter, ReduceColor = false }));
            Assert.Equal(img.Data, back.Data);
        }
    }

    [Fact]
    public void RandomBytesRoundTripAtEveryCompressionLevel()
    {
        var rng = new Random(11);
        var img = new RgbaImage(33, 17, PixelDepth.U16);
        rng.NextBytes(img.Data);
        foreach (var level in Enum.GetValues<System.IO.Compression.CompressionLevel>())
            Assert.Equal(img.Data, ImageCodec.Decode(ImageCodec.EncodePng(img, new PngEncodeOptions { CompressionLevel = level })).Data);
    }

    [Fact]
    public void VectorisedFiltersMatchScalarReference()
    {
        var rng = new Random(5);
        foreach (int bpp in new[] { 1, 2, 3, 4, 6, 8 })
        {
            int n = bpp * 67;
            byte[] cur = new byte[bpp + n], prev = new byte[bpp + n];
            rng.NextBytes(cur.AsSpan(bpp)); rng.NextBytes(prev.AsSpan(bpp));
            for (int f = 0; f <= 4; f++)
            {
                byte[] fast = new byte[n], slow = new byte[n];
                long cost = PngFilters.Filter(f, cur, prev, bpp, fast);
                PngFilters.FilterScalar(f, cur, prev, bpp, slow);
                Assert.Equal(slow, fast);
                Assert.Equal(slow.Sum(b => (long)(b < 128 ? b : 256 - b)), cost);
                // and unfiltering restores the row
                byte[] row = new byte[bpp + n];
                fast.CopyTo(row, bpp);
                PngFilters.Unfilter((byte)f, row, prev, bpp, n);
                Assert.Equal(cur.AsSpan(bpp).ToArray(), row.AsSpan(bpp).ToArray());
            }
        }
    }

    [Fact]
    public void SavePngAndLoadUseFiles()
    {
        var img = Synthetic(40, 23, PixelDepth.U8, 9);
        string path = Path.Combine(Path.GetTempPath(), $"inpaintsuite-codec-{Guid.NewGuid():N}", "x.png");
        try
        {
            ImageCodec.SavePng(img, path);
            Assert.Equal(img.Data, ImageCodec.Load(path).Data);
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }
}
