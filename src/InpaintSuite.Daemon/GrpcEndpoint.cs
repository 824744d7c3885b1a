using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using InpaintSuite.Protocol;
using InpaintSuite.Protocol.Grpc;
using InpaintSuite.Protocol.Health;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// The gRPC server, by hand on Kestrel HTTP/2: one handler per method, request framing, deadlines,
/// gzip, Trailers-Only errors, and <see cref="StatusMapper"/> as the only exception-to-status map.
/// </summary>
public sealed partial class GrpcEndpoint
{
    private delegate IAsyncEnumerable<IMessage> Handler(byte[] request, CancellationToken callToken);

    private readonly InpainterService _service;
    private readonly DaemonOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationToken _shutdown;
    private readonly Dictionary<string, (Handler Handler, bool NeedsAuth)> _methods;

    public GrpcEndpoint(InpainterService service, DaemonOptions options, ILogger logger, CancellationToken shutdown)
    {
        _service = service;
        _options = options;
        _logger = logger;
        _shutdown = shutdown;
        var s = InpainterClient.ServiceName;
        var h = InpainterClient.HealthServiceName;
        _methods = new(StringComparer.Ordinal)
        {
            [$"/{s}/Inpaint"] = (Job(b => _service.Submit(W.InpaintRequest.Parser.ParseFrom(b))), true),
            [$"/{s}/Outpaint"] = (Job(b => _service.Submit(W.OutpaintRequest.Parser.ParseFrom(b))), true),
            [$"/{s}/ImageToImage"] = (Job(b => _service.Submit(W.ImageToImageRequest.Parser.ParseFrom(b))), true),
            [$"/{s}/DepthToImage"] = (Job(b => _service.Submit(W.DepthToImageRequest.Parser.ParseFrom(b))), true),
            [$"/{s}/TextToImage"] = (Job(b => _service.Submit(W.TextToImageRequest.Parser.ParseFrom(b))), true),
            [$"/{s}/CancelJob"] = (Unary(b => _service.CancelJob(W.CancelJobRequest.Parser.ParseFrom(b))), true),
            [$"/{s}/ListModels"] = (Unary(b => { W.ListModelsRequest.Parser.ParseFrom(b); return _service.ListModels(); }), true),
            [$"/{s}/GetCapabilities"] = (Unary(b => { W.GetCapabilitiesRequest.Parser.ParseFrom(b); return _service.GetCapabilities(); }), true),
            [$"/{h}/Check"] = (Unary(b => _service.Check(HealthCheckRequest.Parser.ParseFrom(b))), false),
            [$"/{h}/Watch"] = ((b, ct) => _service.WatchAsync(HealthCheckRequest.Parser.ParseFrom(b), ct), false),
        };
    }

    private Handler Job(Func<byte[], Daemon.Job> submit) => (b, ct) => _service.EventsAsync(submit(b), ct);

    private static Handler Unary(Func<byte[], IMessage> call) => (b, _) => One(call(b));

#pragma warning disable CS1998 // an async iterator over one synchronous value
    private static async IAsyncEnumerable<IMessage> One(IMessage m)
    {
        yield return m;
    }
#pragma warning restore CS1998

