namespace InpaintSuite.Runtime.Onnx;

/// <summary>Which execution provider a session should use.</summary>
public enum ExecutionProviderKind
{
    /// <summary>DirectML on Windows, else CUDA when its provider libraries load, else CPU; the reason for any fallback is recorded.</summary>
    Auto,
    Cpu,
    Cuda,
    DirectML,
}

/// <summary>GraphOptimizationLevel from onnxruntime_c_api.h.</summary>
public enum GraphOptimizationLevel
{
    DisableAll = 0,
    Basic = 1,
    Extended = 2,
    Layout = 3,
    All = 99,
}

/// <summary>
/// How a session is created. Defaults: the process's provider choice (<see cref="DefaultExecutionProvider"/>, auto unless
/// INPAINTSUITE_ORT_PROVIDER says otherwise), ONNX Runtime's own thread counts, all optimisations.
/// </summary>
public sealed record OrtSessionOptions
{
    /// <summary>Environment variable choosing the default provider: auto (default), cuda, directml or cpu.</summary>
    public const string ProviderEnvironmentVariable = "INPAINTSUITE_ORT_PROVIDER";

    private static ExecutionProviderKind? defaultProvider;
    private static OrtSessionOptions? defaultOptions;

    public ExecutionProviderKind ExecutionProvider { get; init; } = DefaultExecutionProvider;

    /// <summary>
    /// The provider options get when they do not name one: set by the host (e.g. a --provider flag), else read from
    /// <see cref="ProviderEnvironmentVariable"/>, else auto. Set it before the first session is created.
    /// </summary>
    public static ExecutionProviderKind DefaultExecutionProvider
    {
        get => defaultProvider ??= ParseProvider(Environment.GetEnvironmentVariable(ProviderEnvironmentVariable)) ?? ExecutionProviderKind.Auto;
        set
        {
            defaultProvider = value;
            defaultOptions = null;
        }
    }

    /// <summary>auto|cuda|directml|cpu (any case; "dml" for DirectML) or null for anything else.</summary>
    public static ExecutionProviderKind? ParseProvider(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "auto" or "" => ExecutionProviderKind.Auto,
        "cpu" => ExecutionProviderKind.Cpu,
        "cuda" => ExecutionProviderKind.Cuda,
        "directml" or "dml" => ExecutionProviderKind.DirectML,
        _ => null,
    };

    /// <summary>GPU index for DirectML / CUDA.</summary>
    public int DeviceId { get; init; }

    /// <summary>Threads inside one operator (0 = ONNX Runtime's default, one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across operators in parallel execution mode (0 = default).</summary>
    public int InterOpThreads { get; init; }

    public GraphOptimizationLevel GraphOptimization { get; init; } = GraphOptimizationLevel.All;

    /// <summary>
    /// Optional optimised-model cache file. When set, ONNX Runtime saves the optimised graph there on the first load;
    /// later loads of the same model file read the cache instead (if it is newer than the model) with optimisation
    /// off, which skips the optimiser's start-up cost.
    /// </summary>
    public string? OptimizedModelCachePath { get; init; }

    /// <summary>Extra session config entries (AddSessionConfigEntry), e.g. "session.use_env_allocators".</summary>
    public IReadOnlyDictionary<string, string>? ConfigEntries { get; init; }

    /// <summary>Options with every default (the provider is <see cref="DefaultExecutionProvider"/>).</summary>
    public static OrtSessionOptions Default => defaultOptions ??= new();

    /// <summary>
    /// The execution provider sessions created with these options use ("CPU", "CUDA", "DirectML"). For
    /// <see cref="ExecutionProviderKind.Auto"/> this makes the once-per-process decision the first session would make.
    /// Throws like session creation when an explicitly requested provider cannot be enabled.
    /// </summary>
    public string ResolveProvider()
    {
        using var built = ExecutionProviders.Build(this);
        return built.Provider;
    }
}
