using InpaintSuite.Imaging;
using InpaintSuite.Imaging.ContentAware;
using Xunit;

namespace InpaintSuite.Imaging.Tests.ContentAware;

public class ContentAwareFillTests
{
    /// <summary>A periodic colour texture (periods 8 and 6 px, plus a diagonal ramp): every hole has exact copies outside.</summary>
    internal static RgbaImage Texture(int w, int h, PixelDepth depth = PixelDepth.U8)
    {
        var im = new RgbaImage(w, h, depth);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int r = (int)(128 + 100 * Math.Sin(2 * Math.PI * x / 8));
                int g = (int)(128 + 100 * Math.Sin(2 * Math.PI * y / 6));
                int b = (x + y) % 12 * 20;
                Set(im, x, y, r, g, b, 255);
            }
        return im;
    }

    private static void Set(RgbaImage im, int x, int y, int r, int g, int b, int a)
    {
        int i = (y * im.Width + x) * 4;
        switch (im.Depth)
        {
            case PixelDepth.U8: im.Data[i] = (byte)r; im.Data[i + 1] = (byte)g; im.Data[i + 2] = (byte)b; im.Data[i + 3] = (byte)a; break;
            case PixelDepth.U16: var p = im.Pixels16; p[i] = (ushort)(r * 257); p[i + 1] = (ushort)(g * 257); p[i + 2] = (ushort)(b * 257); p[i + 3] = (ushort)(a * 257); break;
            default: var f = im.PixelsF; f[i] = r / 255f; f[i + 1] = g / 255f; f[i + 2] = b / 255f; f[i + 3] = a / 255f; break;
        }
    }

    /// <summary>Zeroes the masked pixels (as editors' masked inputs are) so the fill cannot peek.</summary>
    private static RgbaImage Holed(RgbaImage truth, Mask m)
    {
        var im = truth.Clone();
        for (int i = 0; i < m.Data.Length; i++)
            if (m.Data[i] != 0) im.Bytes.Slice(i * 4 * im.BytesPerChannel, 4 * im.BytesPerChannel).Clear();
        return im;
    }

    private static Mask Rects(int w, int h, params PixelRect[] rects)
    {
        var m = new Mask(w, h);
        foreach (var r in rects)
            for (int y = r.Y; y < r.Bottom; y++)
                for (int x = r.X; x < r.Right; x++) m.Data[y * w + x] = 255;
        return m;
    }

    /// <summary>Mean absolute RGB error (0..255) over the masked pixels.</summary>
    private static double HoleError(RgbaImage result, RgbaImage truth, Mask m)
    {
        double sum = 0; long n = 0;
        for (int i = 0; i < m.Data.Length; i++)
        {
            if (m.Data[i] == 0) continue;
            for (int k = 0; k < 3; k++) sum += Math.Abs(result.Data[i * 4 + k] - truth.Data[i * 4 + k]);
            n += 3;
        }
        return sum / n;
    }

    /// <summary>Error of filling the hole with the mean known colour: what a useless fill scores.</summary>
    private static double MeanFillError(RgbaImage truth, Mask m)
    {
        var mean = new double[3]; long n = 0;
        for (int i = 0; i < m.Data.Length; i++)
            if (m.Data[i] == 0) { for (int k = 0; k < 3; k++) mean[k] += truth.Data[i * 4 + k]; n++; }
        double sum = 0; long c = 0;
        for (int i = 0; i < m.Data.Length; i++)
            if (m.Data[i] != 0) { for (int k = 0; k < 3; k++) sum += Math.Abs(truth.Data[i * 4 + k] - mean[k] / n); c += 3; }
        return sum / c;
    }

    private static void AssertUnchangedOutside(RgbaImage input, RgbaImage result, Mask m)
    {
        Assert.Equal(input.Width, result.Width);
        Assert.Equal(input.Height, result.Height);
        Assert.Equal(input.Depth, result.Depth);
        int bpp = 4 * input.BytesPerChannel;
        for (int i = 0; i < m.Data.Length; i++)
            if (m.Data[i] == 0)
                Assert.True(input.Bytes.Slice(i * bpp, bpp).SequenceEqual(result.Bytes.Slice(i * bpp, bpp)), $"pixel {i % m.Width},{i / m.Width} outside the mask changed");
    }

    [Fact]
    public void InteriorHoleInPeriodicTextureIsReconstructed()
    {
        var truth = Texture(150, 110);
        var m = Rects(150, 110, new PixelRect(50, 35, 40, 30));
        var input = Holed(truth, m);
        var result = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 1 });
        AssertUnchangedOutside(input, result, m);
        double err = HoleError(result, truth, m), baseline = MeanFillError(truth, m);
        Assert.True(err < 0.25 * baseline, $"hole error {err:F1} vs mean-fill {baseline:F1}");
    }

    /// <summary>
    /// Structure, not only texture: a dark 3 px diagonal line over light noise, with a brick-like distractor block
    /// elsewhere; the hole over the line's middle must continue the line (dark on its path, light beside it).
    /// </summary>
    [Fact]
    public void DiagonalLineContinuesThroughTheHole()
    {
        const int W = 170, H = 120;
        var truth = new RgbaImage(W, H);
        var rng = new Random(3);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                int v = 200 + rng.Next(-12, 13);
                bool brick = x < 40 && y < 40 && ((y % 10 < 2) || ((x + (y / 10 % 2) * 10) % 20 < 2));
                bool line = Math.Abs(y - (10 + 0.6 * x)) < 1.6;
                if (line) Set(truth, x, y, 40, 40, 50, 255);
                else if (brick) Set(truth, x, y, 90, 60, 50, 255);
                else Set(truth, x, y, v, v, v - 10, 255);
            }
        var m = Rects(W, H, new PixelRect(70, 40, 36, 36));
        var input = Holed(truth, m);
        var result = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 2 });
        AssertUnchangedOutside(input, result, m);
        double onLine = 0, beside = 0; int nOn = 0, nBeside = 0;
        for (int y = 42; y < 74; y++)
            for (int x = 72; x < 104; x++)
            {
                double d = Math.Abs(y - (10 + 0.6 * x)), lum = result.Data[(y * W + x) * 4 + 1];
                if (d < 0.8) { onLine += lum; nOn++; }
                else if (d > 5) { beside += lum; nBeside++; }
            }
        onLine /= nOn; beside /= nBeside;
        Assert.True(onLine < 110, $"mean green on the line's path in the hole {onLine:F0} (line 40, background 200)");
        Assert.True(beside > 170, $"mean green beside the line in the hole {beside:F0} (background 200)");
    }

    [Fact]
    public void SourceBandRestrictsTheSourceButStillFills()
    {
        var truth = Texture(150, 110);
        var m = Rects(150, 110, new PixelRect(50, 35, 40, 30));
        var input = Holed(truth, m);
        // Make everything farther than 20 px from the hole useless (black): a band of 20 px never sees it.
        var poisoned = input.Clone();
        for (int y = 0; y < 110; y++)
            for (int x = 0; x < 150; x++)
                if (x < 25 || x >= 115 || y < 10 || y >= 90) poisoned.Data.AsSpan((y * 150 + x) * 4, 3).Clear();
        var result = ContentAwareFill.Fill(poisoned, m, new ContentAwareOptions { Seed = 1, SourceBand = 20 });
        AssertUnchangedOutside(poisoned, result, m);
        double err = HoleError(result, truth, m), baseline = MeanFillError(truth, m);
        Assert.True(err < 0.25 * baseline, $"banded hole error {err:F1} vs mean-fill {baseline:F1}");
    }

    [Fact]
    public void SameSeedGivesSameBytesWhateverTheThreadCount()
    {
        var truth = Texture(130, 97);
        var m = Rects(130, 97, new PixelRect(30, 20, 35, 41), new PixelRect(90, 60, 12, 12));
        var input = Holed(truth, m);
        var a = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 42 });
        var b = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 42, MaxDegreeOfParallelism = 1 });
        var c = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 42, MaxDegreeOfParallelism = 3 });
        Assert.True(a.Data.AsSpan().SequenceEqual(b.Data), "1 thread differs from all cores");
        Assert.True(a.Data.AsSpan().SequenceEqual(c.Data), "3 threads differ from all cores");
        var d = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 43 });
        Assert.False(a.Data.AsSpan().SequenceEqual(d.Data), "another seed should explore differently");
    }

    [Fact]
    public void HolesTouchingTheBorderAreFilled()
    {
        int w = 160, h = 100;
        // Left strip (outpaint-like), top-right corner block, bottom edge notch.
        var m = Rects(w, h, new PixelRect(0, 0, 18, h), new PixelRect(w - 25, 0, 25, 20), new PixelRect(70, h - 9, 30, 9));
        var truth = Texture(w, h);
        var input = Holed(truth, m);
        var result = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 3 });
        AssertUnchangedOutside(input, result, m);
        double err = HoleError(result, truth, m), baseline = MeanFillError(truth, m);
        Assert.True(err < 0.3 * baseline, $"border hole error {err:F1} vs mean-fill {baseline:F1}");
        // Corner pixels (covered by a single patch) are filled too, not left black.
        Assert.NotEqual(0, result.Data[0] + result.Data[1] + result.Data[2]);
        Assert.NotEqual(0, result.Data[(w - 1) * 4] + result.Data[(w - 1) * 4 + 1] + result.Data[(w - 1) * 4 + 2]);
    }

    [Fact]
    public void SeveralDisjointHolesAreSolvedOnSeparateCrops()
    {
        int w = 400, h = 150;
        var m = Rects(w, h, new PixelRect(10, 10, 20, 20), new PixelRect(300, 100, 25, 30), new PixelRect(200, 60, 6, 6));
        var boxes = ContentAwareFill.CropBoxes(m.Data, w, h, new ContentAwareOptions());
        Assert.True(boxes.Count >= 2, $"expected separate crops, got {boxes.Count}");
        Assert.True(boxes.Sum(b => b.Area) < (long)w * h, "crops should not cover the canvas");
        var truth = Texture(w, h);
        var input = Holed(truth, m);
        var result = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 5 });
        AssertUnchangedOutside(input, result, m);
        double err = HoleError(result, truth, m), baseline = MeanFillError(truth, m);
        Assert.True(err < 0.25 * baseline, $"multi-hole error {err:F1} vs mean-fill {baseline:F1}");
    }

    [Fact]
    public void OnePixelStrokesAreFilledSeamlessly()
    {
        int w = 140, h = 90;
        var m = new Mask(w, h);
        for (int x = 5; x < 135; x++) m.Data[40 * w + x] = 255;                 // horizontal 1 px line
        for (int i = 0; i < 70; i++) m.Data[(10 + i) * w + 20 + i] = 255;     // diagonal 1 px line
        for (int y = 0; y < h; y++) m.Data[y * w + 100] = 255;                 // vertical line through both borders
        var truth = Texture(w, h);
        var input = Holed(truth, m);
        var result = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 9 });
        AssertUnchangedOutside(input, result, m);
        double err = HoleError(result, truth, m), baseline = MeanFillError(truth, m);
        Assert.True(err < 0.2 * baseline, $"stroke error {err:F1} vs mean-fill {baseline:F1}");
    }

    [Fact]
    public void FullMaskIsAClearError()
    {
        var input = Texture(64, 48);
        var m = new Mask(64, 48);
        m.Data.AsSpan().Fill(255);
        var e = Assert.Throws<NothingToCopyException>(() => ContentAwareFill.Fill(input, m));
        Assert.Contains("nothing to copy from", e.Message);
        // Nearly full: a sliver of known pixels narrower than one patch is just as hopeless.
        var m2 = Rects(64, 48, new PixelRect(3, 0, 61, 48));
        Assert.Throws<NothingToCopyException>(() => ContentAwareFill.Fill(input, m2));
    }

    [Fact]
    public void EmptyMaskReturnsTheInput()
    {
        var input = Texture(70, 33);
        var result = ContentAwareFill.Fill(input, new Mask(70, 33));
        Assert.NotSame(input, result);
        Assert.True(input.Data.AsSpan().SequenceEqual(result.Data));
    }

    [Fact]
    public void TransparentPixelsAreTheHoleWhenThereIsNoMask()
    {
        var truth = Texture(120, 80);
        var input = truth.Clone();
        var m = Rects(120, 80, new PixelRect(40, 30, 25, 20));
        for (int i = 0; i < m.Data.Length; i++) if (m.Data[i] != 0) input.Data.AsSpan(i * 4, 4).Clear();
        var result = ContentAwareFill.Fill(input, null, new ContentAwareOptions { Seed = 2 });
        AssertUnchangedOutside(input, result, m);
        for (int i = 0; i < m.Data.Length; i++) if (m.Data[i] != 0) Assert.Equal(255, result.Data[i * 4 + 3]);
        Assert.True(HoleError(result, truth, m) < 0.25 * MeanFillError(truth, m));
    }

    [Theory]
    [InlineData(PixelDepth.U16)]
    [InlineData(PixelDepth.F32)]
    public void OtherDepthsKeepKnownPixelsBitExact(PixelDepth depth)
    {
        var truth = Texture(90, 70, depth);
        var m = Rects(90, 70, new PixelRect(30, 20, 20, 25));
        var input = Holed(truth, m);
        var result = ContentAwareFill.Fill(input, m, new ContentAwareOptions { Seed = 4 });
        AssertUnchangedOutside(input, result, m);
        var u8 = Texture(90, 70);
        var r8 = ContentAwareFill.Fill(Holed(u8, m), m, new ContentAwareOptions { Seed = 4 });
        // Same content at another depth: the fill agrees with the 8-bit one to within rounding.
        double diff = 0; int n = 0;
        for (int i = 0; i < m.Data.Length; i++)
            if (m.Data[i] != 0)
                for (int k = 0; k < 3; k++)
                {
                    double v = depth == PixelDepth.U16 ? result.Pixels16[i * 4 + k] / 257.0 : result.PixelsF[i * 4 + k] * 255.0;
                    diff += Math.Abs(v - r8.Data[i * 4 + k]); n++;
                }
        Assert.True(diff / n < 2, $"mean difference to the 8-bit fill {diff / n:F2}");
    }

    [Fact]
    public void PartialCoverageBlends()
    {
        var truth = Texture(80, 60);
        var m = Rects(80, 60, new PixelRect(30, 20, 16, 16));
        m.Data[25 * 80 + 30] = 128; // one half-covered pixel on the edge
        var result = ContentAwareFill.Fill(truth, m, new ContentAwareOptions { Seed = 1 });
        var full = ContentAwareFill.Fill(truth, Rects(80, 60, new PixelRect(30, 20, 16, 16)), new ContentAwareOptions { Seed = 1 });
        int i = (25 * 80 + 30) * 4;
        // Half-covered: between the original and a full fill (both fills solve the same hole).
        int lo = Math.Min(truth.Data[i], full.Data[i]), hi = Math.Max(truth.Data[i], full.Data[i]);
        Assert.InRange(result.Data[i], lo - 1, hi + 1);
    }

    [Fact]
    public void CancellationStopsTheFill()
    {
        var input = Texture(200, 150);
        var m = Rects(200, 150, new PixelRect(50, 40, 80, 60));
        using var cts = new CancellationTokenSource();
        int reports = 0;
        var progress = new InlineProgress(p => { reports++; if (p.Step == 2) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => ContentAwareFill.Fill(Holed(input, m), m, new ContentAwareOptions(), progress, cts.Token));
        Assert.InRange(reports, 3, 4); // 0, 1, 2, then at most one more iteration
    }

    [Fact]
    public void CancellationDuringSetUpOfALargeCropStopsTheSetUp()
    {
        // Setting up a 2048x1536 crop (distance maps, source lists, pyramid) takes 100+ ms before the first iteration;
        // it polls the token per row, so a cancel 20 ms into it ends it there.
        const int W = 2048, H = 1536;
        var pix = new float[W * H * 4];
        var rng = new Random(5);
        for (int i = 0; i < pix.Length; i++) pix[i] = rng.Next(256);
        var hole = new byte[W * H];
        for (int y = 400; y < 1100; y++) hole.AsSpan(y * W + 500, 1000).Fill(1);
        using var cts = new CancellationTokenSource();
        // A plain thread, not CancelAfter: this synchronous test holds a pool thread and a pool-queued timer callback
        // can be late here (the daemon's deadlines are tested end to end in the daemon tests).
        var canceller = new Thread(() => { Thread.Sleep(20); cts.Cancel(); });
        var sw = System.Diagnostics.Stopwatch.StartNew();
        canceller.Start();
        Assert.ThrowsAny<OperationCanceledException>(() => new PatchMatchCompletion(pix, hole, W, H, new ContentAwareOptions(), cts.Token));
        canceller.Join();
        Assert.True(sw.ElapsedMilliseconds < 5000, $"set-up stopped {sw.ElapsedMilliseconds} ms after the start");
    }

    [Fact]
    public void ProgressCountsUpToTheTotal()
    {
        var input = Texture(120, 90);
        var m = Rects(120, 90, new PixelRect(40, 30, 30, 30));
        var seen = new List<ContentAwareProgress>();
        ContentAwareFill.Fill(Holed(input, m), m, new ContentAwareOptions(), new InlineProgress(seen.Add));
        Assert.True(seen.Count > 2);
        Assert.Equal(0, seen[0].Step);
        Assert.Equal(seen[0].Total, seen[^1].Step);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second.Step == p.First.Step + 1));
    }

    [Fact]
    public void VectorisedPatchDistanceMatchesScalar()
    {
        var rng = new Random(7);
        int w = 37, h = 23; // non-square plane
        var plane = new float[w * h * 4];
        for (int i = 0; i < plane.Length; i++) plane[i] = (float)(rng.NextDouble() * 255);
        foreach (int p in new[] { 3, 5, 7, 9, 15 })
            for (int t = 0; t < 20; t++)
            {
                int ax = rng.Next(0, w - p + 1), ay = rng.Next(0, h - p + 1), bx = rng.Next(0, w - p + 1), by = rng.Next(0, h - p + 1);
                int a = (ay * w + ax) * 4, b = (by * w + bx) * 4;
                float reference = PatchDistance.SsdScalar(plane, a, b, w * 4, p, p * 4);
                float fast;
                unsafe { fixed (float* f = plane) fast = PatchDistance.Ssd(f + a, f + b, w * 4, p, p * 4, float.PositiveInfinity); }
                Assert.True(Math.Abs(fast - reference) <= 1e-4 * reference + 1e-3, $"p={p}: {fast} vs {reference}");
                float early;
                unsafe { fixed (float* f = plane) early = PatchDistance.Ssd(f + a, f + b, w * 4, p, p * 4, reference * 0.1f); }
                Assert.True(early > reference * 0.1f, "early exit must still report a loss");
            }
    }

    [Fact]
    public void ScatterMeanVoteMatchesGatherReference()
    {
        var truth = Texture(110, 77);
        var m = Rects(110, 77, new PixelRect(35, 25, 30, 28));
        var input = Holed(truth, m);
        // Mean voting everywhere, so only the vote implementation differs.
        var o = new ContentAwareOptions { Seed = 11, FinestVoting = ContentAwareVoting.Mean };
        var fast = ContentAwareFill.Fill(input, m, o);
        var reference = ContentAwareFill.Fill(input, m, o with { GatherMeanVote = true });
        int maxDiff = 0;
        for (int i = 0; i < fast.Data.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(fast.Data[i] - reference.Data[i]));
        // Summation order differs, so the search may diverge by a rounding; the results must stay close.
        Assert.True(HoleError(fast, reference, m) < 3, $"scatter vs gather mean error {HoleError(fast, reference, m):F2} (max {maxDiff})");
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        var input = Texture(40, 30);
        var m = Rects(40, 30, new PixelRect(10, 10, 5, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => ContentAwareFill.Fill(input, m, new ContentAwareOptions { PatchSize = 6 }));
        Assert.Throws<ArgumentException>(() => ContentAwareFill.Fill(input, new Mask(41, 30)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ContentAwareFill.Fill(input, m, new ContentAwareOptions { GuideCoarsest = 1.5f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ContentAwareFill.Fill(input, m, new ContentAwareOptions { LocalityWeight = -1 }));
    }

    private sealed class InlineProgress(Action<ContentAwareProgress> report) : IProgress<ContentAwareProgress>
    {
        public void Report(ContentAwareProgress value) => report(value);
    }
}