    public async Task HandleAsync(HttpContext ctx)
    {
        var request = ctx.Request;
        var response = ctx.Response;
        if (request.Protocol != "HTTP/2")
        {
            response.StatusCode = StatusCodes.Status426UpgradeRequired;
            response.Headers.Upgrade = "h2c";
            return;
        }
        if (!HttpMethods.IsPost(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "POST";
            return;
        }
        if (!GrpcHeaders.IsGrpcContentType(request.ContentType))
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            response.Headers["Accept-Post"] = GrpcHeaders.ContentType;
            return;
        }
        // Large layers: lift Kestrel's request-body cap to the message limit (plus framing).
        var sizeFeature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false }) sizeFeature.MaxRequestBodySize = (long)_options.MaxMessageBytes + 64 * 1024;

        response.ContentType = GrpcHeaders.ContentType;
        response.Headers[GrpcHeaders.AcceptEncoding] = GrpcHeaders.AcceptedEncodings;

        using var deadlineCts = new CancellationTokenSource();
        var state = new CallState { ClientAborted = ctx.RequestAborted, Deadline = deadlineCts.Token, Shutdown = _shutdown };
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, deadlineCts.Token);
        var path = request.Path.Value ?? "";
        try
        {
            if (!_methods.TryGetValue(path, out var method))
                throw new GrpcStatusException(GrpcStatusCode.Unimplemented, $"Method not found: {path}");
            if (method.NeedsAuth) Authorize(request.Headers.Authorization);

            var encoding = request.Headers[GrpcHeaders.Encoding].ToString();
            if (!GrpcFraming.IsSupportedEncoding(encoding))
                throw new GrpcStatusException(GrpcStatusCode.Unimplemented, $"Message compressed with '{encoding}' is not supported (identity, gzip).");
            var compressResponses = encoding == GrpcHeaders.Gzip && request.Headers[GrpcHeaders.AcceptEncoding].ToString().Contains(GrpcHeaders.Gzip, StringComparison.Ordinal);

            var timeoutHeader = request.Headers[GrpcHeaders.Timeout].ToString();
            if (timeoutHeader.Length > 0)
            {
                if (!GrpcTimeout.TryParse(timeoutHeader, out var timeout))
                    throw new GrpcStatusException(GrpcStatusCode.Internal, $"Invalid grpc-timeout '{timeoutHeader}'.");
                deadlineCts.CancelAfter(timeout < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromTicks(1) : timeout);
            }

            var reader = new GrpcMessageReader(request.Body, _options.MaxMessageBytes, encoding);
            var payload = await reader.ReadMessageAsync(callCts.Token).ConfigureAwait(false)
                ?? throw new GrpcStatusException(GrpcStatusCode.Internal, "The request carried no message.");
            if (await reader.ReadMessageAsync(callCts.Token).ConfigureAwait(false) != null)
                throw new GrpcStatusException(GrpcStatusCode.Internal, "More than one request message for a method taking one.");
            callCts.Token.ThrowIfCancellationRequested();

            var started = false;
            await foreach (var message in method.Handler(payload, callCts.Token).WithCancellation(callCts.Token).ConfigureAwait(false))
            {
                if (!started)
                {
                    if (compressResponses) response.Headers[GrpcHeaders.Encoding] = GrpcHeaders.Gzip;
                    started = true;
                }
                GrpcFraming.WriteMessage(response.BodyWriter, message, compressResponses);
                var flush = await response.BodyWriter.FlushAsync(callCts.Token).ConfigureAwait(false);
                if (flush.IsCanceled || flush.IsCompleted) callCts.Token.ThrowIfCancellationRequested();
            }
            // Status goes in trailers, also for OK; with no message sent this is Trailers-Only.
            WriteStatus(ctx, GrpcStatusCode.OK, null);
        }
        catch (Exception e)
        {
            var (code, message) = StatusMapper.Map(e, state);
            if (e is not GrpcStatusException && code is GrpcStatusCode.Internal or GrpcStatusCode.Unknown) LogCallFailed(path, e);
            else LogCallStatus(path, code, message);
            if (ctx.RequestAborted.IsCancellationRequested) return;
            WriteStatus(ctx, code, message);
        }
    }

    private void WriteStatus(HttpContext ctx, GrpcStatusCode code, string? message)
    {
        var response = ctx.Response;
        var status = ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var text = GrpcMessageText.Encode(message);
        if (!response.HasStarted)
        {
            // Trailers-Only: one HEADERS frame with the status and END_STREAM.
            response.Headers[GrpcHeaders.Status] = status;
            if (text.Length > 0) response.Headers[GrpcHeaders.Message] = text;
            return;
        }
        response.AppendTrailer(GrpcHeaders.Status, status);
        if (text.Length > 0) response.AppendTrailer(GrpcHeaders.Message, text);
    }

    /// <summary>Constant-time bearer check; no token configured means no check.</summary>
    internal void Authorize(string? authorization)
    {
        if (!TokenMatches(_options.AuthToken, authorization))
            throw new GrpcStatusException(GrpcStatusCode.Unauthenticated, "a valid 'authorization: Bearer <token>' is required");
    }

    internal static bool TokenMatches(string? expected, string? authorization)
    {
        if (expected == null) return true;
        const string prefix = "Bearer ";
        var given = authorization != null && authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? authorization[prefix.Length..].Trim() : "";
        var a = SHA256.HashData(Encoding.UTF8.GetBytes(expected));
        var b = SHA256.HashData(Encoding.UTF8.GetBytes(given));
        return CryptographicOperations.FixedTimeEquals(a, b) && given.Length > 0;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Path}: {Code} {Message}")]
    private partial void LogCallStatus(string path, GrpcStatusCode code, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path} failed")]
    private partial void LogCallFailed(string path, Exception exception);
}
