namespace InpaintSuite.Runtime.Onnx;

/// <summary>
/// The process-wide OrtEnv and CPU memory info. ONNX Runtime allows one environment per process; it lives
/// until the process exits (sessions may outlive any single caller).
/// </summary>
public sealed unsafe class OrtEnvironment
{
    private static readonly Lazy<OrtEnvironment> LazyInstance = new(() => new OrtEnvironment(), LazyThreadSafetyMode.ExecutionAndPublication);

    private OrtEnvironment()
    {
        var api = OrtLibrary.Api;
        Handle = new OrtEnvHandle();
        CpuMemoryInfo = new OrtMemoryInfoHandle();
        IntPtr env, memInfo;
        fixed (byte* logId = "inpaintsuite\0"u8)
            api.Check(api.CreateEnv(LogLevel(), logId, &env));
        Handle.Own(env);
        api.Check(api.CreateCpuMemoryInfo(1 /* Arena */, 0 /* Default */, &memInfo));
        CpuMemoryInfo.Own(memInfo);
        AvailableProviders = ReadAvailableProviders(api);
    }

    // ERROR by default: ONNX Runtime's warnings (e.g. about old opsets) are noise for users; INPAINTSUITE_ORT_LOG_LEVEL=0..4 overrides.
    private static int LogLevel() =>
        int.TryParse(Environment.GetEnvironmentVariable("INPAINTSUITE_ORT_LOG_LEVEL"), out var level) && level is >= 0 and <= 4 ? level : 3;

    /// <summary>The environment (loads the library on first use; throws <see cref="OnnxRuntimeUnavailableException"/> if it cannot).</summary>
    public static OrtEnvironment Instance => LazyInstance.Value;

    internal OrtEnvHandle Handle { get; }

    internal OrtMemoryInfoHandle CpuMemoryInfo { get; }

    public string Version => OrtLibrary.Version;

    /// <summary>Execution providers compiled into the loaded library, e.g. CPUExecutionProvider, DmlExecutionProvider.</summary>
    public IReadOnlyList<string> AvailableProviders { get; }

    private static IReadOnlyList<string> ReadAvailableProviders(OrtApi api)
    {
        IntPtr list;
        int count;
        api.Check(api.GetAvailableProviders(&list, &count));
        try
        {
            var result = new string[count];
            for (int i = 0; i < count; i++)
                result[i] = System.Runtime.InteropServices.Marshal.PtrToStringUTF8(((IntPtr*)list)[i]) ?? "";
            return result;
        }
        finally
        {
            api.Check(api.ReleaseAvailableProviders(list, count));
        }
    }
}
