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

/// <summary>How a session is created. Defaults: auto provider, ONNX Runtime's own thread counts, all optimisations.</summary>
public sealed record OrtSessionOptions
{
    public ExecutionProviderKind ExecutionProvider { get; init; } = ExecutionProviderKind.Auto;

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

    public static OrtSessionOptions Default { get; } = new();

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
