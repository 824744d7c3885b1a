using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon.Grpc;

/// <summary>The daemon's lifetime as the gRPC layer sees it (for UNAVAILABLE while stopping).</summary>
public sealed class DaemonLifetime
{
    private readonly CancellationTokenSource _stopping = new();

    public CancellationToken Stopping => _stopping.Token;

    public void Stop() => _stopping.Cancel();
}

/// <summary>
/// Every gRPC call's exceptions become a status here, through <see cref="StatusMapping"/>; unexpected failures are
/// logged with the id the caller is told. It also decides response compression per call: gzip only when the
/// request came gzip-compressed (stock would compress every response a client accepts gzip for, and every stock
/// client does; pixels do not shrink enough to be worth the CPU).
/// </summary>
public sealed partial class ErrorInterceptor(DaemonLifetime lifetime, ILogger<ErrorInterceptor> logger) : Interceptor
{
    private static readonly WriteOptions NoCompress = new(WriteFlags.NoCompress);

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        ChooseCompression(context);
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw ToRpc(e, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ChooseCompression(context);
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw ToRpc(e, context);
        }
    }

    private static void ChooseCompression(ServerCallContext context)
    {
        var encoding = context.GetHttpContext().Request.Headers["grpc-encoding"].ToString();
        if (!string.Equals(encoding, "gzip", StringComparison.Ordinal)) context.WriteOptions = NoCompress;
    }

    private RpcException ToRpc(Exception e, ServerCallContext context)
    {
        var state = new CallState(
            ClientAborted: context.GetHttpContext().RequestAborted.IsCancellationRequested && context.Deadline > DateTime.UtcNow,
            DeadlinePassed: context.Deadline <= DateTime.UtcNow,
            ShuttingDown: lifetime.Stopping.IsCancellationRequested);
        var id = StatusMapping.NewErrorId();
        var (status, unexpected) = StatusMapping.Map(e, state, id);
        if (unexpected) LogFailed(context.Method, id, e);
        else LogStatus(context.Method, status.StatusCode, status.Detail);
        return new RpcException(status);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method}: {Code} {Detail}")]
    private partial void LogStatus(string method, StatusCode code, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} failed (error {ErrorId})")]
    private partial void LogFailed(string method, string errorId, Exception exception);
}
