using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using InpaintSuite.Protocol;

namespace InpaintSuite.Daemon.Grpc;

/// <summary>The bearer token a non-loopback daemon requires (null = none, on loopback); see <see cref="DaemonAuth"/>.</summary>
public sealed record DaemonToken(string? Value)
{
    /// <summary>Constant-time check of an <c>authorization</c> header value; no token configured means no check.</summary>
    public bool Accepts(string? authorization)
    {
        if (Value == null) return true;
        const string prefix = "Bearer ";
        var given = authorization != null && authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? authorization[prefix.Length..].Trim() : "";
        var a = SHA256.HashData(Encoding.UTF8.GetBytes(Value));
        var b = SHA256.HashData(Encoding.UTF8.GetBytes(given));
        return CryptographicOperations.FixedTimeEquals(a, b) && given.Length > 0;
    }
}

/// <summary>
/// UNAUTHENTICATED for calls without the daemon's token, except grpc.health.v1.Health (load balancers and
/// `inpaintsuite health` probe without credentials). Reflection needs the token like the API it describes.
/// </summary>
public sealed class TokenAuthInterceptor(DaemonToken token) : Interceptor
{
    private static readonly string HealthPrefix = "/" + InpainterClient.HealthServiceName + "/";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        if (token.Value == null || context.Method.StartsWith(HealthPrefix, StringComparison.Ordinal)) return;
        if (!token.Accepts(context.RequestHeaders.GetValue("authorization")))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid 'authorization: Bearer <token>' is required"));
    }
}
