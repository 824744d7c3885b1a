using System.Buffers;
using System.Net;
using System.Text;
using InpaintSuite.Pipelines;
using InpaintSuite.Protocol.Grpc;
using InpaintSuite.Protocol.Health;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon;

/// <summary>
/// The daemon: Kestrel with a gRPC endpoint (HTTP/2 prior knowledge) and a JSON bridge (HTTP/1.1).
/// <code>
/// await using var host = await DaemonHost.StartAsync(options);   // ports 0 = ephemeral
/// Console.WriteLine(host.GrpcAddress);
/// await host.WaitForShutdownAsync(ct);                          // or DaemonHost.RunAsync(options, ct)
/// </code>
/// </summary>
public sealed partial class DaemonHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly JobQueue _queue;
    private readonly HealthState _health;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ListenOptions _grpcListen;
    private readonly ListenOptions? _bridgeListen;
    private readonly ListenOptions? _a1111Listen;
    private readonly ILogger _logger;
    private int _stopped;
    private readonly EngineSetup? _ownedEngines;
    private readonly DateTime? _tlsNotAfter;

    private DaemonHost(DaemonOptions options)
    {
        Options = options;
        var auth = DaemonAuth.Resolve(options);
        options.AuthToken = auth.Token;
        TokenFile = auth.TokenFile;
        var tls = DaemonTls.Load(options);
        Tls = tls != null;
        _tlsNotAfter = tls?.Certificate.NotAfter.ToUniversalTime();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(options.MinimumLogLevel);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownGrace + TimeSpan.FromSeconds(5));

        var address = ParseHost(options.Host);
        ListenOptions? grpc = null, bridge = null, a1111 = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = (long)options.MaxMessageBytes + 64 * 1024;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            // Wide flow-control windows: a 64 MiB layer otherwise crawls through 64 KiB windows.
            k.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
            k.Limits.Http2.MaxFrameSize = 1024 * 1024;
            k.Limits.Http2.MaxRequestHeaderFieldSize = 64 * 1024;
            k.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
            k.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(60);
            k.Listen(address, options.GrpcPort, lo =>
            {
                lo.Protocols = HttpProtocols.Http2;
                // TLS first, so the HTTP/1.x check below sees decrypted bytes; HTTP/2-only means ALPN h2.
                if (tls != null) lo.UseHttps(HttpsOptions(tls));
                // Answer HTTP/1.x on the gRPC port with 426 instead of an HTTP/2 GOAWAY.
                lo.Use(next => ctx => Http1Rejector.RunAsync(ctx, next));
                grpc = lo;
            });
            if (options.BridgePort >= 0)
                k.Listen(address, options.BridgePort, lo =>
                {
                    lo.Protocols = HttpProtocols.Http1;
                    if (tls != null) lo.UseHttps(HttpsOptions(tls));
                    bridge = lo;
                });
            // AUTOMATIC1111-compatible API (A1111/A1111Endpoint.cs), its own HTTP/1.1 port.
            if (options.A1111Port >= 0)
                k.Listen(address, options.A1111Port, lo =>
                {
                    lo.Protocols = HttpProtocols.Http1;
                    if (tls != null) lo.UseHttps(HttpsOptions(tls));
                    a1111 = lo;
                });
        });

        _app = builder.Build();
        _logger = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("InpaintSuite.Daemon");
        _health = new HealthState();
        // No runner given: the same engines the CLI composes (fill, content-aware, installed models).
        if (options.Runner == null && options.Engines == null) _ownedEngines = EngineSetup.Create(options.ModelsDirectory, options.ModelMemoryBudget, options.LoraDirectory);
        Engines = options.Engines ?? _ownedEngines;
        var runner = options.Runner ?? Engines!.Runner;
        var catalog = options.Catalog ?? Engines?.Catalog ?? new StaticEngineCatalog();
        if (Engines != null)
        {
            var modelLog = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("InpaintSuite.Daemon.Models");
            var previous = Engines.SessionCache.Observer;
            Engines.SessionCache.Observer = e => { previous?.Invoke(e); ModelCacheLog.Write(modelLog, e); };
            var previousNotes = Engines.ModelNotes;
            Engines.ModelNotes = m => { previousNotes?.Invoke(m); ModelCacheLog.Note(modelLog, m); };
        }
        // With engines (not a bare runner), GPU inference gets a device of its own with one worker, so content-aware and
        // fill jobs on the CPU workers do not wait behind it; without a GPU nothing is routed there.
        var jobsLog = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("InpaintSuite.Daemon.Jobs");
        _queue = Engines != null && (options.Runner == null || ReferenceEquals(options.Runner, Engines.Runner))
            ? new JobQueue(runner, [new JobDevice(JobDevice.Cpu, options.Workers), new JobDevice(JobDevice.Gpu, 1)], Engines.DeviceOf, jobsLog)
            : new JobQueue(runner, options.Workers, jobsLog);
        Service = new InpainterService(_queue, options, catalog, _health);
        var grpcEndpoint = new GrpcEndpoint(Service, options, _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("InpaintSuite.Daemon.Grpc"), _shutdown.Token);
        var bridgeEndpoint = new JsonBridge(Service, options, _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("InpaintSuite.Daemon.Bridge"), _shutdown.Token);

        var a1111Endpoint = options.A1111Port >= 0
            ? new A1111.A1111Endpoint(new A1111.A1111Jobs(_queue), options, catalog, Engines, _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("InpaintSuite.Daemon.A1111"))
            : null;

        _app.Run(ctx =>
        {
            if (ctx.Connection.LocalPort == GrpcPort) return grpcEndpoint.HandleAsync(ctx);
            if (a1111Endpoint != null && ctx.Connection.LocalPort == A1111Port) return a1111Endpoint.HandleAsync(ctx);
            return bridgeEndpoint.HandleAsync(ctx);
        });
        _grpcListen = grpc!;
        _bridgeListen = bridge;
        _a1111Listen = a1111;
        _app.Lifetime.ApplicationStopping.Register(() => _ = BeginShutdown());
    }

    public DaemonOptions Options { get; }

    public InpainterService Service { get; }

    public JobQueue Queue => _queue;

    /// <summary>The engines served (with the shared session cache), when the daemon composed or was given them.</summary>
    public EngineSetup? Engines { get; }

    /// <summary>The background warm-up (completed at once when there is nothing to warm); never faults.</summary>
    public Task WarmUp { get; private set; } = Task.CompletedTask;

    /// <summary>The token file in use when auth is on because of a non-loopback host (null otherwise).</summary>
    public string? TokenFile { get; }

    public int GrpcPort { get; private set; }

    public int BridgePort { get; private set; } = -1;

    /// <summary>The A1111-compatible API's port (-1 = off).</summary>
    public int A1111Port { get; private set; } = -1;

    public Uri A1111Address => new($"{Scheme}://{UriHost}:{A1111Port}");

    /// <summary>True when both ports speak TLS (<see cref="DaemonOptions.TlsCertificate"/>).</summary>
    public bool Tls { get; }

    public Uri GrpcAddress => new($"{Scheme}://{UriHost}:{GrpcPort}");

    public Uri BridgeAddress => new($"{Scheme}://{UriHost}:{BridgePort}");

    private string Scheme => Tls ? "https" : "http";

    private static HttpsConnectionAdapterOptions HttpsOptions(DaemonTls.ServerCertificate tls) => new()
    {
        ServerCertificate = tls.Certificate,
        ServerCertificateChain = tls.Chain.Count > 0 ? tls.Chain : null,
        ClientCertificateMode = ClientCertificateMode.NoCertificate,
    };

    private string UriHost
    {
        get
        {
            var a = ParseHost(Options.Host);
            if (a.Equals(IPAddress.Any)) return "127.0.0.1";
            if (a.Equals(IPAddress.IPv6Any)) return "[::1]";
            return a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();
        }
    }

    /// <summary>Builds and starts the daemon; returns once both ports listen.</summary>
    public static async Task<DaemonHost> StartAsync(DaemonOptions options, CancellationToken cancellationToken = default)
    {
        var host = new DaemonHost(options);
        await host._app.StartAsync(cancellationToken).ConfigureAwait(false);
        host.GrpcPort = ((IPEndPoint)host._grpcListen.EndPoint).Port;
        if (host._bridgeListen != null) host.BridgePort = ((IPEndPoint)host._bridgeListen.EndPoint).Port;
        if (host._a1111Listen != null) host.A1111Port = ((IPEndPoint)host._a1111Listen.EndPoint).Port;
        host.LogListening(host.GrpcAddress.ToString(), host._bridgeListen == null ? "off" : host.BridgeAddress.ToString(), options.AuthToken != null);
        if (host._a1111Listen != null) host.LogA1111(host.A1111Address.ToString());
        if (host.TokenFile != null) host.LogToken(host.TokenFile);
        if (!host.Tls && !DaemonAuth.IsLoopbackHost(options.Host)) host.LogCleartextToken(options.Host);
        if (host._tlsNotAfter is { } notAfter && notAfter < DateTime.UtcNow.AddDays(14))
            host.LogCertificateExpiry(options.TlsCertificate!, notAfter.ToString("u", System.Globalization.CultureInfo.InvariantCulture), notAfter < DateTime.UtcNow ? "has expired" : "expires soon");
        // After listening: health answers SERVING while the default model loads; a job for it waits for that load.
        if (host.Engines != null) host.WarmUp = host.WarmUpAsync(host.Engines, options.WarmUpModel, host._shutdown.Token);
        return host;
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> fires (or the process is asked to stop), then shuts down gracefully.</summary>
    public static async Task RunAsync(DaemonOptions options, CancellationToken cancellationToken)
    {
        await using var host = await StartAsync(options, cancellationToken).ConfigureAwait(false);
        await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for <paramref name="cancellationToken"/> or SIGINT/SIGTERM, then stops.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        try { await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _app.Lifetime.ApplicationStopping).Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Graceful stop: health turns NOT_SERVING, new jobs are refused, queued ones end UNAVAILABLE,
    /// running ones get <see cref="DaemonOptions.ShutdownGrace"/> to finish, then Kestrel stops.
    /// </summary>
    public async Task StopAsync()
    {
        await BeginShutdown().ConfigureAwait(false);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private Task? _shutdownTask;

    private Task BeginShutdown()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return _shutdownTask ?? Task.CompletedTask;
        _health.Set(HealthCheckResponse.Types.ServingStatus.NotServing);
        _shutdownTask = Task.Run(async () =>
        {
            await _queue.ShutdownAsync(Options.ShutdownGrace).ConfigureAwait(false);
            _shutdown.Cancel();
        });
        return _shutdownTask;
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync().ConfigureAwait(false); }
        catch (ObjectDisposedException) { }
        await _queue.DisposeAsync().ConfigureAwait(false);
        if (Engines != null) LogModelCacheSummary(Engines.SessionCache.Statistics.ToString());
        await _app.DisposeAsync().ConfigureAwait(false);
        if (_ownedEngines != null) await _ownedEngines.DisposeAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    private async Task WarmUpAsync(EngineSetup engines, string? spec, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Equals("none", StringComparison.OrdinalIgnoreCase)) return;
        await Task.Yield();
        try
        {
            var engine = engines.ResolveWarmUp(spec);
            if (engine == null)
            {
                LogWarmUpNothing(spec);
                return;
            }
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            await Task.Run(() => engine.WarmUp(ct), ct).ConfigureAwait(false);
            LogWarmedUp(engine.Name, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds, engines.SessionCache.Statistics.ToString());
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && ct.IsCancellationRequested)
        {
            // Shutting down before the model finished loading.
        }
        catch (Exception e)
        {
            LogWarmUpFailed(spec, e.Message);
        }
    }

    internal static IPAddress ParseHost(string host) => host switch
    {
        "localhost" or "" => IPAddress.Loopback,
        "*" => IPAddress.Any,
        _ => IPAddress.TryParse(host.Trim('[', ']'), out var a) ? a : throw new ArgumentException($"--host '{host}' is not an IP address", nameof(host)),
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "gRPC on {Grpc}, JSON bridge on {Bridge}, auth {Auth}")]
    private partial void LogListening(string grpc, string bridge, bool auth);

    [LoggerMessage(Level = LogLevel.Information, Message = "AUTOMATIC1111-compatible API on {Address}sdapi/v1")]
    private partial void LogA1111(string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "bearer token for non-loopback clients: {TokenFile}")]
    private partial void LogToken(string tokenFile);

    [LoggerMessage(Level = LogLevel.Information, Message = "warm-up: {Model} loaded in {Milliseconds:F0} ms ({Cache})")]
    private partial void LogWarmedUp(string model, double milliseconds, string cache);

    [LoggerMessage(Level = LogLevel.Information, Message = "warm-up '{Spec}': no diffusion model installed, nothing to load")]
    private partial void LogWarmUpNothing(string spec);

    [LoggerMessage(Level = LogLevel.Information, Message = "model cache at shutdown: {Cache}")]
    private partial void LogModelCacheSummary(string cache);

    [LoggerMessage(Level = LogLevel.Warning, Message = "warm-up '{Spec}' failed: {Reason}")]
    private partial void LogWarmUpFailed(string spec, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listening on {Host} without TLS: the bearer token and images travel in clear; set Daemon:TlsCertificate (serve --tls-cert/--tls-key) for use beyond this machine")]
    private partial void LogCleartextToken(string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TLS certificate {File} {State} (not after {NotAfter}): clients will refuse it once expired")]
    private partial void LogCertificateExpiry(string file, string notAfter, string state);

    /// <summary>Peeks at a new connection on the gRPC port: not the HTTP/2 preface means HTTP/1.x, answered 426.</summary>
    private static class Http1Rejector
    {
        private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
        private static readonly byte[] UpgradeRequired = Encoding.ASCII.GetBytes(
            "HTTP/1.1 426 Upgrade Required\r\nUpgrade: h2c\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 41\r\n\r\ngRPC needs HTTP/2 (prior knowledge, h2c)\n");

        public static async Task RunAsync(ConnectionContext ctx, ConnectionDelegate next)
        {
            var input = ctx.Transport.Input;
            while (true)
            {
                var read = await input.ReadAsync(ctx.ConnectionClosed).ConfigureAwait(false);
                var buffer = read.Buffer;
                var n = (int)Math.Min(buffer.Length, Preface.Length);
                var head = buffer.Slice(0, n).ToArray();
                if (!head.AsSpan().SequenceEqual(Preface.AsSpan(0, n)))
                {
                    input.AdvanceTo(buffer.End);
                    await ctx.Transport.Output.WriteAsync(UpgradeRequired).ConfigureAwait(false);
                    await ctx.Transport.Output.CompleteAsync().ConfigureAwait(false);
                    return;
                }
                if (n == Preface.Length || read.IsCompleted)
                {
                    // Nothing consumed: Kestrel's HTTP/2 layer reads the preface itself.
                    input.AdvanceTo(buffer.Start);
                    if (read.IsCompleted && n < Preface.Length) return;
                    break;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
            await next(ctx).ConfigureAwait(false);
        }
    }
}
