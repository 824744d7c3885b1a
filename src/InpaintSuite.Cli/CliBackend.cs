using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using InpaintSuite.Protocol;
using InpaintSuite.Protocol.Grpc;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Cli;

/// <summary>Where an operation runs: in this process, or on a daemon (--daemon URL).</summary>
internal abstract class CliBackend : IAsyncDisposable
{
    public abstract Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress> progress, CancellationToken ct);

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static CliBackend Create(string? daemonUrl, string? token, string? modelsDir, string? tlsCa = null)
    {
        if (daemonUrl is { Length: > 0 })
        {
            if (!Uri.TryCreate(daemonUrl, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
                throw new UsageException($"--daemon '{daemonUrl}' is not an http:// or https:// URL");
            return new DaemonBackend(uri, token ?? ClientCredentials.DefaultToken(), CliTls.Trusted(tlsCa));
        }
        return new InProcessBackend(modelsDir);
    }

    private sealed class InProcessBackend(string? modelsDir) : CliBackend
    {
        private readonly EngineSetup _engines = EngineSetup.Create(modelsDir ?? EngineSetup.DefaultModelsDirectory());

        public override async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress> progress, CancellationToken ct)
            => await _engines.Runner.RunAsync(request, progress, ct).ConfigureAwait(false);

        public override ValueTask DisposeAsync() => _engines.DisposeAsync();
    }

    private sealed class DaemonBackend(Uri address, string? token, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? trusted) : CliBackend
    {
        private readonly InpainterClient _client = new(address, new GrpcChannelOptions { BearerToken = token, MaxReceiveMessageBytes = int.MaxValue - 64, TrustedCertificates = trusted });

        public override async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress> progress, CancellationToken ct)
        {
            var sw = Stopwatch.StartNew();
            var events = request.Operation switch
            {
                Operation.Inpaint => _client.Inpaint(ClientConversions.ToInpaint(request), cancellationToken: ct),
                Operation.Outpaint => _client.Outpaint(ClientConversions.ToOutpaint(request), cancellationToken: ct),
                Operation.ImageToImage => _client.ImageToImage(ClientConversions.ToImageToImage(request), cancellationToken: ct),
                _ => _client.DepthToImage(ClientConversions.ToDepth(request), cancellationToken: ct),
            };
            var (_, result) = await InpainterClient.RunToResultAsync(events, e =>
            {
                if (e.Progress is { } p) progress.Report(new OperationProgress((int)p.Step, (int)p.Total, p.Stage.Length > 0 ? p.Stage : "working"));
                else if (e.Queued is { } q) progress.Report(new OperationProgress(0, 1, $"queued ({q.Position} ahead)"));
            }, ct).ConfigureAwait(false);
            return ClientConversions.FromWire(result, request.Image.Depth, sw.Elapsed);
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
    public static string Hint(GrpcStatusException e) =>
        e.Message.Contains("server certificate rejected", StringComparison.Ordinal) ? $" (trust the daemon's CA or certificate with --tls-ca FILE or {EnvironmentVariable})" : "";

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

/// <summary>Core request/result types to and from the wire, for the client side.</summary>
internal static class ClientConversions
{
    public static W.InpaintRequest ToInpaint(OperationRequest r) => new()
    {
        Image = WireConversions.ToWire(r.Image),
        Mask = r.Mask is null ? null : ToWire(r.Mask),
        Settings = ToWire(r.Settings),
        MaskOptions = ToWire(r.MaskOptions),
        Client = "inpaintsuite-cli",
    };

    public static W.OutpaintRequest ToOutpaint(OperationRequest r)
    {
        var e = r.Outpaint ?? throw new UsageException("outpaint needs an extension");
        var w = new W.OutpaintRequest { Image = WireConversions.ToWire(r.Image), Settings = ToWire(r.Settings), MaskOptions = ToWire(r.MaskOptions), Client = "inpaintsuite-cli" };
        if (e.AspectWidth > 0 && e.AspectHeight > 0) w.Aspect = new W.AspectRatio { Width = (uint)e.AspectWidth, Height = (uint)e.AspectHeight };
        else w.Extend = new W.Extension { Left = (uint)e.Left, Top = (uint)e.Top, Right = (uint)e.Right, Bottom = (uint)e.Bottom };
        return w;
    }

    public static W.ImageToImageRequest ToImageToImage(OperationRequest r) => new()
    {
        Image = WireConversions.ToWire(r.Image),
        Mask = r.Mask is null ? null : ToWire(r.Mask),
        Settings = ToWire(r.Settings),
        MaskOptions = ToWire(r.MaskOptions),
        Client = "inpaintsuite-cli",
    };

    public static W.DepthToImageRequest ToDepth(OperationRequest r) => new()
    {
        Image = WireConversions.ToWire(r.Image),
        DepthMap = r.DepthMap is null ? null : WireConversions.ToWire(r.DepthMap),
        Mask = r.Mask is null ? null : ToWire(r.Mask),
        Settings = ToWire(r.Settings),
        MaskOptions = ToWire(r.MaskOptions),
        Client = "inpaintsuite-cli",
    };

    public static W.Mask ToWire(Mask m) => new() { Width = (uint)m.Width, Height = (uint)m.Height, Data = Google.Protobuf.ByteString.CopyFrom(m.Data) };

    public static W.GenerationSettings ToWire(GenerationSettings s)
    {
        var w = new W.GenerationSettings
        {
            Engine = s.Engine,
            Prompt = s.Prompt,
            NegativePrompt = s.NegativePrompt,
            Steps = (uint)Math.Max(0, s.Steps),
            Scheduler = s.Scheduler ?? "",
            BatchSize = (uint)Math.Max(1, s.BatchSize),
        };
        if (s.GuidanceScale is { } g) w.GuidanceScale = g;
        if (s.Seed is { } seed) w.Seed = seed;
        if (s.Strength is { } st) w.Strength = st;
        return w;
    }

    public static W.MaskOptions ToWire(MaskOptions m)
    {
        var w = new W.MaskOptions
        {
            Grow = m.Grow,
            FillMode = m.FillMode switch
            {
                FillMode.Blur => W.FillMode.Blur,
                FillMode.Noise => W.FillMode.Noise,
                FillMode.Original => W.FillMode.Original,
                FillMode.Border => W.FillMode.Border,
                FillMode.ContentAware => W.FillMode.ContentAware,
                _ => W.FillMode.Unspecified,
            },
            WholeImageContext = m.WholeImageContext,
            ColorMatch = m.ColorMatch,
        };
        if (m.Feather is { } f) w.Feather = f;
        if (m.ContextPadding is { } cp) w.ContextPadding = (uint)Math.Max(0, cp);
        return w;
    }

    public static OperationResult FromWire(W.Result r, PixelDepth inputDepth, TimeSpan elapsed)
    {
        var limits = new WireConversions.Limits(long.MaxValue, int.MaxValue);
        var patches = r.Patches.Select(p =>
        {
            var img = WireConversions.ToImage(p.Image, "result.patches.image", limits);
            if (img.Depth != inputDepth) img = PixelConversions.ConvertDepth(img, inputDepth);
            return new ResultPatch(p.X, p.Y, img, p.Seed);
        }).ToList();
        return new OperationResult
        {
            Patches = patches,
            Engine = r.Engine,
            CanvasWidth = (int)r.CanvasWidth,
            CanvasHeight = (int)r.CanvasHeight,
            InputOffsetX = r.InputOffsetX,
            InputOffsetY = r.InputOffsetY,
            EngineTime = r.Timings is { EngineSeconds: > 0 } t ? TimeSpan.FromSeconds(t.EngineSeconds) : elapsed,
        };
    }
}
