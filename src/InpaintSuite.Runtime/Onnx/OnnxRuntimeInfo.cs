namespace InpaintSuite.Runtime.Onnx;

/// <summary>What the CLI (`inpaintsuite models`) and the daemon (GetCapabilities, its log) report about ONNX Runtime.</summary>
public sealed record OnnxRuntimeStatus(
    bool Available,
    string? Version,
    IReadOnlyList<string> Providers,
    string? LibraryPath,
    string? ActiveProvider,
    string? ProviderNote,
    string? Error)
{
    /// <summary>"a CPU-only build", "a CUDA build" or "a DirectML build" (from the providers compiled into the library).</summary>
    public string? BuildKind { get; init; }

    /// <summary>The provider asked for: auto (default), cuda, directml or cpu (INPAINTSUITE_ORT_PROVIDER or the host's setting).</summary>
    public string RequestedProvider { get; init; } = "auto";

    /// <summary>Whether each GPU provider can be used here and, if not, why in words (missing library by name, no adapter, CPU-only build).</summary>
    public IReadOnlyList<ExecutionProviderReport> GpuProviders { get; init; } = [];

    /// <summary>
    /// Lines for logs and the CLI, e.g. "ONNX Runtime 1.30.0, a CUDA build (providers: ...) from /app/runtimes/linux-x64/native/libonnxruntime.so;
    /// provider auto: sessions run on CPU (auto chose CPU; CUDA unavailable: missing libcudart.so.13 ...)".
    /// </summary>
    public override string ToString() => Available
        ? $"ONNX Runtime {Version}, {BuildKind} (providers: {string.Join(", ", Providers)}) from {LibraryPath}; provider {RequestedProvider}: " +
          (ActiveProvider != null ? $"sessions run on {ActiveProvider}" : "no session can be created") + (ProviderNote != null ? $" ({ProviderNote})" : "") +
          string.Concat(GpuProviders.Select(p => Environment.NewLine + "  " + p))
        : $"ONNX Runtime unavailable: {Error}";
}

/// <summary>Static, never-throwing view of the loaded ONNX Runtime.</summary>
public static class OnnxRuntimeInfo
{
    /// <summary>
    /// Loads the library if needed and describes it, making the provider decision sessions with default options would
    /// make (so the reason a GPU provider is skipped is known before any model loads); failures come back in
    /// <see cref="OnnxRuntimeStatus.Error"/> or <see cref="OnnxRuntimeStatus.ProviderNote"/>.
    /// </summary>
    public static OnnxRuntimeStatus Describe()
    {
        OrtEnvironment env;
        try
        {
            env = OrtEnvironment.Instance;
        }
        catch (OnnxRuntimeException e)
        {
            return new OnnxRuntimeStatus(false, null, [], null, null, null, e.Message);
        }
        string? active, note;
        try
        {
            using var built = ExecutionProviders.Build(OrtSessionOptions.Default);
            active = built.Provider;
            note = built.Note;
        }
        catch (OnnxRuntimeException e)
        {
            // An explicitly requested provider that cannot be enabled: jobs fail with this message, so say it here too.
            active = null;
            note = e.NativeMessage;
        }
        var requested = OrtSessionOptions.DefaultExecutionProvider.ToString().ToLowerInvariant();
        var raw = Environment.GetEnvironmentVariable(OrtSessionOptions.ProviderEnvironmentVariable);
        if (raw != null && OrtSessionOptions.ParseProvider(raw) == null)
            note = $"{OrtSessionOptions.ProviderEnvironmentVariable}='{raw}' is not auto, cuda, directml or cpu; using auto" + (note != null ? "; " + note : "");
        return new OnnxRuntimeStatus(true, env.Version, env.AvailableProviders, OrtLibrary.LibraryPath, active, note, null)
        {
            BuildKind = ExecutionProviders.BuildKind(env.AvailableProviders),
            RequestedProvider = requested,
            GpuProviders = ExecutionProviders.Check(),
        };
    }

    /// <summary>The ONNX Runtime version string (null when the library cannot be loaded).</summary>
    public static string? Version
    {
        get
        {
            try { return OrtEnvironment.Instance.Version; }
            catch (OnnxRuntimeException) { return null; }
        }
    }

    /// <summary>Providers compiled into the loaded library (empty when it cannot be loaded).</summary>
    public static IReadOnlyList<string> Providers
    {
        get
        {
            try { return OrtEnvironment.Instance.AvailableProviders; }
            catch (OnnxRuntimeException) { return []; }
        }
    }
}
