using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.Protocol;

/// <summary>Per-channel settings of a daemon client (CLI, Paint.NET, benchmarks).</summary>
public sealed class DaemonClientOptions
{
    /// <summary>Sent as <c>authorization: Bearer ...</c> call credentials on every call when set.</summary>
    public string? BearerToken { get; set; }

    /// <summary>Compress requests with gzip (the daemon then compresses its responses too).</summary>
    public bool Gzip { get; set; }

    /// <summary>Largest message accepted from the server (after decompression); stock's 4 MiB is too small for a layer.</summary>
    public int MaxReceiveMessageBytes { get; set; } = MessageLimits.DefaultMaxMessageBytes;

    /// <summary>Deadline applied to calls that give none; null = no deadline.</summary>
    public TimeSpan? DefaultDeadline { get; set; }

    /// <summary>
    /// For https:// addresses: trust only these (CA roots, or the daemon's own certificate, pinned)
    /// instead of the system trust store. Null or empty = the system trust store.
    /// </summary>
    public X509Certificate2Collection? TrustedCertificates { get; set; }
}

/// <summary>Message size limits shared by the daemon and its clients.</summary>
public static class MessageLimits
{
    /// <summary>An 8192x8192 RGBA8 layer plus its 8-bit mask plus 4 MiB for settings and framing (339,738,624 bytes).</summary>
    public const int DefaultMaxMessageBytes = 8192 * 8192 * 5 + 4 * 1024 * 1024;
}

/// <summary>
/// The daemon's client on stock Grpc.Net.Client: one <see cref="GrpcChannel"/> (wide HTTP/2 windows, the token as
/// call credentials, TLS checked against the given CA) with the generated <see cref="Inpainter.InpainterClient"/> and
/// <see cref="Health.HealthClient"/>. The streaming helpers dispose the call when the loop ends early or the token
/// fires, which resets the stream and so cancels the job. Errors are stock <see cref="RpcException"/>s; a failed
/// TLS handshake or a scheme mix-up says why in the status detail.
/// </summary>
public sealed class InpainterClient : IDisposable
{
    public const string ServiceName = "inpaintsuite.v1.Inpainter";
    public const string HealthServiceName = "grpc.health.v1.Health";

    private readonly ServerTrust _trust;
    private readonly DaemonClientOptions _options;

    public InpainterClient(Uri address, DaemonClientOptions? options = null)
    {
        _options = options ?? new DaemonClientOptions();
        _trust = new ServerTrust(_options.TrustedCertificates);
        Address = address;
        Channel = CreateChannel(address, _options, _trust);
        Stub = new Inpainter.InpainterClient(Channel);
        HealthStub = new Health.HealthClient(Channel);
    }

    public Uri Address { get; }

    public GrpcChannel Channel { get; }

    /// <summary>The generated client, for calls the helpers below do not cover.</summary>
    public Inpainter.InpainterClient Stub { get; }

    public Health.HealthClient HealthStub { get; }

