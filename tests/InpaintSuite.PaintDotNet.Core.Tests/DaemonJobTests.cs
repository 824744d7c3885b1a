using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.PaintDotNet.Core;
using InpaintSuite.Pipelines;
using Microsoft.Extensions.Logging;
using Xunit;

namespace InpaintSuite.PaintDotNet.Core.Tests;

/// <summary>
/// The plugin core against a real daemon (DaemonHost: Kestrel, hand-written gRPC, job queue) on
/// 127.0.0.1 with ephemeral ports, called through the Protocol project's client. The engine behind
/// it is <see cref="MeanFillRunner"/> (the daemon's production runner is wired elsewhere); everything
/// between the plugin and the engine is the real thing.
/// </summary>
public sealed class DaemonJobTests : IAsyncLifetime
{
    private readonly MeanFillRunner runner = new();
    private DaemonHost host = null!;

    public async Task InitializeAsync()
    {
        host = await DaemonHost.StartAsync(new DaemonOptions
        {
            GrpcPort = 0,
            BridgePort = 0,
            Runner = runner,
            MinimumLogLevel = LogLevel.Warning,
            ShutdownGrace = TimeSpan.FromSeconds(2),
        });
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    private DaemonInpaintService Service() => new(host.GrpcAddress);

    [Fact]
    public async Task IrregularAntialiasedSelectionIsFilledAndUnselectedPixelsAreUntouched()
    {
        var src = TestImages.Gradient(333, 211);
        var sel = TestImages.IrregularSelection(333, 211);
        TestImages.PaintSelected(src, sel, (255, 0, 255, 255)); // the "object" to remove: magenta
        var before = src.Clone();
        var stages = new List<string>();

        using var service = Service();
        var result = await InpaintJob.RunAsync(service, src, sel, new InpaintSettings { Engine = "fill", Seed = 5, Feather = 3 },
            new SyncProgress(p => stages.Add(p.Stage)), CancellationToken.None);
        var output = result.RenderAll();

        Assert.True(src.PixelsEqual(before), "the source was written to");
        Assert.Equal(5UL, result.Seed);
        Assert.Contains("fill", stages);
        int filled = 0, partial = 0;
        for (int y = 0; y < 211; y++)
            for (int x = 0; x < 333; x++)
            {
                byte c = sel[x, y];
                if (c == 0) Assert.Equal(src[x, y], output[x, y]);
                else if (c == 255)
                {
                    var o = output[x, y];
                    Assert.True(o.B < 200 && o.R < 200, $"({x},{y}) still magenta: {o}");
                    filled++;
                }
                else
                {
                    // Antialiased edge: strictly between the source and the fill.
                    Assert.NotEqual(src[x, y], output[x, y]);
                    partial++;
                }
            }
        Assert.True(filled > 3000 && partial > 100, $"filled {filled}, partial {partial}");
        // The daemon got a crop with the selection's own coverage, not the whole layer.
        Assert.True(runner.LastImageSize.Width < 333 || runner.LastImageSize.Height < 211, $"sent {runner.LastImageSize}");
    }

    [Fact]
    public async Task TransparentCanvasAfterAResizeIsOutpaintedAndThePictureIsKept()
    {
        var (canvas, picture) = TestImages.CanvasResized(180, 120, left: 30, top: 10, right: 50, bottom: 0);
        var before = canvas.Clone();
        using var service = Service();
        var result = await InpaintJob.RunAsync(service, canvas, SelectionMask.WholeImage(canvas.Width, canvas.Height),
            new InpaintSettings { Engine = "fill", Feather = 0 }, null, CancellationToken.None);
        var output = result.RenderAll();

        Assert.True(canvas.PixelsEqual(before));
        for (int y = 0; y < canvas.Height; y++)
            for (int x = 0; x < canvas.Width; x++)
            {
                if (picture.Contains(x, y)) Assert.Equal(canvas[x, y], output[x, y]);
                else Assert.Equal(255, output[x, y].A); // the new canvas is now opaque, filled
            }
        Assert.Equal(FillModeWire.ContentAware, runner.LastFillMode);
    }

    [Fact]
    public async Task CancelMidJobReturnsPromptlyStopsTheDaemonJobAndLeavesTheSource()
    {
        runner.StepDelay = TimeSpan.FromMilliseconds(200);
        runner.Steps = 100; // 20 s if not cancelled
        var src = TestImages.Gradient(150, 97);
        var before = src.Clone();
        using var service = Service();
        using var cts = new CancellationTokenSource();
        var job = InpaintJob.RunAsync(service, src, SelectionMask.FromScans(150, 97, [new PixelBox(40, 30, 50, 20)]),
            new InpaintSettings { Engine = "fill" }, null, cts.Token);
        await runner.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => job);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"cancel took {sw.Elapsed}");
        // The dropped stream cancels the daemon's job.
        await runner.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(src.PixelsEqual(before));
    }

    [Fact]
    public async Task DaemonUnreachableGivesAClearMessage()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();

        using var service = new DaemonInpaintService($"http://127.0.0.1:{port}");
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<InpaintServiceException>(() => InpaintJob.RunAsync(service, TestImages.Gradient(64, 48),
            SelectionMask.FromScans(64, 48, [new PixelBox(10, 10, 20, 20)]), new InpaintSettings(), null, CancellationToken.None));
        Assert.Equal(InpaintFailure.DaemonUnreachable, e.Failure);
        Assert.StartsWith($"The InpaintSuite daemon is not reachable at http://127.0.0.1:{port}/", e.Message);
        Assert.Contains("inpaintsuite serve", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task DaemonRefusalIsReportedWithItsReason()
    {
        using var service = Service();
        var e = await Assert.ThrowsAsync<InpaintServiceException>(() => InpaintJob.RunAsync(service, TestImages.Gradient(64, 48),
            SelectionMask.FromScans(64, 48, [new PixelBox(10, 10, 20, 20)]), new InpaintSettings { Engine = "no-such-model" }, null, CancellationToken.None));
        Assert.Equal(InpaintFailure.Rejected, e.Failure);
        Assert.Contains("no-such-model", e.Message);
    }

    private sealed class SyncProgress(Action<InpaintProgress> report) : IProgress<InpaintProgress>
    {
        public void Report(InpaintProgress value) { lock (this) report(value); }
    }
}

