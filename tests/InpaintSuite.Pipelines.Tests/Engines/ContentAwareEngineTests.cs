using InpaintSuite.Imaging;
using InpaintSuite.Pipelines.Engines;
using Xunit;

namespace InpaintSuite.Pipelines.Tests.Engines;

public class ContentAwareEngineTests
{
    private static (RgbaImage Image, Mask Mask) Case(int w, int h)
    {
        var im = new RgbaImage(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 4;
                im.Data[i] = (byte)(x * 8 % 256); im.Data[i + 1] = (byte)(y * 12 % 256); im.Data[i + 2] = (byte)((x + y) % 10 * 25); im.Data[i + 3] = 255;
            }
        var m = new Mask(w, h);
        for (int y = h / 3; y < h / 2; y++) for (int x = w / 3; x < w / 2; x++) { m.Data[y * w + x] = 255; im.Data.AsSpan((y * w + x) * 4, 3).Clear(); }
        return (im, m);
    }

    [Fact]
    public void NameAndOperations()
    {
        var e = new ContentAwareEngine();
        Assert.Equal("content-aware", e.Name);
        Assert.True(e.Supports(Operation.Inpaint));
        Assert.True(e.Supports(Operation.Outpaint));
        Assert.False(e.Supports(Operation.ImageToImage));
        Assert.False(e.Supports(Operation.DepthToImage));
    }

    [Fact]
    public async Task BatchUsesConsecutiveSeedsAndKeepsUnmaskedPixels()
    {
        var (im, m) = Case(90, 66);
        var progress = new List<OperationProgress>();
        var e = new ContentAwareEngine();
        var results = await e.FillAsync(new FillRequest { Operation = Operation.Inpaint, Region = im, Mask = m, Seed = 10, BatchSize = 2 },
            new InlineProgress(progress.Add), CancellationToken.None);
        Assert.Equal(2, results.Count);
        foreach (var r in results)
        {
            Assert.Equal(90, r.Width);
            Assert.Equal(66, r.Height);
            for (int i = 0; i < m.Data.Length; i++)
                if (m.Data[i] == 0) Assert.True(im.Data.AsSpan(i * 4, 4).SequenceEqual(r.Data.AsSpan(i * 4, 4)));
        }
        var second = await e.FillAsync(new FillRequest { Operation = Operation.Inpaint, Region = im, Mask = m, Seed = 11 }, null, CancellationToken.None);
        Assert.True(second[0].Data.AsSpan().SequenceEqual(results[1].Data), "batch item 1 must equal a single run with seed + 1");
        Assert.NotEmpty(progress);
        Assert.Equal(progress[^1].Total, progress[^1].Step);
    }

    [Fact]
    public async Task FullMaskIsAnInvalidRequest()
    {
        var (im, _) = Case(40, 30);
        var m = new Mask(40, 30);
        m.Data.AsSpan().Fill(255);
        var ex = await Assert.ThrowsAsync<InvalidRequestException>(() =>
            new ContentAwareEngine().FillAsync(new FillRequest { Operation = Operation.Outpaint, Region = im, Mask = m, Seed = 0 }, null, CancellationToken.None));
        Assert.Equal("mask", ex.Field);
        Assert.Contains("nothing to copy from", ex.Message);
    }

    [Fact]
    public async Task Img2ImgIsRefused()
    {
        var (im, m) = Case(40, 30);
        await Assert.ThrowsAsync<InvalidRequestException>(() =>
            new ContentAwareEngine().FillAsync(new FillRequest { Operation = Operation.ImageToImage, Region = im, Mask = m, Seed = 0 }, null, CancellationToken.None));
    }

    [Fact]
    public async Task CancelledTokenCancels()
    {
        var (im, m) = Case(90, 66);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            new ContentAwareEngine().FillAsync(new FillRequest { Operation = Operation.Inpaint, Region = im, Mask = m, Seed = 0 }, null, cts.Token));
    }

    private sealed class InlineProgress(Action<OperationProgress> report) : IProgress<OperationProgress>
    {
        public void Report(OperationProgress value) => report(value);
    }
}
