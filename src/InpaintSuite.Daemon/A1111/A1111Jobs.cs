using InpaintSuite.Pipelines;

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
/// shares the workers and is cancellable like gRPC jobs) and waits for its result through the queue's core events.
/// </summary>
public sealed class A1111Jobs(JobQueue queue)
{
    public const string ClientName = "a1111";

    /// <summary>
    /// Runs <paramref name="request"/> through the queue; <paramref name="ct"/> (the HTTP call ending) cancels the job.
    /// A failed job throws its cause (so the endpoint maps it as it maps a validation error).
    /// </summary>
    public async Task<OperationResult> RunAsync(OperationRequest request, IA1111JobObserver observer, CancellationToken ct)
    {
        var job = queue.Submit(request, 0, ClientName);
        observer.Submitted(job.Id);
        try
        {
            await foreach (var update in queue.WatchAsync(job, ct).ConfigureAwait(false))
            {
                switch (update)
                {
                    case JobStarted: observer.Started(job.Id); break;
                    case JobProgress p: observer.Progress(p.Progress); break;
                    case JobCompleted c: return c.Result;
                }
            }
        }
        catch (JobFailedException e) when (e.InnerException != null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
        throw new InvalidOperationException($"job {job.Id} ended without a result");
    }

    /// <summary>Cancels a job (interrupt / skip); false when it had already finished.</summary>
    public bool Cancel(string jobId) => queue.Cancel(jobId).Cancelled;
}