internal enum FillModeWire { Unknown, ContentAware, Other }

/// <summary>
/// Test engine: fills the masked area with the mean colour of the opaque unmasked pixels; patch alpha =
/// mask. Optional slow steps (cancellable) so cancellation can be observed inside the daemon.
/// </summary>
internal sealed class MeanFillRunner : IOperationRunner
{
    public int Steps { get; set; } = 2;
    public TimeSpan StepDelay { get; set; }
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public (int Width, int Height) LastImageSize { get; private set; }
    public FillModeWire LastFillMode { get; private set; }

    public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        Started.TrySetResult();
        if (request.Settings.Engine is not (EngineNames.Auto or EngineNames.Fill or EngineNames.ContentAware))
            throw new EngineNotFoundException(request.Settings.Engine);
        LastImageSize = (request.Image.Width, request.Image.Height);
        LastFillMode = request.MaskOptions.FillMode == FillMode.ContentAware ? FillModeWire.ContentAware : FillModeWire.Other;
        try
        {
            for (int i = 1; i <= Steps; i++)
            {
                if (StepDelay > TimeSpan.Zero) await Task.Delay(StepDelay, cancellationToken);
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new OperationProgress(i, Steps, "fill"));
            }
        }
        catch (OperationCanceledException)
        {
            Cancelled.TrySetResult();
            throw;
        }
        var img = request.Image;
        var mask = request.Mask ?? throw new InvalidOperationException("the plugin always sends a mask");
        Assert.Equal(PixelDepth.U8, img.Depth);
        long r = 0, g = 0, b = 0, n = 0;
        for (int p = 0; p < mask.Data.Length; p++)
            if (mask.Data[p] == 0 && img.Data[p * 4 + 3] == 255) { r += img.Data[p * 4]; g += img.Data[p * 4 + 1]; b += img.Data[p * 4 + 2]; n++; }
        n = Math.Max(n, 1);
        var patch = new RgbaImage(img.Width, img.Height);
        for (int p = 0; p < mask.Data.Length; p++)
        {
            patch.Data[p * 4] = (byte)(r / n); patch.Data[p * 4 + 1] = (byte)(g / n); patch.Data[p * 4 + 2] = (byte)(b / n);
            patch.Data[p * 4 + 3] = mask.Data[p];
        }
        return new OperationResult
        {
            Patches = [new ResultPatch(0, 0, patch, request.Settings.Seed ?? 1)],
            Engine = EngineNames.Fill,
            CanvasWidth = img.Width,
            CanvasHeight = img.Height,
        };
    }
}