    /// <summary>A stock channel tuned for large layers on a local link; <paramref name="trust"/> checks https servers.</summary>
    public static GrpcChannel CreateChannel(Uri address, DaemonClientOptions options, ServerTrust? trust = null)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            // Wide flow-control windows: a 64 MiB layer otherwise crawls through 64 KiB windows.
            InitialHttp2StreamWindowSize = 16 * 1024 * 1024,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        trust ??= new ServerTrust(options.TrustedCertificates);
        handler.SslOptions.RemoteCertificateValidationCallback = trust.Validate;
        var channelOptions = new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxReceiveMessageBytes,
            MaxSendMessageSize = null,
            MaxRetryAttempts = null,
        };
        if (!string.IsNullOrEmpty(options.BearerToken))
        {
            var token = options.BearerToken;
            channelOptions.Credentials = ChannelCredentials.Create(
                address.Scheme == Uri.UriSchemeHttps ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
                CallCredentials.FromInterceptor((_, metadata) =>
                {
                    metadata.Add("authorization", "Bearer " + token);
                    return Task.CompletedTask;
                }));
            // The daemon decides whether plaintext is acceptable (loopback, or it warns); the client sends the token as before.
            channelOptions.UnsafeUseInsecureChannelCallCredentials = true;
        }
        return GrpcChannel.ForAddress(address, channelOptions);
    }

    private CallOptions Options(TimeSpan? deadline, CancellationToken ct)
    {
        deadline ??= _options.DefaultDeadline;
        Metadata? headers = null;
        // grpc-dotnet's per-call switch for request compression (gzip is a default provider on both sides).
        if (_options.Gzip) headers = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        return new CallOptions(headers, deadline is { } d ? DateTime.UtcNow + (d <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : d) : null, ct);
    }

    public IAsyncEnumerable<JobEvent> Inpaint(InpaintRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Stream(o => Stub.Inpaint(request, o), deadline, cancellationToken);

    public IAsyncEnumerable<JobEvent> Outpaint(OutpaintRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Stream(o => Stub.Outpaint(request, o), deadline, cancellationToken);

    public IAsyncEnumerable<JobEvent> ImageToImage(ImageToImageRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Stream(o => Stub.ImageToImage(request, o), deadline, cancellationToken);

    public IAsyncEnumerable<JobEvent> DepthToImage(DepthToImageRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Stream(o => Stub.DepthToImage(request, o), deadline, cancellationToken);

    /// <summary>Text-to-image (a diffusion model from pure noise at width x height); same event stream as the other operations.</summary>
    public IAsyncEnumerable<JobEvent> TextToImage(TextToImageRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Stream(o => Stub.TextToImage(request, o), deadline, cancellationToken);

    public Task<CancelJobResponse> CancelJobAsync(string jobId, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Unary(o => Stub.CancelJobAsync(new CancelJobRequest { JobId = jobId }, o), deadline, cancellationToken);

    public Task<ListModelsResponse> ListModelsAsync(TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Unary(o => Stub.ListModelsAsync(new ListModelsRequest(), o), deadline, cancellationToken);

    public Task<Capabilities> GetCapabilitiesAsync(TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Unary(o => Stub.GetCapabilitiesAsync(new GetCapabilitiesRequest(), o), deadline, cancellationToken);

    public Task<HealthCheckResponse> CheckHealthAsync(string service = "", TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        Unary(o => HealthStub.CheckAsync(new HealthCheckRequest { Service = service }, o), deadline, cancellationToken);

    public IAsyncEnumerable<HealthCheckResponse> WatchHealth(string service = "", CancellationToken cancellationToken = default) =>
        Stream(o => HealthStub.Watch(new HealthCheckRequest { Service = service }, o), null, cancellationToken);

    private async Task<T> Unary<T>(Func<CallOptions, AsyncUnaryCall<T>> start, TimeSpan? deadline, CancellationToken ct)
    {
        try
        {
            using var call = start(Options(deadline, ct));
            return await call.ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw Explain(e, ct);
        }
    }

    private async IAsyncEnumerable<T> Stream<T>(Func<CallOptions, AsyncServerStreamingCall<T>> start, TimeSpan? deadline, [EnumeratorCancellation] CancellationToken ct)
    {
        // Disposing the call before its end resets the HTTP/2 stream (RST_STREAM CANCEL): the daemon cancels the job.
        using var call = start(Options(deadline, ct));
        var reader = call.ResponseStream;
        while (true)
        {
            bool more;
            try
            {
                more = await reader.MoveNext(ct).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                throw Explain(e, ct);
            }
            if (!more) yield break;
            yield return reader.Current;
        }
    }

    /// <summary>User cancellation as <see cref="OperationCanceledException"/>; TLS and scheme mix-ups in words.</summary>
    private Exception Explain(RpcException e, CancellationToken ct)
    {
        if (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested) return new OperationCanceledException("The call was cancelled.", e, ct);
        if (e.StatusCode != StatusCode.Unavailable && e.StatusCode != StatusCode.Internal) return e;
        if (DescribeTransportFailure(e.Status.DebugException) is { } why) return new RpcException(new Status(StatusCode.Unavailable, why, e.Status.DebugException), e.Trailers);
        return e;
    }

    private string? DescribeTransportFailure(Exception? e)
    {
        var http = e as HttpRequestException;
        for (var x = e; x != null && http == null; x = x.InnerException) http = x as HttpRequestException;
        if (http == null) return null;
        var authority = Address.Authority;
        bool tlsFailed = false, socketError = false;
        for (Exception? x = http; x != null; x = x.InnerException)
        {
            if (x is AuthenticationException) tlsFailed = true;
            if (x is System.Net.Sockets.SocketException) socketError = true;
        }
        if (Address.Scheme == Uri.UriSchemeHttps && tlsFailed)
        {
            if (_trust.LastRejection is { } rejected) return $"TLS to {authority} failed: server certificate rejected: {rejected}";
            return $"TLS to {authority} failed ({http.Message} {http.InnerException?.Message}); is the daemon serving TLS? (use http:// for a plaintext daemon)";
        }
        // A TLS server answering a cleartext HTTP/2 preface closes or garbles the connection; a refused connection
        // (a socket error) is not that, so it gets no TLS hint.
        if (Address.Scheme == Uri.UriSchemeHttp && !socketError
            && http.HttpRequestError is HttpRequestError.HttpProtocolError or HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse
                or HttpRequestError.ConnectionError or HttpRequestError.Unknown)
            return $"{http.Message} (if the daemon at {authority} serves TLS, use https://{authority})";
        return null;
    }

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
        return (jobId, result ?? throw new RpcException(new Status(StatusCode.Internal, "The stream ended without a result.")));
    }

    public void Dispose() => Channel.Dispose();
}
