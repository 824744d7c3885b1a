using InpaintSuite.Pipelines;
using InpaintSuite.Protocol.Grpc;
using InpaintSuite.Protocol.Health;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>The service behind both transports (gRPC and the JSON bridge): same validation, same jobs.</summary>
public sealed class InpainterService(JobQueue queue, DaemonOptions options, IEngineCatalog catalog, HealthState health)
{
    public JobQueue Queue => queue;

    public HealthState Health => health;

    private WireConversions.Limits Limits => new(options.MaxPixels, options.MaxBatch);

    public Job Submit(W.InpaintRequest r) => Enqueue(WireConversions.ToRequest(r, Limits), r.Priority, r.Client, r.Image.Format);

    public Job Submit(W.OutpaintRequest r) => Enqueue(WireConversions.ToRequest(r, Limits), r.Priority, r.Client, r.Image.Format);

    public Job Submit(W.ImageToImageRequest r) => Enqueue(WireConversions.ToRequest(r, Limits), r.Priority, r.Client, r.Image.Format);

    public Job Submit(W.DepthToImageRequest r) => Enqueue(WireConversions.ToRequest(r, Limits), r.Priority, r.Client, r.Image.Format);

    public Job Submit(W.TextToImageRequest r) => Enqueue(WireConversions.ToRequest(r, Limits), r.Priority, r.Client,
        r.Format == W.PixelFormat.Unspecified ? W.PixelFormat.Rgba8 : r.Format);

    private Job Enqueue(OperationRequest request, int priority, string client, W.PixelFormat format)
    {
        // Unknown engines fail before queueing, so both transports answer NOT_FOUND up front.
        var engine = request.Settings.Engine;
        if (!string.Equals(engine, EngineNames.Auto, StringComparison.OrdinalIgnoreCase) && !catalog.Engines.Contains(engine, StringComparer.OrdinalIgnoreCase))
            throw new EngineNotFoundException(engine);
        return queue.Submit(request, priority, client, format);
    }

    /// <summary>
    /// The job's events until its result; the call ending early (reset, deadline) cancels the job.
    /// </summary>
    public async IAsyncEnumerable<W.JobEvent> EventsAsync(Job job, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken callEnded)
    {
        var completed = false;
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await job.Events.WaitToReadAsync(callEnded).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (callEnded.IsCancellationRequested)
                {
                    queue.Cancel(job.Id, JobCancelReason.CallEnded);
                    throw;
                }
                if (!more) break;
                while (job.Events.TryRead(out var e)) yield return e;
            }
            completed = true;
        }
        finally
        {
            // A consumer that stops early (stream reset, write failure) must not leave the job running.
            if (!completed && job.State != JobState.Finished) queue.Cancel(job.Id, JobCancelReason.CallEnded);
        }
    }

    public W.CancelJobResponse CancelJob(W.CancelJobRequest r) => queue.Cancel(r.JobId);

    public W.ListModelsResponse ListModels()
    {
        var response = new W.ListModelsResponse();
        response.Models.AddRange(catalog.Models);
        return response;
    }

    public W.Capabilities GetCapabilities()
    {
        var caps = new W.Capabilities
        {
            Version = typeof(InpainterService).Assembly.GetName().Version?.ToString() ?? "0",
            MaxPixels = (ulong)options.MaxPixels,
            MaxBatch = (uint)options.MaxBatch,
            MaxMessageBytes = (ulong)options.MaxMessageBytes,
            AuthRequired = options.AuthToken != null,
        };
        caps.Engines.AddRange(catalog.Engines);
        caps.TextToImageEngines.AddRange(catalog.Models.Where(m => m.Usable && m.Operations.Contains(EngineSetup.TextToImageOperation)).Select(m => m.Name));
        caps.Schedulers.AddRange(catalog.Schedulers);
        caps.Loras.AddRange(catalog.Loras);
        caps.LoraDirectory = catalog.LoraDirectory;
        // ONNX Runtime as loaded (or why not): version, compiled-in providers, the one sessions use and why.
        var ort = Runtime.Onnx.OnnxRuntimeInfo.Describe();
        caps.OnnxruntimeVersion = ort.Version ?? "";
        caps.ExecutionProviders.AddRange(ort.Providers);
        caps.ActiveProvider = ort.ActiveProvider ?? "";
        caps.ProviderNote = ort.Available ? ort.ProviderNote ?? "" : ort.Error ?? "";
        caps.RequestedProvider = ort.RequestedProvider;
        caps.OnnxruntimeBuild = ort.BuildKind ?? "";
        foreach (var p in ort.GpuProviders)
            caps.ProviderAvailability.Add(new W.ExecutionProviderAvailability { Provider = p.Provider, Usable = p.Usable, Reason = p.Reason ?? "" });
        return caps;
    }

    public HealthCheckResponse Check(HealthCheckRequest r) =>
        new() { Status = health.StatusOf(r.Service) ?? throw new GrpcStatusException(GrpcStatusCode.NotFound, $"unknown service '{r.Service}'") };

    public async IAsyncEnumerable<HealthCheckResponse> WatchAsync(HealthCheckRequest r, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        HealthCheckResponse.Types.ServingStatus? last = null;
        while (!ct.IsCancellationRequested)
        {
            var changed = health.Changed;
            // Watch answers SERVICE_UNKNOWN (not an error) for names it does not know, like stock servers.
            var now = health.StatusOf(r.Service) ?? HealthCheckResponse.Types.ServingStatus.ServiceUnknown;
            if (now != last)
            {
                last = now;
                yield return new HealthCheckResponse { Status = now };
            }
            try { await changed.WaitAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { yield break; }
        }
    }
}

/// <summary>Serving status of the whole server ("") and the Inpainter service; Watch waits on changes.</summary>
public sealed class HealthState
{
    private volatile TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile HealthCheckResponse.Types.ServingStatus _status = HealthCheckResponse.Types.ServingStatus.Serving;

    public Task Changed => _changed.Task;

    public HealthCheckResponse.Types.ServingStatus? StatusOf(string service) =>
        service is "" or InpaintSuite.Protocol.InpainterClient.ServiceName ? _status : null;

    public void Set(HealthCheckResponse.Types.ServingStatus status)
    {
        _status = status;
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
