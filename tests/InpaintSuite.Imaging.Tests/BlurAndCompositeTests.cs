using FsCheck;
using FsCheck.Fluent;
using InpaintSuite.Imaging;
using Xunit;

namespace InpaintSuite.Imaging.Tests;

public class GaussianBlurTests
{
    [Theory]
    [InlineData(1, 1.5f)]
    [InlineData(4, 3f)]
    [InlineData(4, 0.7f)]
    public void VectorMatchesScalarAtNonSquareSize(int channels, float sigma)
    {
        int w = 157, h = 301; // > one band, odd widths hit the scalar tails
        var rng = new Random(11);
        var src = new float[w * h * channels];
        for (int i = 0; i < src.Length; i++) src[i] = (float)rng.NextDouble() * 255;
        var a = new float[src.Length];
        var b = new float[src.Length];
        var k = GaussianBlur.HalfKernel(sigma);
        GaussianBlur.Run(w, h, channels, k, (y, row) => src.AsSpan(y * w * channels, w * channels).CopyTo(row), (y, c0, v) => v.CopyTo(a.AsSpan(y * w * channels + c0)), vectorised: true);
        GaussianBlur.Run(w, h, channels, k, (y, row) => src.AsSpan(y * w * channels, w * channels).CopyTo(row), (y, c0, v) => v.CopyTo(b.AsSpan(y * w * channels + c0)), vectorised: false);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-3f, $"{i}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void MatchesDirect2DConvolutionWithReplicatedEdges()
    {
        int w = 29, h = 18;
        var img = TestImages.Random(w, h, PixelDepth.U8, 12);
        float sigma = 2.2f;
        var fast = GaussianBlur.Blur(img, sigma);
        var k = GaussianBlur.HalfKernel(sigma);
        int r = k.Length - 1;
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        for (int c = 0; c < 4; c++)
        {
            double acc = 0;
            for (int dy = -r; dy <= r; dy++)
            for (int dx = -r; dx <= r; dx++)
            {
                int yy = Math.Clamp(y + dy, 0, h - 1), xx = Math.Clamp(x + dx, 0, w - 1);
                acc += k[Math.Abs(dy)] * k[Math.Abs(dx)] * img.Row8(yy)[xx * 4 + c];
            }
            Assert.InRange(fast.Row8(y)[x * 4 + c], Math.Round(acc) - 1, Math.Round(acc) + 1);
        }
    }

    [Fact]
    public void WidenNarrowVectorMatchScalar()
    {
        var b = new byte[1000];
        new Random(3).NextBytes(b);
        var f = new float[1000];
        GaussianBlur.Widen(b, f);
        for (int i = 0; i < b.Length; i++) Assert.Equal(b[i], f[i]);
        for (int i = 0; i < f.Length; i++) f[i] = (float)(new Random(i).NextDouble() * 300 - 20);
        var o = new byte[1000];
        GaussianBlur.Narrow(f, o);
        for (int i = 0; i < f.Length; i++) Assert.Equal((byte)Math.Clamp(Math.Floor(f[i] + 0.5), 0, 255), o[i]);
    }

    [Fact]
    public void SixteenBitAndFloatBlurAgreeWithEightBit()
    {
        var img = TestImages.Random(40, 25, PixelDepth.U8, 13);
        var b8 = GaussianBlur.Blur(img, 2f);
        var b16 = PixelConversions.ConvertDepth(GaussianBlur.Blur(PixelConversions.ConvertDepth(img, PixelDepth.U16), 2f), PixelDepth.U8);
        var bf = PixelConversions.ConvertDepth(GaussianBlur.Blur(PixelConversions.ConvertDepth(img, PixelDepth.F32), 2f), PixelDepth.U8);
        for (int i = 0; i < b8.Data.Length; i++)
        {
            Assert.InRange(b16.Data[i] - b8.Data[i], -1, 1);
            Assert.InRange(bf.Data[i] - b8.Data[i], -1, 1);
        }
    }
}

public class CompositeInvariantTests
{
    public sealed record Case(int W, int H, int Feather, int Grow, PixelDepth Depth, int Seed, int RegionX, int RegionY);

