using InpaintSuite.Pipelines;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// The wire face of the job core, shared by both endpoints (gRPC and the JSON bridge): wire request -> core request
/// (<see cref="WireMapping"/>) -> <see cref="JobQueue.Submit"/>, and core updates -> wire events. The core never sees
/// a wire type; the input's pixel format stays here, with the call, to format the result patches.
/// </summary>
public sealed class InpainterService(JobQueue queue, DaemonOptions options, IEngineCatalog catalog)
{
    public JobQueue Queue => queue;

    /// <summary>The one set of limits: validation at submit and GetCapabilities both read it.</summary>
    public RequestLimits Limits => queue.Limits;

    public Job Submit(W.InpaintRequest r) => queue.Submit(WireMapping.ToRequest(r, Limits), r.Priority, r.Client);

    public Job Submit(W.OutpaintRequest r) => queue.Submit(WireMapping.ToRequest(r, Limits), r.Priority, r.Client);

    public Job Submit(W.ImageToImageRequest r) => queue.Submit(WireMapping.ToRequest(r, Limits), r.Priority, r.Client);

    public Job Submit(W.DepthToImageRequest r) => queue.Submit(WireMapping.ToRequest(r, Limits), r.Priority, r.Client);

    public Job Submit(W.TextToImageRequest r) => queue.Submit(WireMapping.ToRequest(r, Limits), r.Priority, r.Client);

    /// <summary>The job's events until its result; the call ending early (reset, deadline) cancels the job.</summary>
    public async IAsyncEnumerable<W.JobEvent> EventsAsync(Job job, W.PixelFormat inputFormat, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken callEnded)
    {
        await foreach (var update in queue.WatchAsync(job, callEnded).ConfigureAwait(false))
            yield return WireMapping.ToWire(update, job.Id, inputFormat);
    }

    public W.CancelJobResponse CancelJob(W.CancelJobRequest r) => WireMapping.ToWire(queue.Cancel(r.JobId));

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
            MaxMessageBytes = (ulong)options.MaxMessageBytes,
            AuthRequired = options.AuthToken != null,
        };
        WireMapping.ToWire(Limits, caps);
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
}
