using System.Text;
using System.Text.Json;
using Google.Protobuf;
using InpaintSuite.Protocol.Grpc;
using InpaintSuite.Protocol.Health;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// The JSON bridge (HTTP/1.1) for clients without gRPC: proto3 JSON request bodies, NDJSON event
/// streams, errors as HTTP status + {"code","status","message"}. Same service, validation and jobs as gRPC.
/// </summary>
public sealed partial class JsonBridge(InpainterService service, DaemonOptions options, ILogger logger, CancellationToken shutdown)
{
    public const string NdjsonContentType = "application/x-ndjson";

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private static readonly JsonFormatter Formatter = JsonFormatter.Default;

    public async Task HandleAsync(HttpContext ctx)
    {
        var state = new CallState { ClientAborted = ctx.RequestAborted, Shutdown = shutdown };
        var path = ctx.Request.Path.Value ?? "";
        try
        {
            var isPost = HttpMethods.IsPost(ctx.Request.Method);
            var isGet = HttpMethods.IsGet(ctx.Request.Method);
            if (path == "/v1/health" && isGet)
            {
                var status = service.Check(new HealthCheckRequest());
                await WriteJsonAsync(ctx, status.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 200 : 503, status).ConfigureAwait(false);
                return;
            }
            Func<Task>? route = (path, isPost, isGet) switch
            {
                ("/v1/inpaint", true, _) => () => StreamJobAsync(ctx, b => service.Submit(Parse(b, W.InpaintRequest.Parser))),
                ("/v1/outpaint", true, _) => () => StreamJobAsync(ctx, b => service.Submit(Parse(b, W.OutpaintRequest.Parser))),
                ("/v1/img2img", true, _) => () => StreamJobAsync(ctx, b => service.Submit(Parse(b, W.ImageToImageRequest.Parser))),
                ("/v1/depth", true, _) => () => StreamJobAsync(ctx, b => service.Submit(Parse(b, W.DepthToImageRequest.Parser))),
                ("/v1/cancel", true, _) => async () => await WriteJsonAsync(ctx, 200, service.CancelJob(Parse(await ReadBodyAsync(ctx).ConfigureAwait(false), W.CancelJobRequest.Parser))).ConfigureAwait(false),
                ("/v1/models", _, true) => () => WriteJsonAsync(ctx, 200, service.ListModels()),
                ("/v1/capabilities", _, true) => () => WriteJsonAsync(ctx, 200, service.GetCapabilities()),
                _ => null,
            };
            if (route == null)
            {
                var known = path is "/v1/inpaint" or "/v1/outpaint" or "/v1/img2img" or "/v1/depth" or "/v1/cancel" or "/v1/models" or "/v1/capabilities";
                await WriteErrorAsync(ctx, known ? 405 : 404, known ? GrpcStatusCode.InvalidArgument : GrpcStatusCode.NotFound,
                    known ? $"{ctx.Request.Method} is not allowed on {path}" : $"no such endpoint: {path}").ConfigureAwait(false);
                return;
            }
            if (!GrpcEndpoint.TokenMatches(options.AuthToken, ctx.Request.Headers.Authorization))
                throw new GrpcStatusException(GrpcStatusCode.Unauthenticated, "a valid 'authorization: Bearer <token>' header is required");
            await route().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (ctx.RequestAborted.IsCancellationRequested) return;
            var (code, message) = StatusMapper.Map(e, state);
            if (code is GrpcStatusCode.Internal or GrpcStatusCode.Unknown) LogFailed(path, e);
            if (!ctx.Response.HasStarted)
            {
                await WriteErrorAsync(ctx, GrpcStatus.ToHttpStatus(code), code, message).ConfigureAwait(false);
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

    private async Task StreamJobAsync(HttpContext ctx, Func<string, Job> submit)
    {
        var job = submit(await ReadBodyAsync(ctx).ConfigureAwait(false));
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = NdjsonContentType;
        ctx.Response.Headers.CacheControl = "no-cache";
        ctx.Response.Headers["x-job-id"] = job.Id;
        ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await foreach (var e in service.EventsAsync(job, ctx.RequestAborted).ConfigureAwait(false))
        {
            await ctx.Response.WriteAsync(Formatter.Format(e) + "\n", ctx.RequestAborted).ConfigureAwait(false);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task<string> ReadBodyAsync(HttpContext ctx)
    {
        // base64 grows pixels by 4/3; allow for it over the message limit.
        long limit = (long)options.MaxMessageBytes * 4 / 3 + 1024 * 1024;
        var sizeFeature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false }) sizeFeature.MaxRequestBodySize = limit;
        if (ctx.Request.ContentLength > limit)
            throw new GrpcStatusException(GrpcStatusCode.ResourceExhausted, $"request body of {ctx.Request.ContentLength} bytes exceeds the limit {limit}");
        using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
        return await reader.ReadToEndAsync(ctx.RequestAborted).ConfigureAwait(false);
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
            throw new GrpcStatusException(GrpcStatusCode.InvalidArgument, "malformed JSON: " + e.Message);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new GrpcStatusException(GrpcStatusCode.InvalidArgument, "invalid request: " + e.Message);
        }
        catch (FormatException e)
        {
            throw new GrpcStatusException(GrpcStatusCode.InvalidArgument, "invalid request: " + e.Message);
        }
    }

    private static async Task WriteJsonAsync(HttpContext ctx, int status, IMessage message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(Formatter.Format(message) + "\n", ctx.RequestAborted).ConfigureAwait(false);
    }

    private static Task WriteErrorAsync(HttpContext ctx, int httpStatus, GrpcStatusCode code, string message)
    {
        ctx.Response.StatusCode = httpStatus;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(ErrorJson(code, message, wrap: false) + "\n", CancellationToken.None);
    }

    /// <summary>{"code":3,"status":"INVALID_ARGUMENT","message":"..."}; mid-stream wrapped as {"error":{...}}.</summary>
    public static string ErrorJson(GrpcStatusCode code, string message, bool wrap)
    {
        var body = JsonSerializer.Serialize(new ErrorBody((int)code, GrpcStatus.WireName(code), message), BridgeJsonContext.Default.ErrorBody);
        return wrap ? "{\"error\":" + body + "}" : body;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "bridge {Path} failed")]
    private partial void LogFailed(string path, Exception exception);
}

public sealed record ErrorBody(
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] int Code,
    [property: System.Text.Json.Serialization.JsonPropertyName("status")] string Status,
    [property: System.Text.Json.Serialization.JsonPropertyName("message")] string Message);

[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorBody))]
internal sealed partial class BridgeJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