    private static readonly Gen<Case> Cases =
        from w in Gen.Choose(4, 96)
        from h in Gen.Choose(4, 80)
        from feather in Gen.Choose(0, 12)
        from grow in Gen.Choose(-8, 8)
        from depth in Gen.Elements(PixelDepth.U8, PixelDepth.U16, PixelDepth.F32)
        from seed in Gen.Choose(0, int.MaxValue)
        from rx in Gen.Choose(0, 20)
        from ry in Gen.Choose(0, 20)
        select new Case(w, h, feather, grow, depth, seed, rx, ry);

    /// <summary>
    /// Random masks, feather and grow: wherever the blend weight is 0 the output equals the input byte for byte, the
    /// weight is 0 wherever the mask is 0 and no repainted (&gt;= 128) pixel lies within the band, and fully covered
    /// pixels take the generated pixel.
    /// </summary>
    [Fact]
    public void OutsideCompositeMaskOutputIsByteIdentical()
    {
        var property = Prop.ForAll(Arb.From(Cases), c =>
        {
            int cw = c.W + c.RegionX + 7, ch = c.H + c.RegionY + 5; // region sits inside a larger canvas
            var input = TestImages.Random(cw, ch, c.Depth, c.Seed);
            var generated = TestImages.Random(c.W, c.H, c.Depth, c.Seed + 1);
            var mask = MaskOps.Grow(TestImages.Blobs(c.W, c.H, c.Seed), c.Grow);
            int band = MaskOps.BandWidth(c.Feather);
            var comp = MaskOps.BlendWeight(mask, band);
            var d2 = DistanceTransform.SquaredEdt(mask.Data, c.W, c.H, v => v >= 128);
            var output = Compositor.Composite(input, generated, comp, c.RegionX, c.RegionY);
            int bpp = 4 * (int)c.Depth;
            for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
            {
                int mx = x - c.RegionX, my = y - c.RegionY;
                bool inRegion = mx >= 0 && my >= 0 && mx < c.W && my < c.H;
                byte m = inRegion ? comp.Data[my * c.W + mx] : (byte)0;
                if (inRegion && mask.Data[my * c.W + mx] == 0 && d2[my * c.W + mx] > (long)band * band && m != 0) return false;
                if (inRegion && mask.Data[my * c.W + mx] == 255 && m != 255) return false;
                if (m == 0 && !input.Data.AsSpan((y * cw + x) * bpp, bpp).SequenceEqual(output.Data.AsSpan((y * cw + x) * bpp, bpp))) return false;
            }
            return true;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(150), property);
    }

    [Theory]
    [InlineData(PixelDepth.U8)]
    [InlineData(PixelDepth.U16)]
    [InlineData(PixelDepth.F32)]
    public void FullWeightGivesGeneratedOpaqueAndHalfWeightBlends(PixelDepth depth)
    {
        var input = TestImages.Random(9, 5, depth, 21);
        var gen = TestImages.Random(9, 5, depth, 22);
        var w = new Mask(9, 5);
        w.Data.AsSpan().Fill(255);
        var out1 = PixelConversions.ConvertDepth(Compositor.Composite(input, gen, w, 0, 0), PixelDepth.F32).PixelsF;
        var g = PixelConversions.ConvertDepth(gen, PixelDepth.F32).PixelsF;
        for (int i = 0; i < out1.Length; i++) Assert.Equal(i % 4 == 3 ? 1f : g[i], out1[i], 4);
        w.Data.AsSpan().Fill(128);
        var outH = PixelConversions.ConvertDepth(Compositor.Composite(input, gen, w, 0, 0), PixelDepth.F32).PixelsF;
        var inp = PixelConversions.ConvertDepth(input, PixelDepth.F32).PixelsF;
        float wf = 128 / 255f;
        for (int i = 0; i < outH.Length; i++)
            Assert.InRange(outH[i] - (inp[i] * (1 - wf) + (i % 4 == 3 ? 1f : g[i]) * wf), -0.6f / 255, 0.6f / 255);
    }
}

public class PreFillAndColorMatchTests
{
    [Theory]
    [InlineData(PreFillMode.Blur)]
    [InlineData(PreFillMode.Border)]
    [InlineData(PreFillMode.Noise)]
    [InlineData(PreFillMode.Original)]
    public void KeepsUnmaskedPixelsAndFillsHoleOpaque(PreFillMode mode)
    {
        var img = TestImages.Random(70, 45, PixelDepth.U8, 31, opaque: true);
        var mask = TestImages.Blobs(70, 45, 32);
        var r = PreFill.Apply(img, mask, mode, seed: 5);
        for (int i = 0; i < mask.Data.Length; i++)
        {
            if (mask.Data[i] == 0) Assert.True(img.Data.AsSpan(i * 4, 4).SequenceEqual(r.Data.AsSpan(i * 4, 4)));
            if (mask.Data[i] == 255) Assert.Equal(255, r.Data[i * 4 + 3]);
        }
    }

