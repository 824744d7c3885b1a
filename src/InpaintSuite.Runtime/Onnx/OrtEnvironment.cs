using Ort = Microsoft.ML.OnnxRuntime;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>
/// The process-wide ONNX Runtime environment (the managed API's OrtEnv singleton) and CPU memory info. ONNX Runtime
/// allows one environment per process; it lives until the process exits (sessions may outlive any single caller).
/// </summary>
public sealed class OrtEnvironment
{
    private static readonly Lazy<OrtEnvironment> LazyInstance = new(() => new OrtEnvironment(), LazyThreadSafetyMode.ExecutionAndPublication);

    private OrtEnvironment()
    {
        OrtLibrary.EnsureLoaded();
        try
        {
            var options = new Ort.EnvironmentCreationOptions { logId = "inpaintsuite", logLevel = LogLevel() };
            Env = Ort.OrtEnv.IsCreated ? Ort.OrtEnv.Instance() : Ort.OrtEnv.CreateInstanceWithOptions(ref options);
            CpuMemoryInfo = Ort.OrtMemoryInfo.DefaultInstance;
            Version = Env.GetVersionString();
            AvailableProviders = Env.GetAvailableProviders();
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtErrors.Wrap(e);
        }
    }

    // ERROR by default: ONNX Runtime's warnings (e.g. about old opsets) are noise for users; INPAINTSUITE_ORT_LOG_LEVEL=0..4 overrides.
    private static Ort.OrtLoggingLevel LogLevel() =>
        int.TryParse(Environment.GetEnvironmentVariable("INPAINTSUITE_ORT_LOG_LEVEL"), out var level) && level is >= 0 and <= 4
            ? (Ort.OrtLoggingLevel)level
            : Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;

    /// <summary>The environment (loads the library on first use; throws <see cref="OnnxRuntimeUnavailableException"/> if it cannot).</summary>
    public static OrtEnvironment Instance => LazyInstance.Value;

    internal Ort.OrtEnv Env { get; }

    internal Ort.OrtMemoryInfo CpuMemoryInfo { get; }

    public string Version { get; }

    /// <summary>Execution providers compiled into the loaded library, e.g. CPUExecutionProvider, CUDAExecutionProvider, DmlExecutionProvider.</summary>
    public IReadOnlyList<string> AvailableProviders { get; }
}
