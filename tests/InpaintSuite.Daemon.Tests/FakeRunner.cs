using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;

namespace InpaintSuite.Daemon.Tests;

/// <summary>
/// A runner doing no real work: the patch is the input with every pixel's alpha = mask coverage
/// (so tests can check bytes), after <see cref="Steps"/> progress steps of <see cref="StepDelay"/>.
/// Records cancellations so tests can see the job stop.
/// </summary>
public sealed class FakeRunner : IOperationRunner
{
    public int Steps { get; set; } = 3;
    public TimeSpan StepDelay { get; set; } = TimeSpan.Zero;
    public int Started;
    public int Completed;
    public int Cancelled;
    public readonly TaskCompletionSource FirstStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public readonly TaskCompletionSource FirstCancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public Func<OperationRequest, Exception?>? Fail { get; set; }

    public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Started);
        FirstStarted.TrySetResult();
        try
        {
            if (Fail?.Invoke(request) is { } failure) throw failure;
            if (request.Settings.Engine is not (EngineNames.Auto or EngineNames.Fill or EngineNames.ContentAware))
                throw new EngineNotFoundException(request.Settings.Engine);
            for (int i = 1; i <= Steps; i++)
            {
                if (StepDelay > TimeSpan.Zero) await Task.Delay(StepDelay, cancellationToken);
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new OperationProgress(i, Steps, "fill"));
            }
            var patch = request.Image.Clone();
            if (request.Mask is { } mask && patch.Depth == PixelDepth.U8)
                for (int p = 0; p < mask.Data.Length; p++) patch.Data[p * 4 + 3] = mask.Data[p];
            Interlocked.Increment(ref Completed);
            return new OperationResult
            {
                Patches = [new ResultPatch(0, 0, patch, request.Settings.Seed ?? 42)],
                Engine = EngineNames.Fill,
                CanvasWidth = request.Image.Width,
                CanvasHeight = request.Image.Height,
            };
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref Cancelled);
            FirstCancelled.TrySetResult();
            throw;
        }
    }
}
