using InpaintSuite.Imaging.ContentAware;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Pipelines.Engines;
using InpaintSuite.Runtime.Models;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// The one place that composes the engines a process offers: the built-in "fill", the content-aware engine,
/// and one diffusion engine per usable model folder in the models directory. The daemon (serve) and the CLI's
/// in-process runs both start here, so they offer the same engines. The models folder is rescanned when it
/// changes (checked when engines or models are listed and before each job), so a newly installed model is
/// picked up without a restart.
/// </summary>
public sealed class EngineSetup : IAsyncDisposable, IEngineCatalog
{
    private readonly string? _modelsDirectory;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DiffusionEngine> _diffusion = new(StringComparer.OrdinalIgnoreCase);
    private IReadOnlyList<ModelEntry> _entries = [];
    private string _stamp = "";

    private EngineSetup(string? modelsDirectory)
    {
        _modelsDirectory = modelsDirectory;
        Registry = EngineRegistry.WithBuiltIns([new ContentAwareEngine()]);
        Runner = new RescanningRunner(this, new OperationRunner(Registry));
        Rescan();
    }

    public EngineRegistry Registry { get; }

    /// <summary>Runs operations with whatever engines are installed at the time of the call.</summary>
    public IOperationRunner Runner { get; }

    public IEngineCatalog Catalog => this;

    /// <summary>Engines for <paramref name="modelsDirectory"/> (null or missing = classical engines only).</summary>
    public static EngineSetup Create(string? modelsDirectory) => new(modelsDirectory);

    /// <summary>The models directory used when none is configured: INPAINTSUITE_MODELS, else ~/.local/share/inpaintsuite/models.</summary>
    public static string DefaultModelsDirectory() =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_MODELS") is { Length: > 0 } d
            ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "inpaintsuite", "models");

    public IReadOnlyList<string> Engines
    {
        get
        {
            Rescan();
            return Registry.Engines.Select(e => e.Name).ToList();
        }
    }

    public IReadOnlyList<W.ModelInfo> Models
    {
        get
        {
            Rescan();
            lock (_lock) return _entries.Select(ToWire).ToList();
        }
    }

    public IReadOnlyList<string> Schedulers => Runtime.Schedulers.NoiseScheduler.Names;

    /// <summary>The catalogue entries of the last scan (usable or not).</summary>
    public IReadOnlyList<ModelEntry> Entries { get { Rescan(); lock (_lock) return _entries; } }

    /// <summary>Rescans the models folder when its listing changed; registers engines for new usable models.</summary>
    public void Rescan()
    {
        if (_modelsDirectory is null || !Directory.Exists(_modelsDirectory)) return;
        string stamp = Stamp(_modelsDirectory);
        lock (_lock)
        {
            if (stamp == _stamp) return;
            _stamp = stamp;
            _entries = ModelCatalogue.Scan(_modelsDirectory);
            // Inpainting models first: "auto" takes the first registered diffusion engine that supports the operation,
            // and a 9-channel inpainting model beats a base model's latent blending for inpaint and outpaint.
            foreach (var entry in _entries.Where(e => e.Usable && e.Kind != ModelKind.DepthEstimator).OrderBy(e => e.Kind == ModelKind.Inpaint ? 0 : 1).ThenBy(e => e.Name, StringComparer.Ordinal))
            {
                if (_diffusion.ContainsKey(entry.Name)) continue;
                var engine = new DiffusionEngine(entry, ContentAwarePreFill);
                _diffusion[entry.Name] = engine;
                Registry.Register(engine);
            }
        }
    }

    private static Imaging.RgbaImage ContentAwarePreFill(Imaging.RgbaImage image, Imaging.Mask mask, CancellationToken ct) =>
        ContentAwareFill.Fill(image, mask, cancellationToken: ct);

    /// <summary>A cheap fingerprint of the folder: sub-folder names and their model_index.json times.</summary>
    private static string Stamp(string dir)
    {
        try
        {
            return string.Join('|', Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal).Select(d =>
            {
                var idx = Path.Combine(d, "model_index.json");
                return Path.GetFileName(d) + ":" + (File.Exists(idx) ? File.GetLastWriteTimeUtc(idx).Ticks : 0) + ":" + Directory.GetLastWriteTimeUtc(d).Ticks;
            }));
        }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    private static W.ModelInfo ToWire(ModelEntry e)
    {
        var m = new W.ModelInfo
        {
            Name = e.Name,
            Kind = e.KindName,
            Usable = e.Usable,
            Reason = e.Reason,
            Dtype = e.Dtype,
            NativeWidth = (uint)Math.Max(0, e.NativeWidth),
            NativeHeight = (uint)Math.Max(0, e.NativeHeight),
        };
        m.Operations.AddRange(e.Operations);
        return m;
    }

    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            foreach (var e in _diffusion.Values) e.Dispose();
            _diffusion.Clear();
        }
        return ValueTask.CompletedTask;
    }

    private sealed class RescanningRunner(EngineSetup setup, IOperationRunner inner) : IOperationRunner
    {
        public Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
        {
            setup.Rescan();
            return inner.RunAsync(request, progress, cancellationToken);
        }
    }
}
