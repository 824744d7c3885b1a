using InpaintSuite.Imaging;
using Xunit;

namespace InpaintSuite.Imaging.Tests;

public class MaskOpsTests
{
    [Theory]
    [InlineData(23, 41, 1)]
    [InlineData(64, 9, 2)]
    [InlineData(1, 17, 3)]
    public void ExactEdtMatchesBruteForce(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var f = new byte[w * h];
        for (int i = 0; i < f.Length; i++) f[i] = rng.Next(23) == 0 ? (byte)1 : (byte)0;
        var nearest = new int[w * h];
        var fast = DistanceTransform.SquaredEdtOfFeatures(f, w, h, nearest);
        var slow = DistanceTransform.SquaredEdtReference(f, w, h);
        Assert.Equal(slow, fast);
        for (int i = 0; i < f.Length; i++)
        {
            if (nearest[i] < 0) { Assert.Equal(DistanceTransform.NoFeature, fast[i]); continue; }
            Assert.Equal(1, f[nearest[i]]);
            long dx = nearest[i] % w - i % w, dy = nearest[i] / w - i / w;
            Assert.Equal(fast[i], dx * dx + dy * dy);
        }
    }

    [Fact]
    public void GrowAndShrinkAreEuclideanDiscs()
    {
        var m = new Mask(61, 47);
        m.Data[20 * 61 + 30] = 255;
        var g = MaskOps.Grow(m, 7);
        for (int y = 0; y < 47; y++)
        for (int x = 0; x < 61; x++)
            Assert.Equal((x - 30) * (x - 30) + (y - 20) * (y - 20) <= 49 ? 255 : 0, g.Data[y * 61 + x]);
        var s = MaskOps.Grow(g, -3);
        for (int y = 0; y < 47; y++)
        for (int x = 0; x < 61; x++)
        {
            // a pixel survives a 3 px shrink iff no kept pixel lies within 3 px
            bool survives = g.Data[y * 61 + x] == 255;
            for (int yy = 0; yy < 47 && survives; yy++)
            for (int xx = 0; xx < 61; xx++)
                if (g.Data[yy * 61 + xx] == 0 && (xx - x) * (xx - x) + (yy - y) * (yy - y) <= 9) { survives = false; break; }
            Assert.Equal(survives ? 255 : 0, s.Data[y * 61 + x]);
        }
    }

    [Fact]
    public void BlendWeightIsTheCoverageWithABandOutsideOnly()
    {
        // Non-square, a hard block, an antialiased ring and a faint soft patch; brute-force distances as the reference.
        int w = 71, h = 43;
        var m = new Mask(w, h);
        for (int y = 10; y < 30; y++) for (int x = 12; x < 40; x++) m.Data[y * w + x] = 255;
        for (int x = 12; x < 40; x++) { m.Data[9 * w + x] = 170; m.Data[30 * w + x] = 60; }
        for (int y = 5; y < 12; y++) for (int x = 55; x < 66; x++) m.Data[y * w + x] = 40;
        Assert.Equal(m.Data, MaskOps.BlendWeight(m, 0).Data); // feather 0: the coverage, nothing else
        foreach (int band in new[] { 1, 3, 8 })
        {
            var r = MaskOps.BlendWeight(m, band);
            for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = y * w + x;
                double d = double.MaxValue;
                for (int yy = 0; yy < h; yy++) for (int xx = 0; xx < w; xx++)
                    if (m.Data[yy * w + xx] >= 128) d = Math.Min(d, Math.Sqrt((xx - x) * (xx - x) + (yy - y) * (yy - y)));
                if (m.Data[i] == 255) Assert.Equal(255, r.Data[i]);            // rule 1: full coverage stays full
                if (d == 0 || d > band) Assert.Equal(m.Data[i], r.Data[i]);     // rule 2/3: coverage outside the band
                else
                {
                    double t = (band + 1 - d) / (band + 1);
                    Assert.Equal(Math.Max(m.Data[i], (int)Math.Round(255 * t * t * (3 - 2 * t))), r.Data[i]);
                }
            }
            // the ramp falls with distance: next to the block high, at the band's end low
            if (band < 3) continue;
            Assert.True(r.Data[20 * w + 40] > 200, $"band {band}: {r.Data[20 * w + 40]}");
            Assert.True(r.Data[20 * w + 39 + band] < 64, $"band {band}: {r.Data[20 * w + 39 + band]}");
        }
        Assert.Equal(8, MaskOps.BandWidth(4));
        Assert.Equal(0, MaskOps.BandWidth(0));
        Assert.Equal(3, MaskOps.BandWidth(1.2f));
    }

    [Fact]
    public void BoundingBox()
    {
        var m = new Mask(33, 21);
        Assert.True(MaskOps.BoundingBox(m).IsEmpty);
        m.Data[5 * 33 + 7] = 1;
        m.Data[12 * 33 + 30] = 200;
        Assert.Equal(new PixelRect(7, 5, 24, 8), MaskOps.BoundingBox(m));
        Assert.Equal(new PixelRect(30, 12, 1, 1), MaskOps.BoundingBox(m, 128));
    }

    [Fact]
    public void CropRegionPropertiesOnRandomBoxes()
    {
        var rng = new Random(7);
        for (int t = 0; t < 3000; t++)
        {
            int cw = 1 + rng.Next(3000), ch = 1 + rng.Next(2000);
            int bx = rng.Next(cw), by = rng.Next(ch);
            var box = new PixelRect(bx, by, 1 + rng.Next(cw - bx), 1 + rng.Next(ch - by));
            int pad = rng.Next(200), multiple = rng.Next(2) == 0 ? 8 : 64, min = rng.Next(2) == 0 ? 0 : 512;
            double aspect = rng.Next(3) == 0 ? 0 : 0.3 + rng.NextDouble() * 3;
            var r = MaskOps.CropRegion(box, cw, ch, pad, aspect, min, multiple);
            string ctx = $"canvas {cw}x{ch} box {box} pad {pad} aspect {aspect} min {min} mult {multiple} -> {r}";
            Assert.True(r.X >= 0 && r.Y >= 0 && r.Right <= cw && r.Bottom <= ch, ctx);
            Assert.True(r.Intersect(box) == box, "region holds the box: " + ctx);
            Assert.True(r.Width % multiple == 0 || r.Width == cw, ctx);
            Assert.True(r.Height % multiple == 0 || r.Height == ch, ctx);
            Assert.True(r.Width >= Math.Min(cw / multiple * multiple, box.Width + 2 * pad), "padding kept when the canvas allows: " + ctx);
            Assert.True(r.Width >= Math.Min(min, cw / multiple * multiple) || r.Width == cw, ctx);
        }
    }

    [Fact]
    public void CropRegionAspectAndDefaults()
    {
        var r = MaskOps.CropRegion(new PixelRect(1000, 500, 100, 50), 4000, 3000, 32, aspect: 1.0, minSize: 512);
        Assert.Equal(512, r.Width);
        Assert.Equal(512, r.Height);
        Assert.True(r.Contains(1050, 525));
        var a = MaskOps.CropRegion(new PixelRect(1000, 500, 600, 100), 4000, 3000, 0, aspect: 16.0 / 9);
        Assert.Equal(600, a.Width);
        Assert.InRange(a.Height, 338, 344); // 600 / (16/9) = 337.5, rounded up to a multiple of 8
        Assert.Equal(250, CraftDefaults.ContextPadding(4000, 3000, new PixelRect(0, 0, 500, 100)));
        Assert.Equal(320, CraftDefaults.ContextPadding(4000, 3000, new PixelRect(0, 0, 640, 100)));
    }
}
