using InpaintSuite.Imaging.ContentAware;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Pipelines.Engines;
using InpaintSuite.Runtime.Lora;
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
    private readonly Dictionary<string, string> _engineStamps = new(StringComparer.OrdinalIgnoreCase);
    private string _stamp = "";

    private EngineSetup(string? modelsDirectory, long modelMemoryBudget, string? loraDirectory)
    {
        _modelsDirectory = modelsDirectory;
        var loras = loraDirectory ?? (modelsDirectory != null ? LoraLibrary.DefaultDirectory(modelsDirectory) : null);
        LoraLibrary = loras != null ? new LoraLibrary(loras) : null;
        SessionCache = new ModelSessionCache(modelMemoryBudget);
        Registry = EngineRegistry.WithBuiltIns([new ContentAwareEngine()]);
        _runner = new OperationRunner(Registry);
        Runner = new RescanningRunner(this, _runner);
        Rescan();
    }

    public EngineRegistry Registry { get; }

    /// <summary>Runs operations with whatever engines are installed at the time of the call (in-process use: the models folder is checked first).</summary>
    public IOperationRunner Runner { get; }

    /// <summary>The runner for jobs already resolved by <see cref="Resolve"/> (which checked the models folder): no second scan.</summary>
    public IOperationRunner ResolvedRunner => _runner;

    private readonly OperationRunner _runner;

    /// <summary>The limits the runner validates against (a daemon sets its configured ones, the same its queue checks).</summary>
    public RequestLimits Limits
    {
        get => _runner.Limits;
        set => _runner.Limits = value;
    }

    public IEngineCatalog Catalog => this;

    /// <summary>Engines for <paramref name="modelsDirectory"/> (null or missing = classical engines only).</summary>
    /// <param name="modelsDirectory">The models folder.</param>
    /// <param name="modelMemoryBudget">Bytes of model weights kept loaded (null = <see cref="ModelMemory.DefaultBudget"/>).</param>
    /// <param name="loraDirectory">LoRA folder (null = $INPAINTSUITE_LORAS or loras/ beside the models folder).</param>
    public static EngineSetup Create(string? modelsDirectory, long? modelMemoryBudget = null, string? loraDirectory = null) =>
        new(modelsDirectory, modelMemoryBudget ?? ModelMemory.DefaultBudget(), loraDirectory);

    /// <summary>The LoRA folder every diffusion engine resolves LoRA names in (null without a models folder).</summary>
    public LoraLibrary? LoraLibrary { get; }

    public IReadOnlyList<W.LoraInfo> Loras =>
        LoraLibrary?.List().Select(i => new W.LoraInfo
        {
            Name = i.Name,
            Architecture = i.ArchitectureName,
            Format = i.Format,
            Modules = (uint)i.Modules,
            TextEncoderModules = (uint)i.TextEncoderModules,
            Rank = (uint)i.Rank,
            Bytes = (ulong)Math.Max(0, i.Bytes),
            Error = i.Error ?? "",
        }).ToList() ?? [];

    public string LoraDirectory => LoraLibrary?.Directory ?? "";

    /// <summary>What the engines decide at run time that an operator should see (e.g. an fp16 VAE run in fp32); the daemon logs it.</summary>
    public Action<string>? ModelNotes { get; set; }

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

    /// <summary>
    /// Rescans the models folder when it changed. New usable models get an engine; a model whose folder was replaced
    /// (reinstalled, repaired, re-exported) gets a fresh engine and its cached sessions are released, so no job runs on
    /// the old weights; a removed or no longer usable model loses its engine. Jobs already running keep their sessions.
    /// </summary>
    public void Rescan()
    {
        if (_modelsDirectory is null) return;
        var stamps = Directory.Exists(_modelsDirectory) ? FolderStamps(_modelsDirectory) : new Dictionary<string, string>();
        if (stamps is null) return; // the folder could not be read this time: keep what we have
        string stamp = string.Join('|', stamps.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + ":" + p.Value));
        lock (_lock)
        {
            if (stamp == _stamp) return;
            _stamp = stamp;
            _entries = Directory.Exists(_modelsDirectory) ? ModelCatalogue.Scan(_modelsDirectory) : [];
            var wanted = _entries.Where(e => e.Usable && e.Kind != ModelKind.DepthEstimator).ToDictionary(e => e.Name, StringComparer.OrdinalIgnoreCase);
            bool changed = false;
            foreach (var (name, engine) in _diffusion.ToList())
            {
                string folderStamp = stamps.GetValueOrDefault(Path.GetFileName(engine.Entry.Directory.TrimEnd(Path.DirectorySeparatorChar)), "");
                if (wanted.ContainsKey(name) && _engineStamps.GetValueOrDefault(name) == folderStamp) continue;
                // Replaced or gone: forget the engine and every session loaded from its folder (same paths, new bytes).
                _diffusion.Remove(name);
                _engineStamps.Remove(name);
                Registry.Unregister(name);
                engine.Dispose();
                string prefix = Path.TrimEndingDirectorySeparator(engine.Entry.Directory) + Path.DirectorySeparatorChar;
                SessionCache.Invalidate(k => k.Path.StartsWith(prefix, StringComparison.Ordinal));
                changed = true;
            }
            foreach (var entry in wanted.Values)
            {
                if (_diffusion.ContainsKey(entry.Name)) continue;
                var created = new DiffusionEngine(entry, ContentAwarePreFill, sessionCache: SessionCache, loras: LoraLibrary);
                created.Model.Log = m => ModelNotes?.Invoke(m);
                _diffusion[entry.Name] = created;
                _engineStamps[entry.Name] = stamps.GetValueOrDefault(Path.GetFileName(entry.Directory.TrimEnd(Path.DirectorySeparatorChar)), "");
                changed = true;
            }
            if (!changed) return;
            // Inpainting models first: "auto" takes the first registered diffusion engine that supports the operation,
            // and a 9-channel inpainting model beats a base model's latent blending for inpaint and outpaint.
            foreach (var engine in _diffusion.Values) Registry.Unregister(engine.Name);
            foreach (var engine in _diffusion.Values.OrderBy(e => e.Entry.Kind == ModelKind.Inpaint ? 0 : 1).ThenBy(e => e.Name, StringComparer.Ordinal))
                Registry.Register(engine);
        }
    }

    /// <summary>
    /// A job's engine and device, decided once at submit: the models folder is checked for changes, "auto" becomes the
    /// engine that runs the request, and the device is <see cref="JobDevice.Gpu"/> for a diffusion engine whose sessions
    /// use a GPU provider (one worker owns the GPU), else <see cref="JobDevice.Cpu"/> (content-aware, fill, CPU inference).
    /// Throws <see cref="EngineNotFoundException"/> (not installed) or <see cref="InvalidRequestException"/> (no engine
    /// supports the operation), so such a request never queues.
    /// </summary>
    public ResolvedEngine Resolve(OperationRequest request)
    {
        Rescan();
        var engine = Registry.Resolve(request.Settings.Engine, request.Operation);
        return new ResolvedEngine(engine.Name, engine is DiffusionEngine d && d.ExecutionProvider != "CPU" ? JobDevice.Gpu : JobDevice.Cpu);
    }

    private static Imaging.RgbaImage ContentAwarePreFill(Imaging.RgbaImage image, Imaging.Mask mask, CancellationToken ct) =>
        ContentAwareFill.Fill(image, mask, cancellationToken: ct);

    /// <summary>
    /// A cheap fingerprint per model folder (checked before every job, so only file-system metadata): the write
    /// times of the folder, its model_index.json, each component sub-folder and its model.onnx. Installing or
    /// repairing by rename changes a folder's time; rewriting a file in place changes the file's.
    /// Null when the folder cannot be listed right now.
    /// </summary>
    private static Dictionary<string, string>? FolderStamps(string dir)
    {
        try
        {
            var stamps = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var d in Directory.GetDirectories(dir))
            {
                var sb = new System.Text.StringBuilder();
                var idx = Path.Combine(d, "model_index.json");
                sb.Append(File.Exists(idx) ? File.GetLastWriteTimeUtc(idx).Ticks : 0).Append(',').Append(Directory.GetLastWriteTimeUtc(d).Ticks);
                foreach (var sub in Directory.GetDirectories(d).OrderBy(x => x, StringComparer.Ordinal))
                {
                    var onnx = Path.Combine(sub, "model.onnx");
                    sb.Append(',').Append(Directory.GetLastWriteTimeUtc(sub).Ticks);
                    if (File.Exists(onnx)) sb.Append('/').Append(File.GetLastWriteTimeUtc(onnx).Ticks);
                }
                stamps[Path.GetFileName(d)] = sb.ToString();
            }
            return stamps;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The operation name ModelInfo.operations lists for text-to-image.</summary>
    public const string TextToImageOperation = "txt2img";

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
            Architecture = e.Kind == ModelKind.DepthEstimator ? "" : e.ArchitectureName,
        };
        m.Operations.AddRange(e.Operations);
        // Base and inpainting models also generate from pure noise (DiffusionEngine.Supports).
        if (e.Usable && e.Kind is ModelKind.Img2Img or ModelKind.Inpaint) m.Operations.Add(TextToImageOperation);
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
