using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using InpaintSuite.Daemon.Grpc;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// The JSON bridge (HTTP/1.1) for clients without gRPC: proto3 JSON request bodies, NDJSON event
/// streams, errors as HTTP status + {"code","status","message"}. Same service, validation and jobs as gRPC.
/// Deadlines: a <c>grpc-timeout</c> header (gRPC's format, e.g. <c>1500m</c>, <c>2S</c>) or <c>x-timeout-ms</c>
/// (whole milliseconds); with both, the earlier wins. Passed before the stream starts: 504 DEADLINE_EXCEEDED;
/// after: a last line {"error":{"status":"DEADLINE_EXCEEDED",...}}. Either way the job is cancelled.
/// Why not ASP.NET's gRPC JSON transcoding: transcoding answers a server-streaming method with one JSON array written
/// as it goes (not a line per event, which Krita's Python reads with readline), its errors are google.rpc.Status bodies
/// without our mid-stream error line, it takes no deadline header, and its routes come from google.api.http options
/// in the .proto; this bridge keeps the contract Krita's plugin was written against.
/// </summary>
public sealed partial class JsonBridge(InpainterService service, HealthServiceImpl health, DaemonOptions options, DaemonToken token, ILogger logger, DaemonLifetime lifetime)
{
    public const string NdjsonContentType = "application/x-ndjson";

    /// <summary>Deadline header for clients that cannot format grpc-timeout: whole milliseconds from receipt.</summary>
    public const string TimeoutMsHeader = "x-timeout-ms";

    /// <summary>Longer timeouts than this (CancelAfter's range) mean no deadline.</summary>
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(24);

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private static readonly JsonFormatter Formatter = JsonFormatter.Default;

    public async Task HandleAsync(HttpContext ctx)
    {
        using var deadlineCts = new CancellationTokenSource();
        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, deadlineCts.Token);
        var call = callCts.Token;
        var path = ctx.Request.Path.Value ?? "";
        try
        {
            var isPost = HttpMethods.IsPost(ctx.Request.Method);
            var isGet = HttpMethods.IsGet(ctx.Request.Method);
            if (path == "/v1/health" && isGet)
            {
                // Health's Check reads no call context.
                var status = await health.Check(new HealthCheckRequest(), null!).ConfigureAwait(false);
                await WriteJsonAsync(ctx, status.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 200 : 503, status).ConfigureAwait(false);
                return;
            }
            Func<Task>? route = (path, isPost, isGet) switch
            {
                ("/v1/inpaint", true, _) => () => StreamJobAsync(ctx, b => { var r = Parse(b, W.InpaintRequest.Parser); return (service.Submit(r), FormatOf(r.Image)); }, call),
                ("/v1/outpaint", true, _) => () => StreamJobAsync(ctx, b => { var r = Parse(b, W.OutpaintRequest.Parser); return (service.Submit(r), FormatOf(r.Image)); }, call),
                ("/v1/img2img", true, _) => () => StreamJobAsync(ctx, b => { var r = Parse(b, W.ImageToImageRequest.Parser); return (service.Submit(r), FormatOf(r.Image)); }, call),
                ("/v1/depth", true, _) => () => StreamJobAsync(ctx, b => { var r = Parse(b, W.DepthToImageRequest.Parser); return (service.Submit(r), FormatOf(r.Image)); }, call),
                ("/v1/txt2img", true, _) => () => StreamJobAsync(ctx, b => { var r = Parse(b, W.TextToImageRequest.Parser); return (service.Submit(r), r.Format == W.PixelFormat.Unspecified ? W.PixelFormat.Rgba8 : r.Format); }, call),
                ("/v1/cancel", true, _) => async () => await WriteJsonAsync(ctx, 200, service.CancelJob(Parse(await ReadBodyAsync(ctx, call).ConfigureAwait(false), W.CancelJobRequest.Parser))).ConfigureAwait(false),
                ("/v1/models", _, true) => () => WriteJsonAsync(ctx, 200, service.ListModels()),
                ("/v1/capabilities", _, true) => () => WriteJsonAsync(ctx, 200, service.GetCapabilities()),
                _ => null,
            };
            if (route == null)
            {
                var known = path is "/v1/inpaint" or "/v1/outpaint" or "/v1/img2img" or "/v1/depth" or "/v1/txt2img" or "/v1/cancel" or "/v1/models" or "/v1/capabilities";
                await WriteErrorAsync(ctx, known ? 405 : 404, known ? StatusCode.InvalidArgument : StatusCode.NotFound,
                    known ? $"{ctx.Request.Method} is not allowed on {path}" : $"no such endpoint: {path}").ConfigureAwait(false);
                return;
            }
            if (!token.Accepts(ctx.Request.Headers.Authorization))
                throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid 'authorization: Bearer <token>' header is required"));
            if (ParseTimeout(ctx.Request.Headers) is { } timeout)
            {
                // Under a millisecond has passed by now (CancelAfter would round it to a timer tick, not to now).
                if (timeout < TimeSpan.FromMilliseconds(1)) deadlineCts.Cancel();
                else deadlineCts.CancelAfter(timeout);
            }
            call.ThrowIfCancellationRequested();
            await route().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (ctx.RequestAborted.IsCancellationRequested) return;
            var state = new CallState(ClientAborted: false, DeadlinePassed: deadlineCts.IsCancellationRequested, ShuttingDown: lifetime.Stopping.IsCancellationRequested);
            var errorId = StatusMapping.NewErrorId();
            var (status, unexpected) = StatusMapping.Map(e, state, errorId);
            var (code, message) = (status.StatusCode, status.Detail);
            if (unexpected) LogFailed(path, errorId, e);
            if (!ctx.Response.HasStarted)
            {
                await WriteErrorAsync(ctx, StatusMapping.ToHttpStatus(code), code, message).ConfigureAwait(false);
            }
            else
            {
                // Mid-stream: the status is the stream's last line.
                try
                {
                    await ctx.Response.WriteAsync(ErrorJson(code, message, wrap: true) + "\n", CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception) when (ctx.RequestAborted.IsCancellationRequested) { }
            }
        }
    }

