using InpaintSuite.Protocol.Grpc;
using InpaintSuite.Protocol.Health;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.Protocol;

/// <summary>
/// Client of the daemon's gRPC service (inpaintsuite.v1.Inpainter and grpc.health.v1.Health).
/// Streams end normally after the result event; errors are <see cref="GrpcStatusException"/>;
/// cancelling the token (or breaking out of the loop) resets the stream, which cancels the job.
/// </summary>
public sealed class InpainterClient : IDisposable
{
    public const string ServiceName = "inpaintsuite.v1.Inpainter";
    public const string HealthServiceName = "grpc.health.v1.Health";

    private readonly GrpcChannel _channel;

    public InpainterClient(Uri address, GrpcChannelOptions? options = null) => _channel = new GrpcChannel(address, options);

    public InpainterClient(GrpcChannel channel) => _channel = channel;

    public GrpcChannel Channel => _channel;

    public IAsyncEnumerable<JobEvent> Inpaint(InpaintRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.ServerStreamingAsync($"/{ServiceName}/Inpaint", request, JobEvent.Parser, deadline, cancellationToken);

    public IAsyncEnumerable<JobEvent> Outpaint(OutpaintRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.ServerStreamingAsync($"/{ServiceName}/Outpaint", request, JobEvent.Parser, deadline, cancellationToken);

    public IAsyncEnumerable<JobEvent> ImageToImage(ImageToImageRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.ServerStreamingAsync($"/{ServiceName}/ImageToImage", request, JobEvent.Parser, deadline, cancellationToken);

    public IAsyncEnumerable<JobEvent> DepthToImage(DepthToImageRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.ServerStreamingAsync($"/{ServiceName}/DepthToImage", request, JobEvent.Parser, deadline, cancellationToken);

    /// <summary>Text-to-image (a diffusion model from pure noise at width x height); same event stream as the other operations.</summary>
    public IAsyncEnumerable<JobEvent> TextToImage(TextToImageRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.ServerStreamingAsync($"/{ServiceName}/TextToImage", request, JobEvent.Parser, deadline, cancellationToken);

    public Task<CancelJobResponse> CancelJobAsync(string jobId, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.UnaryAsync($"/{ServiceName}/CancelJob", new CancelJobRequest { JobId = jobId }, CancelJobResponse.Parser, deadline, cancellationToken);

    public Task<ListModelsResponse> ListModelsAsync(TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.UnaryAsync($"/{ServiceName}/ListModels", new ListModelsRequest(), ListModelsResponse.Parser, deadline, cancellationToken);

    public Task<Capabilities> GetCapabilitiesAsync(TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.UnaryAsync($"/{ServiceName}/GetCapabilities", new GetCapabilitiesRequest(), Capabilities.Parser, deadline, cancellationToken);

    public Task<HealthCheckResponse> CheckHealthAsync(string service = "", TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        _channel.UnaryAsync($"/{HealthServiceName}/Check", new HealthCheckRequest { Service = service }, HealthCheckResponse.Parser, deadline, cancellationToken);

    public IAsyncEnumerable<HealthCheckResponse> WatchHealth(string service = "", CancellationToken cancellationToken = default) =>
        _channel.ServerStreamingAsync($"/{HealthServiceName}/Watch", new HealthCheckRequest { Service = service }, HealthCheckResponse.Parser, null, cancellationToken);

    /// <summary>Runs a stream to its result event (progress reported on the way).</summary>
    public static async Task<(string JobId, Result Result)> RunToResultAsync(IAsyncEnumerable<JobEvent> events, Action<JobEvent>? onEvent = null, CancellationToken cancellationToken = default)
    {
        string jobId = "";
        Result? result = null;
        await foreach (var e in events.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (e.JobId.Length > 0) jobId = e.JobId;
            onEvent?.Invoke(e);
            if (e.EventCase == JobEvent.EventOneofCase.Result) result = e.Result;
        }
        return (jobId, result ?? throw new GrpcStatusException(GrpcStatusCode.Internal, "The stream ended without a result."));
    }

    public void Dispose() => _channel.Dispose();
}
