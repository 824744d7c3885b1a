using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using InpaintSuite.Protocol;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Cli;

/// <summary>Where an operation runs: in this process, or on a daemon (--daemon URL).</summary>
internal abstract class CliBackend : IAsyncDisposable
{
    public abstract Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress> progress, CancellationToken ct);

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static CliBackend Create(string? daemonUrl, string? token, string? modelsDir, string? tlsCa = null, string? lorasDir = null)
    {
        if (daemonUrl is { Length: > 0 })
        {
            if (!Uri.TryCreate(daemonUrl, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
                throw new UsageException($"--daemon '{daemonUrl}' is not an http:// or https:// URL");
            return new DaemonBackend(uri, token ?? ClientCredentials.DefaultToken(), CliTls.Trusted(tlsCa));
        }
        return new InProcessBackend(modelsDir, lorasDir);
    }

    private sealed class InProcessBackend(string? modelsDir, string? lorasDir) : CliBackend
    {
        private readonly EngineSetup _engines = EngineSetup.Create(modelsDir ?? EngineSetup.DefaultModelsDirectory(), loraDirectory: lorasDir);

        public override async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress> progress, CancellationToken ct)
            => await _engines.Runner.RunAsync(request, progress, ct).ConfigureAwait(false);

        public override ValueTask DisposeAsync() => _engines.DisposeAsync();
    }

    private sealed class DaemonBackend(Uri address, string? token, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? trusted) : CliBackend
    {
        private readonly InpainterClient _client = new(address, new DaemonClientOptions { BearerToken = token, MaxReceiveMessageBytes = int.MaxValue - 64, TrustedCertificates = trusted });

        public override async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress> progress, CancellationToken ct)
        {
            var sw = Stopwatch.StartNew();
            var events = request.Operation switch
            {
                Operation.Inpaint => _client.Inpaint(WireMapping.ToInpaint(request), cancellationToken: ct),
                Operation.Outpaint => _client.Outpaint(WireMapping.ToOutpaint(request), cancellationToken: ct),
                Operation.ImageToImage => _client.ImageToImage(WireMapping.ToImageToImage(request), cancellationToken: ct),
                Operation.TextToImage => _client.TextToImage(WireMapping.ToTextToImage(request), cancellationToken: ct),
                _ => _client.DepthToImage(WireMapping.ToDepth(request), cancellationToken: ct),
            };
            var (_, result) = await InpainterClient.RunToResultAsync(events, e =>
            {
                if (e.Progress is { } p) progress.Report(new OperationProgress((int)p.Step, (int)p.Total, p.Stage.Length > 0 ? p.Stage : "working"));
                else if (e.Queued is { } q) progress.Report(new OperationProgress(0, 1, $"queued ({q.Position} ahead)"));
            }, ct).ConfigureAwait(false);
            return WireMapping.FromWire(result, request.Image.Depth, sw.Elapsed);
        }

        public override ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Certificates to trust for an https:// daemon: --tls-ca FILE, else INPAINTSUITE_TLS_CA, else the system store (null).</summary>
internal static class CliTls
{
    public const string EnvironmentVariable = ClientCredentials.TrustVariable;

    /// <summary>What to do about a rejected daemon certificate, in CLI terms.</summary>
    public static string Hint(Grpc.Core.RpcException e) =>
        e.Status.Detail.Contains("server certificate rejected", StringComparison.Ordinal) ? $" (trust the daemon's CA or certificate with --tls-ca FILE or {EnvironmentVariable})" : "";

    public static System.Security.Cryptography.X509Certificates.X509Certificate2Collection? Trusted(string? flag)
    {
        var (path, source) = flag is { Length: > 0 } ? (flag, "--tls-ca") : (Environment.GetEnvironmentVariable(EnvironmentVariable), EnvironmentVariable);
        if (path is not { Length: > 0 }) return null;
        try
        {
            return ClientCredentials.LoadTrust(path);
        }
        catch (FileNotFoundException)
        {
            throw new UsageException($"{source}: certificate file not found: {path}");
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new UsageException($"{source}: {path} is not a PEM or DER certificate: {e.Message}");
        }
    }
}