    /// <summary>The call's timeout from grpc-timeout and/or x-timeout-ms (the earlier wins); null = none.</summary>
    internal static TimeSpan? ParseTimeout(IHeaderDictionary headers)
    {
        TimeSpan? timeout = null;
        var grpc = headers[GrpcTimeoutHeader].ToString();
        if (grpc.Length > 0)
        {
            if (!TryParseGrpcTimeout(grpc, out var t))
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"{GrpcTimeoutHeader}: '{grpc}' is not a gRPC timeout (1 to 8 digits and a unit H M S m u n, e.g. 1500m)"));
            timeout = t;
        }
        var ms = headers[TimeoutMsHeader].ToString();
        if (ms.Length > 0)
        {
            if (!long.TryParse(ms, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"{TimeoutMsHeader}: '{ms}' is not a whole number of milliseconds"));
            var t = n >= (long)MaxTimeout.TotalMilliseconds ? MaxTimeout : TimeSpan.FromMilliseconds(n);
            timeout = timeout is { } g && g < t ? g : t;
        }
        return timeout >= MaxTimeout ? null : timeout;
    }

    /// <summary>gRPC's timeout header, accepted by the bridge for clients that already format it.</summary>
    public const string GrpcTimeoutHeader = "grpc-timeout";

    /// <summary>grpc-timeout: 1 to 8 ASCII digits and a unit (H hours, M minutes, S seconds, m ms, u µs, n ns).</summary>
    internal static bool TryParseGrpcTimeout(string value, out TimeSpan timeout)
    {
        timeout = default;
        if (value.Length < 2 || value.Length > 9) return false;
        long n = 0;
        foreach (var c in value.AsSpan(0, value.Length - 1))
        {
            if (c is < '0' or > '9') return false;
            n = n * 10 + (c - '0');
        }
        double ms = value[^1] switch
        {
            'H' => n * 3_600_000d,
            'M' => n * 60_000d,
            'S' => n * 1000d,
            'm' => n,
            'u' => n / 1000d,
            'n' => n / 1_000_000d,
            _ => double.NaN,
        };
        if (double.IsNaN(ms)) return false;
        timeout = ms >= MaxTimeout.TotalMilliseconds ? MaxTimeout : TimeSpan.FromMilliseconds(ms);
        return true;
    }

    private static W.PixelFormat FormatOf(W.Image? image) => image?.Format ?? W.PixelFormat.Rgba8;

    private async Task StreamJobAsync(HttpContext ctx, Func<string, (Job Job, W.PixelFormat Format)> submit, CancellationToken call)
    {
        var body = await ReadBodyAsync(ctx, call).ConfigureAwait(false);
        // A deadline that passed while the body arrived: no job is queued (504 before the stream starts).
        call.ThrowIfCancellationRequested();
        var (job, format) = submit(body);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = NdjsonContentType;
        ctx.Response.Headers.CacheControl = "no-cache";
        ctx.Response.Headers["x-job-id"] = job.Id;
        ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // The deadline ends the event wait (which cancels the job); writes stop only when the client goes,
        // so an NDJSON line is never cut in half and the error line can follow.
        await foreach (var e in service.EventsAsync(job, format, call).ConfigureAwait(false))
        {
            await ctx.Response.WriteAsync(Formatter.Format(e) + "\n", ctx.RequestAborted).ConfigureAwait(false);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task<string> ReadBodyAsync(HttpContext ctx, CancellationToken call)
    {
        // base64 grows pixels by 4/3; allow for it over the message limit.
        long limit = (long)options.MaxMessageBytes * 4 / 3 + 1024 * 1024;
        var sizeFeature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false }) sizeFeature.MaxRequestBodySize = limit;
        if (ctx.Request.ContentLength > limit)
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"request body of {ctx.Request.ContentLength} bytes exceeds the limit {limit}"));
        using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
        return await reader.ReadToEndAsync(call).ConfigureAwait(false);
    }

    private static T Parse<T>(string body, MessageParser<T> parser) where T : IMessage<T>, new()
    {
        if (string.IsNullOrWhiteSpace(body)) return new T();
        try
        {
            return Parser.Parse<T>(body);
        }
        catch (InvalidJsonException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "malformed JSON: " + e.Message));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "invalid request: " + e.Message));
        }
        catch (FormatException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "invalid request: " + e.Message));
        }
    }

    private static async Task WriteJsonAsync(HttpContext ctx, int status, IMessage message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(Formatter.Format(message) + "\n", ctx.RequestAborted).ConfigureAwait(false);
    }

    private static Task WriteErrorAsync(HttpContext ctx, int httpStatus, StatusCode code, string message)
    {
        ctx.Response.StatusCode = httpStatus;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(ErrorJson(code, message, wrap: false) + "\n", CancellationToken.None);
    }

    /// <summary>{"code":3,"status":"INVALID_ARGUMENT","message":"..."}; mid-stream wrapped as {"error":{...}}.</summary>
    public static string ErrorJson(StatusCode code, string message, bool wrap)
    {
        var body = JsonSerializer.Serialize(new ErrorBody((int)code, StatusMapping.WireName(code), message), BridgeJsonContext.Default.ErrorBody);
        return wrap ? "{\"error\":" + body + "}" : body;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "bridge {Path} failed (error {ErrorId})")]
    private partial void LogFailed(string path, string errorId, Exception exception);
}

public sealed record ErrorBody(
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] int Code,
    [property: System.Text.Json.Serialization.JsonPropertyName("status")] string Status,
    [property: System.Text.Json.Serialization.JsonPropertyName("message")] string Message);

[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorBody))]
internal sealed partial class BridgeJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
