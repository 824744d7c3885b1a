using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.A1111;

/// <summary>One running job of the A1111 endpoint, as it reports itself to the /progress snapshot.</summary>
public interface IA1111JobObserver
{
    /// <summary>The job is queued (interrupt/skip can cancel it from now on).</summary>
    void Submitted(string jobId);
    void Started(string jobId);
    void Progress(OperationProgress progress);
}

/// <summary>
/// The only place the A1111 endpoint touches the job queue: submits an operation as client "a1111" (so it queues,
/// shares the workers and is cancellable like gRPC jobs) and waits for its result.
/// </summary>
public sealed class A1111Jobs(JobQueue queue)
{
    public const string ClientName = "a1111";

    private static readonly WireConversions.Limits NoLimits = new(long.MaxValue, int.MaxValue);

    /// <summary>Runs <paramref name="request"/> through the queue; <paramref name="ct"/> (the HTTP call ending) cancels the job.</summary>
    public async Task<OperationResult> RunAsync(OperationRequest request, IA1111JobObserver observer, CancellationToken ct)
    {
        var job = queue.Submit(request, 0, ClientName, request.Image.Depth switch
        {
            PixelDepth.U16 => W.PixelFormat.Rgba16,
            PixelDepth.F32 => W.PixelFormat.Rgba32F,
            _ => W.PixelFormat.Rgba8,
        });
        observer.Submitted(job.Id);
        bool done = false;
        try
        {
            W.Result? result = null;
            while (await job.Events.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (job.Events.TryRead(out var e))
                {
                    switch (e.EventCase)
                    {
                        case W.JobEvent.EventOneofCase.Started: observer.Started(job.Id); break;
                        case W.JobEvent.EventOneofCase.Progress:
                            observer.Progress(new OperationProgress((int)e.Progress.Step, (int)e.Progress.Total, e.Progress.Stage,
                                e.Progress.Preview is { Width: > 0 } p ? WireConversions.ToImage(p, "preview", NoLimits) : null));
                            break;
                        case W.JobEvent.EventOneofCase.Result: result = e.Result; break;
                    }
                }
            }
            done = true;
            return FromWire(result ?? throw new InvalidOperationException($"job {job.Id} ended without a result"));
        }
        finally
        {
            if (!done && job.State != JobState.Finished) queue.Cancel(job.Id, JobCancelReason.CallEnded);
        }
    }

    /// <summary>Cancels a job (interrupt / skip); false when it had already finished.</summary>
    public bool Cancel(string jobId) => queue.Cancel(jobId).Cancelled;

    private static OperationResult FromWire(W.Result r) => new()
    {
        Patches = [.. r.Patches.Select(p => new ResultPatch(p.X, p.Y, WireConversions.ToImage(p.Image, "patch", NoLimits), p.Seed))],
        Engine = r.Engine,
        CanvasWidth = (int)r.CanvasWidth,
        CanvasHeight = (int)r.CanvasHeight,
        InputOffsetX = r.InputOffsetX,
        InputOffsetY = r.InputOffsetY,
        EngineTime = TimeSpan.FromSeconds(r.Timings?.EngineSeconds ?? 0),
    };
}
