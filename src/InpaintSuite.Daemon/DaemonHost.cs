using System.Net;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using InpaintSuite.Daemon.Grpc;
using InpaintSuite.Pipelines;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon;

/// <summary>
/// The daemon: Kestrel with stock gRPC (HTTP/2; Inpainter, health, reflection) and a JSON bridge (HTTP/1.1), both over
/// one job core (<see cref="Queue"/>). Endpoints are mapped in one place, <see cref="DaemonEndpoints"/>.
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
    private readonly HealthServiceImpl _health = new();
    private readonly DaemonLifetime _lifetime = new();
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
        ListenOptions? grpc = null, bridge0 = null, a1111 = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // A message over the limit is RESOURCE_EXHAUSTED from gRPC (MaxReceiveMessageSize), checked on its length
            // prefix. Kestrel counts body bytes as they arrive, before the handler reads that prefix: a cap of limit +
            // framing let a fast client's over-limit message trip Kestrel first (UNKNOWN instead of RESOURCE_EXHAUSTED).
            // So Kestrel's cap is a backstop at twice the limit plus 1 MiB; the bridge raises it per request for base64.
            k.Limits.MaxRequestBodySize = 2L * options.MaxMessageBytes + 1024 * 1024;
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
                // HTTP/2-only: ALPN h2 with TLS, prior knowledge (h2c) without.
                if (tls != null) lo.UseHttps(HttpsOptions(tls));
                grpc = lo;
            });
            if (options.BridgePort >= 0)
                k.Listen(address, options.BridgePort, lo =>
                {
                    lo.Protocols = HttpProtocols.Http1;
                    if (tls != null) lo.UseHttps(HttpsOptions(tls));
                    bridge0 = lo;
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

        // The gRPC services are resolved from DI when the first call comes, after the core below exists.
        DaemonEndpoints.AddServices(builder.Services, options, () => Service!, _health, _lifetime);
        _app = builder.Build();
        var loggers = _app.Services.GetRequiredService<ILoggerFactory>();
        _logger = loggers.CreateLogger("InpaintSuite.Daemon");
        // No runner given: the same engines the CLI composes (fill, content-aware, installed models).
        if (options.Runner == null && options.Engines == null) _ownedEngines = EngineSetup.Create(options.ModelsDirectory, options.ModelMemoryBudget, options.LoraDirectory);
        Engines = options.Engines ?? _ownedEngines;
        var runner = options.Runner ?? Engines!.Runner;
        var catalog = options.Catalog ?? Engines?.Catalog ?? new StaticEngineCatalog();
        var limits = options.Limits();
        if (Engines != null)
        {
            Engines.Limits = limits;
            var modelLog = loggers.CreateLogger("InpaintSuite.Daemon.Models");
            var previous = Engines.SessionCache.Observer;
            Engines.SessionCache.Observer = e => { previous?.Invoke(e); ModelCacheLog.Write(modelLog, e); };
            var previousNotes = Engines.ModelNotes;
            Engines.ModelNotes = m => { previousNotes?.Invoke(m); ModelCacheLog.Note(modelLog, m); };
        }
        // With engines (not a bare runner), GPU inference gets a device of its own with one worker, so content-aware and
        // fill jobs on the CPU workers do not wait behind it; without a GPU nothing is routed there. Engine and device
        // are resolved once, at submit.
        var jobsLog = loggers.CreateLogger("InpaintSuite.Daemon.Jobs");
        _queue = Engines != null && (options.Runner == null || ReferenceEquals(options.Runner, Engines.Runner))
            ? new JobQueue(Engines.ResolvedRunner, [new JobDevice(JobDevice.Cpu, options.Workers), new JobDevice(JobDevice.Gpu, 1)], Engines.Resolve, limits, jobsLog)
            : new JobQueue(runner, [new JobDevice(JobDevice.Cpu, options.Workers)], r => ResolveByCatalog(catalog, r), limits, jobsLog);
        Service = new InpainterService(_queue, options, catalog);
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
        _health.SetStatus(Protocol.InpainterClient.ServiceName, HealthCheckResponse.Types.ServingStatus.Serving);
        var bridge = new JsonBridge(Service, _health, options, new DaemonToken(options.AuthToken), loggers.CreateLogger("InpaintSuite.Daemon.Bridge"), _lifetime);
        var a1111Endpoint = options.A1111Port >= 0
            ? new A1111.A1111Endpoint(new A1111.A1111Jobs(_queue), options, catalog, Engines, loggers.CreateLogger("InpaintSuite.Daemon.A1111"))
            : null;
        DaemonEndpoints.Map(_app, isBridgePort: port => _bridgeListen != null && port == BridgePort, bridge,
            a1111Endpoint == null ? null : (port => _a1111Listen != null && port == A1111Port, a1111Endpoint.HandleAsync));
        _grpcListen = grpc!;
        _bridgeListen = bridge0;
        _a1111Listen = a1111;
        _app.Lifetime.ApplicationStopping.Register(() => _ = BeginShutdown());
    }

    /// <summary>Without engines: the engine as named, if the catalog lists it (NOT_FOUND before queueing otherwise).</summary>
    private static ResolvedEngine ResolveByCatalog(IEngineCatalog catalog, OperationRequest r)
    {
        var engine = r.Settings.Engine;
        if (!string.Equals(engine, EngineNames.Auto, StringComparison.OrdinalIgnoreCase) && !catalog.Engines.Contains(engine, StringComparer.OrdinalIgnoreCase))
            throw new EngineNotFoundException(engine);
        return new ResolvedEngine(engine, JobDevice.Cpu);
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

    /// <summary>True when both ports speak TLS (<see cref="DaemonOptions.TlsCertificate"/>).</summary>
    public bool Tls { get; }

    public Uri GrpcAddress => new($"{Scheme}://{UriHost}:{GrpcPort}");

    public Uri BridgeAddress => new($"{Scheme}://{UriHost}:{BridgePort}");

    /// <summary>The A1111-compatible API's port (-1 = off).</summary>
    public int A1111Port { get; private set; } = -1;

    public Uri A1111Address => new($"{Scheme}://{UriHost}:{A1111Port}");

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
        if (host.Engines != null) host.WarmUp = host.WarmUpAsync(host.Engines, options.WarmUpModel, host._lifetime.Stopping);
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
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        _health.SetStatus(Protocol.InpainterClient.ServiceName, HealthCheckResponse.Types.ServingStatus.NotServing);
        _lifetime.Stop();
        _shutdownTask = _queue.ShutdownAsync(Options.ShutdownGrace);
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
}