    [Theory]
    [InlineData(PreFillMode.Blur)]
    [InlineData(PreFillMode.Border)]
    public void FillsAFlatImageWithItsColour(PreFillMode mode)
    {
        var img = new RgbaImage(300, 140, PixelDepth.U16);
        var p = img.Pixels16;
        for (int i = 0; i < p.Length; i += 4) { p[i] = 40000; p[i + 1] = 1000; p[i + 2] = 20000; p[i + 3] = 65535; }
        var mask = new Mask(300, 140);
        for (int y = 30; y < 110; y++) for (int x = 100; x < 250; x++) { mask.Data[y * 300 + x] = 255; p[(y * 300 + x) * 4] = 0; }
        var r = PreFill.Apply(img, mask, mode).Pixels16;
        for (int i = 0; i < r.Length; i += 4)
        {
            Assert.InRange(r[i], 39990, 40010);
            Assert.InRange(r[i + 1], 990, 1010);
        }
    }

    [Fact]
    public void BorderIsNearestKeptPixel()
    {
        var img = new RgbaImage(12, 5);
        for (int x = 0; x < 12; x++) for (int y = 0; y < 5; y++) { img.Row8(y)[x * 4] = (byte)(x * 10); img.Row8(y)[x * 4 + 3] = 255; }
        var mask = new Mask(12, 5);
        for (int y = 0; y < 5; y++) for (int x = 4; x < 12; x++) mask.Data[y * 12 + x] = 255;
        var r = PreFill.Apply(img, mask, PreFillMode.Border);
        for (int y = 0; y < 5; y++) for (int x = 4; x < 12; x++) Assert.Equal(30, r.Row8(y)[x * 4]);
    }

    [Fact]
    public void ColorMatchRemovesAShiftMeasuredOnTheRing()
    {
        int w = 80, h = 60;
        var orig = TestImages.Random(w, h, PixelDepth.U8, 41, opaque: true);
        var gen = orig.Clone();
        for (int i = 0; i < gen.Data.Length; i++) if (i % 4 != 3) gen.Data[i] = (byte)Math.Clamp(gen.Data[i] * 0.8 + 30, 0, 255);
        var mask = new Mask(w, h);
        for (int y = 20; y < 40; y++) for (int x = 25; x < 55; x++) mask.Data[y * w + x] = 255;
        var fixedImg = ColorMatch.Apply(gen, orig, mask);
        double before = 0, after = 0;
        for (int i = 0; i < orig.Data.Length; i++)
        {
            if (i % 4 == 3) continue;
            before += Math.Abs(gen.Data[i] - orig.Data[i]);
            after += Math.Abs(fixedImg.Data[i] - orig.Data[i]);
        }
        Assert.True(after < before / 4, $"mean abs error before {before / orig.Data.Length} after {after / orig.Data.Length}");
    }
}
