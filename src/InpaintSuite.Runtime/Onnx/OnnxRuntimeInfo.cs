namespace InpaintSuite.Runtime.Onnx;

/// <summary>What the CLI (`inpaintsuite models`) and the daemon (GetCapabilities) report about ONNX Runtime.</summary>
public sealed record OnnxRuntimeStatus(
    bool Available,
    string? Version,
    IReadOnlyList<string> Providers,
    string? LibraryPath,
    string? ActiveProvider,
    string? ProviderNote,
    string? Error)
{
    /// <summary>One line for logs and the CLI, e.g. "ONNX Runtime 1.30.0 (CPUExecutionProvider) from /app/runtimes/linux-x64/native/libonnxruntime.so.1".</summary>
    public override string ToString() => Available
        ? $"ONNX Runtime {Version} (providers: {string.Join(", ", Providers)}) from {LibraryPath}" +
          (ActiveProvider != null ? $"; sessions run on {ActiveProvider}" : "") + (ProviderNote != null ? $" ({ProviderNote})" : "")
        : $"ONNX Runtime unavailable: {Error}";
}

/// <summary>Static, never-throwing view of the loaded ONNX Runtime.</summary>
public static class OnnxRuntimeInfo
{
    /// <summary>Loads the library if needed and describes it; failures come back in <see cref="OnnxRuntimeStatus.Error"/>.</summary>
    public static OnnxRuntimeStatus Describe()
    {
        try
        {
            var env = OrtEnvironment.Instance;
            var auto = ExecutionProviders.AutoDecision;
            return new OnnxRuntimeStatus(true, env.Version, env.AvailableProviders, OrtLibrary.LibraryPath,
                auto?.Provider ?? ExpectedAutoProvider(env.AvailableProviders), auto?.Note, null);
        }
        catch (OnnxRuntimeException e)
        {
            return new OnnxRuntimeStatus(false, null, [], null, null, null, e.Message);
        }
    }

    /// <summary>The ONNX Runtime version string (null when the library cannot be loaded).</summary>
    public static string? Version => Describe().Version;

    /// <summary>Providers compiled into the loaded library (empty when it cannot be loaded).</summary>
    public static IReadOnlyList<string> Providers => Describe().Providers;

    // Before any session exists, say what auto will try first.
    private static string ExpectedAutoProvider(IReadOnlyList<string> providers) =>
        OperatingSystem.IsWindows() && providers.Contains("DmlExecutionProvider") ? "DirectML (auto, not yet tried)"
        : providers.Contains("CUDAExecutionProvider") ? "CUDA (auto, not yet tried)"
        : "CPU";
}
