using Grpc.HealthCheck;
using InpaintSuite.Daemon.Grpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace InpaintSuite.Daemon;

/// <summary>
/// The one place the daemon's endpoints are composed. gRPC port (HTTP/2): stock Grpc.AspNetCore with
/// inpaintsuite.v1.Inpainter (<see cref="InpainterGrpcService"/>), grpc.health.v1.Health (Grpc.HealthCheck, Watch
/// included) and server reflection (v1 and v1alpha), behind <see cref="ErrorInterceptor"/> (exceptions -> status) and
/// <see cref="TokenAuthInterceptor"/>. Bridge port (HTTP/1.1): the JSON bridge over the same service. Another HTTP API
/// on the bridge port (e.g. an A1111-compatible one) goes into <see cref="Map"/> beside the bridge, on the same core.
/// </summary>
public static class DaemonEndpoints
{
    public static void AddServices(IServiceCollection services, DaemonOptions options, Func<InpainterService> service, HealthServiceImpl health, DaemonLifetime lifetime)
    {
        services.AddSingleton(_ => service());
        services.AddSingleton(health);
        services.AddSingleton(lifetime);
        services.AddSingleton(new DaemonToken(options.AuthToken));
        services.AddGrpc(o =>
        {
            // Outermost first: the error interceptor sees the auth interceptor's status as it is.
            o.Interceptors.Add<ErrorInterceptor>();
            o.Interceptors.Add<TokenAuthInterceptor>();
            o.MaxReceiveMessageSize = options.MaxMessageBytes;
            // Results are as large as their inputs (outpaint: larger); the client's receive limit governs them.
            o.MaxSendMessageSize = null;
            // Offered; ErrorInterceptor uses it only for calls whose request came gzip-compressed.
            o.ResponseCompressionAlgorithm = "gzip";
            o.EnableDetailedErrors = false;
        });
        services.AddGrpcReflection();
    }

    /// <param name="app">The built host.</param>
    /// <param name="isBridgePort">True for a connection's local port that is the bridge's (ports are known only once bound).</param>
    /// <param name="bridge">The JSON bridge.</param>
    public static void Map(WebApplication app, Func<int, bool> isBridgePort, JsonBridge bridge,
        (Func<int, bool> IsPort, RequestDelegate Handle)? a1111 = null)
    {
        app.MapWhen(ctx => isBridgePort(ctx.Connection.LocalPort), b => b.Run(bridge.HandleAsync));
        // The A1111-compatible API on its own port (A1111/A1111Endpoint.cs).
        if (a1111 is { } a) app.MapWhen(ctx => a.IsPort(ctx.Connection.LocalPort), b => b.Run(a.Handle));
        app.MapGrpcService<InpainterGrpcService>();
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
    }
}
