using System.ComponentModel.DataAnnotations;
using InpaintSuite.Pipelines;
using InpaintSuite.Protocol;
using InpaintSuite.Runtime.Models;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon;

/// <summary>
/// How the daemon is started. `serve` fills it from configuration (<see cref="DaemonConfiguration"/>):
/// every settable public property of a simple type is a "Daemon:Name" key in appsettings.json, an
/// INPAINTSUITE_Daemon__Name variable and `serve --set Name=VALUE`; [Range] is checked at start.
/// </summary>
public sealed class DaemonOptions
{
    /// <summary>Address to bind. Anything but 127.0.0.1 / ::1 / localhost requires a bearer token.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>gRPC (HTTP/2 prior knowledge) port; 0 = ephemeral (see <see cref="DaemonHost.GrpcPort"/>).</summary>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = DaemonDefaults.GrpcPort;

    /// <summary>JSON bridge (HTTP/1.1) port; 0 = ephemeral; -1 = no bridge.</summary>
    [Range(-1, 65535)]
    public int BridgePort { get; set; } = DaemonDefaults.BridgePort;

    /// <summary>AUTOMATIC1111-compatible HTTP API port (/sdapi/v1; `serve --a1111[=PORT]`, 7860); 0 = ephemeral; -1 = off.</summary>
    [Range(-1, 65535)]
    public int A1111Port { get; set; } = -1;

    /// <summary>A1111's --api-auth: "user:password[,user:password]" for HTTP basic auth on the A1111 port (any host).</summary>
    public string? A1111ApiAuthPasswords { get; set; }

    /// <summary>A1111's --cors-allow-origins: comma-separated origins browsers may call the A1111 port from ("*" = any).</summary>
    public string? A1111CorsAllowOrigins { get; set; }

    /// <summary>A1111's --cors-allow-origins-regex: origins matching this regular expression are allowed too.</summary>
    public string? A1111CorsAllowOriginsRegex { get; set; }

    /// <summary>Folder of installed models (null = the runner's default).</summary>
    public string? ModelsDirectory { get; set; }

    /// <summary>Folder of LoRA .safetensors files (null = $INPAINTSUITE_LORAS or loras/ beside the models folder).</summary>
    public string? LoraDirectory { get; set; }

    /// <summary>Largest request or response message in bytes (default fits an 8192x8192 RGBA8 layer and its mask).</summary>
    [Range(1024, int.MaxValue)]
    public int MaxMessageBytes { get; set; } = MessageLimits.DefaultMaxMessageBytes;

    /// <summary>Largest image accepted (width x height).</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long MaxPixels { get; set; } = 8192L * 8192;

    /// <summary>Batch items per job (at most <see cref="RequestLimits.BatchCap"/>, what the engines produce).</summary>
    [Range(1, RequestLimits.BatchCap)]
    public int MaxBatch { get; set; } = 8;

    /// <summary>The one set of request limits for this daemon (validation at submit and GetCapabilities).</summary>
    public RequestLimits Limits() => RequestLimits.From(MaxPixels, MaxBatch);

    /// <summary>Runs operations; null = the Pipelines' default runner.</summary>
    public IOperationRunner? Runner { get; set; }

    /// <summary>Engines and models to advertise; null = derived from the runner.</summary>
    public IEngineCatalog? Catalog { get; set; }

    /// <summary>
    /// Bearer token every call but the health check must carry. Null = none on loopback, and for
    /// a non-loopback host the token file in the user's config folder (created on first use).
    /// </summary>
    public string? AuthToken { get; set; }

    /// <summary>Where the token lives when <see cref="AuthToken"/> is null and the host is not loopback.</summary>
    public string? TokenFile { get; set; }

    /// <summary>CPU worker count (jobs run one at a time per worker). GPU inference has its own single worker: one job owns the GPU.</summary>
    [Range(1, 1024)]
    public int Workers { get; set; } = 1;

    /// <summary>How long shutdown waits for running jobs before cancelling them.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(5);

    public LogLevel MinimumLogLevel { get; set; } = LogLevel.Information;

    /// <summary>
    /// TLS certificate: a PEM file (leaf first, intermediates after; key in <see cref="TlsKey"/> or in
    /// this file) or a PFX/PKCS#12 file. Set: the gRPC port speaks HTTP/2 over TLS (ALPN h2) and the
    /// JSON bridge HTTPS.
    /// </summary>
    public string? TlsCertificate { get; set; }

    /// <summary>PEM private key for <see cref="TlsCertificate"/> (absent: the key is in the certificate file).</summary>
    public string? TlsKey { get; set; }

    /// <summary>Password of a PFX file or of an encrypted PEM key.</summary>
    public string? TlsPassword { get; set; }

    /// <summary>
    /// Bytes of model weights kept loaded across jobs (estimated from the .onnx and external-data file sizes); past it
    /// the least recently used model components not in use are released. Default: half of physical memory, which on
    /// a CPU leaves the other half to the editor and ONNX Runtime's activation buffers and on 16 GB keeps about three
    /// SD 1.5 fp16 models resident; with a GPU provider set it to what fits the card. A model larger than the budget
    /// still loads, but is released when its job ends (the next job loads it again), so give at least the largest model.
    /// </summary>
    [Range(typeof(long), "0", "9223372036854775807")]
    public long ModelMemoryBudget { get; set; } = ModelMemory.DefaultBudget();

    /// <summary>
    /// Model loaded in the background right after the daemon starts listening, so the first job does not pay for it:
    /// "auto" (the model the auto engine picks for inpaint), a model name, or "none". Health is SERVING meanwhile; a
    /// job for the model arriving during warm-up waits for the same load.
    /// </summary>
    public string WarmUpModel { get; set; } = EngineNames.Auto;

    /// <summary>
    /// The engine composition to serve (runner, catalogue, session cache). When null and <see cref="Runner"/> is null,
    /// the daemon builds one from <see cref="ModelsDirectory"/> and <see cref="ModelMemoryBudget"/>. Warm-up needs it.
    /// </summary>
    public EngineSetup? Engines { get; set; }
}

/// <summary>What the daemon advertises in ListModels / GetCapabilities.</summary>
public interface IEngineCatalog
{
    IReadOnlyList<string> Engines { get; }

    IReadOnlyList<Protocol.V1.ModelInfo> Models { get; }

    IReadOnlyList<string> Schedulers { get; }

    /// <summary>LoRA files offered (empty when the process has no LoRA folder).</summary>
    IReadOnlyList<Protocol.V1.LoraInfo> Loras => [];

    /// <summary>The LoRA folder ("" when none).</summary>
    string LoraDirectory => "";
}

/// <summary>The classical engines only (no models installed).</summary>
public sealed class StaticEngineCatalog(IReadOnlyList<string>? engines = null, IReadOnlyList<Protocol.V1.ModelInfo>? models = null) : IEngineCatalog
{
    public IReadOnlyList<string> Engines { get; } = engines ?? [EngineNames.ContentAware, EngineNames.Fill];

    public IReadOnlyList<Protocol.V1.ModelInfo> Models { get; } = models ?? [];

    public IReadOnlyList<string> Schedulers { get; } = RequestLimits.KnownSchedulers;
}
