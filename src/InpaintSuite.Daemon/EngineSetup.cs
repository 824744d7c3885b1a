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
/// picked up without a restart. All diffusion engines draw their ONNX sessions from one <see cref="SessionCache"/>,
/// so a model's sessions load once per process and the least recently used ones are released under the memory budget.
/// </summary>
public sealed class EngineSetup : IAsyncDisposable, IEngineCatalog
{
    private readonly string? _modelsDirectory;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DiffusionEngine> _diffusion = new(StringComparer.OrdinalIgnoreCase);
    private IReadOnlyList<ModelEntry> _entries = [];
    private string _stamp = "";

    private EngineSetup(string? modelsDirectory, long modelMemoryBudget)
    {
        _modelsDirectory = modelsDirectory;
        SessionCache = new ModelSessionCache(modelMemoryBudget);
        Registry = EngineRegistry.WithBuiltIns([new ContentAwareEngine()]);
        Runner = new RescanningRunner(this, new OperationRunner(Registry));
        Rescan();
    }

    public EngineRegistry Registry { get; }

    /// <summary>Runs operations with whatever engines are installed at the time of the call.</summary>
    public IOperationRunner Runner { get; }

    public IEngineCatalog Catalog => this;

    /// <summary>Engines for <paramref name="modelsDirectory"/> (null or missing = classical engines only).</summary>
    /// <param name="modelsDirectory">The models folder.</param>
    /// <param name="modelMemoryBudget">Bytes of model weights kept loaded (null = <see cref="ModelMemory.DefaultBudget"/>).</param>
    public static EngineSetup Create(string? modelsDirectory, long? modelMemoryBudget = null) =>
        new(modelsDirectory, modelMemoryBudget ?? ModelMemory.DefaultBudget());

    /// <summary>The one session cache every diffusion engine of this process shares (loads once, LRU under the budget).</summary>
    public ModelSessionCache SessionCache { get; }

    /// <summary>
    /// The engine warm-up should load for <paramref name="spec"/>: "auto" = the model the auto engine picks for inpaint,
    /// a model name, or "none"/empty (null). Null too when auto finds no diffusion model (nothing to load).
    /// Throws <see cref="EngineNotFoundException"/> for a model name that is not installed and usable.
    /// </summary>
    public DiffusionEngine? ResolveWarmUp(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Equals("none", StringComparison.OrdinalIgnoreCase)) return null;
        Rescan();
        if (spec.Equals(EngineNames.Auto, StringComparison.OrdinalIgnoreCase))
        {
            try { return Registry.Resolve(EngineNames.Auto, Operation.Inpaint) as DiffusionEngine; }
            catch (EngineNotFoundException) { return null; }
        }
        lock (_lock)
        {
            if (_diffusion.TryGetValue(spec, out var engine)) return engine;
            var names = string.Join(", ", _diffusion.Keys.Order(StringComparer.Ordinal));
            throw new EngineNotFoundException(spec, $"warm-up model '{spec}' is not an installed, usable model (installed: {(names.Length > 0 ? names : "none")})");
        }
    }

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
            lock (_lock) return _entries.Select(e => ToWire(e, _diffusion.TryGetValue(e.Name, out var engine) && engine.IsLoaded)).ToList();
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
                var engine = new DiffusionEngine(entry, ContentAwarePreFill, sessionCache: SessionCache);
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

    private static W.ModelInfo ToWire(ModelEntry e, bool loaded)
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
            Loaded = loaded,
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
        SessionCache.Dispose();
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
