using System.Diagnostics;
using InpaintSuite.PaintDotNet.Core;
using Xunit;

namespace InpaintSuite.PaintDotNet.Core.Tests;

/// <summary>The job's logic against an in-test service (the real daemon runs in DaemonJobTests).</summary>
public class JobTests
{
    [Fact]
    public async Task IrregularSelectionFillsSelectedPixelsAndLeavesTheRestByteIdentical()
    {
        var src = TestImages.Gradient(260, 170);
        var sel = TestImages.IrregularSelection(260, 170);
        TestImages.PaintSelected(src, sel, (255, 0, 255, 255));
        var before = src.Clone();

        var r = await InpaintJob.RunAsync(new FakeInpaintService(), src, sel, new InpaintSettings(), null, CancellationToken.None);
        var outp = r.RenderAll();
        Assert.True(src.PixelsEqual(before), "the source must never be written");
        for (int y = 0; y < 170; y++)
            for (int x = 0; x < 260; x++)
            {
                if (sel[x, y] == 0) Assert.Equal(src[x, y], outp[x, y]);
                if (sel[x, y] == 255) Assert.NotEqual((byte)255, outp[x, y].B); // magenta gone
            }
        Assert.Equal("fake", r.Engine);
    }

    [Fact]
    public async Task CancelReturnsPromptlyEvenIfTheServiceIgnoresItAndLeavesTheSourceUntouched()
    {
        var src = TestImages.Gradient(120, 90);
        var before = src.Clone();
        var svc = new FakeInpaintService { Delay = TimeSpan.FromSeconds(30), IgnoreCancellation = true };
        using var cts = new CancellationTokenSource();
        var job = InpaintJob.RunAsync(svc, src, SelectionMask.FromScans(120, 90, [new PixelBox(30, 20, 40, 30)]), new InpaintSettings(), null, cts.Token);
        await svc.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => job);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"cancel took {sw.Elapsed}");
        Assert.True(src.PixelsEqual(before));
    }
}
