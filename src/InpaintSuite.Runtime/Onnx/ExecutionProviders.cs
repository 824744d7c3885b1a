using System.Text;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>Turns <see cref="OrtSessionOptions"/> into native session options, choosing and appending the execution provider.</summary>
internal static unsafe class ExecutionProviders
{
    // Auto's decision is made once per process: a provider that failed to load will not load on the next session either.
    private static readonly object Gate = new();
    private static (string Provider, string? Note)? autoDecision;

    internal sealed class Built(OrtSessionOptionsHandle options, string provider, string? note) : IDisposable
    {
        public OrtSessionOptionsHandle Options { get; } = options;
        public string Provider { get; } = provider;
        public string? Note { get; } = note;
        public void Dispose() => Options.Dispose();
    }

    /// <summary>The last auto decision, for GetCapabilities ("CPU: CUDA provider libraries not found ...").</summary>
    internal static (string Provider, string? Note)? AutoDecision { get { lock (Gate) return autoDecision; } }

    public static Built Build(OrtSessionOptions o)
    {
        var api = OrtLibrary.Api;
        switch (o.ExecutionProvider)
        {
            case ExecutionProviderKind.Cpu:
                return new Built(CreateBase(api, o), "CPU", null);
            case ExecutionProviderKind.DirectML:
            {
                var opts = CreateBase(api, o);
                try { AppendDirectML(api, opts, o.DeviceId); }
                catch (Exception e) when (e is OnnxRuntimeException or PlatformNotSupportedException)
                {
                    opts.Dispose();
                    throw new OnnxRuntimeException(OrtErrorCode.EpFail, $"the DirectML execution provider (device {o.DeviceId}) could not be enabled: {e.Message}");
                }
                return new Built(opts, "DirectML", null);
            }
            case ExecutionProviderKind.Cuda:
            {
                var opts = CreateBase(api, o);
                try { AppendCuda(api, opts, o.DeviceId); }
                catch (OnnxRuntimeException e)
                {
                    opts.Dispose();
                    throw new OnnxRuntimeException(OrtErrorCode.EpFail,
                        $"the CUDA execution provider (device {o.DeviceId}) could not be enabled: {e.NativeMessage}. The bundled onnxruntime-node build has no CUDA " +
                        $"provider libraries; set {OrtLibrary.EnvironmentVariable} to an onnxruntime GPU build with libonnxruntime_providers_shared and " +
                        "libonnxruntime_providers_cuda beside it, or choose the CPU provider.");
                }
                return new Built(opts, "CUDA", null);
            }
            default:
                return BuildAuto(api, o);
        }
    }

    private static Built BuildAuto(OrtApi api, OrtSessionOptions o)
    {
        var decided = AutoDecision;
        if (decided is { Provider: "CPU" }) return new Built(CreateBase(api, o), "CPU", decided.Value.Note);
        string[] candidates = OperatingSystem.IsWindows() ? ["DirectML", "CUDA"] : ["CUDA"];
        var reasons = new List<string>();
        foreach (var candidate in candidates)
        {
            if (decided != null && decided.Value.Provider != candidate) continue;
            var opts = CreateBase(api, o);
            try
            {
                if (candidate == "DirectML") AppendDirectML(api, opts, o.DeviceId);
                else AppendCuda(api, opts, o.DeviceId);
                return Record(new Built(opts, candidate, null));
            }
            catch (OnnxRuntimeException e)
            {
                opts.Dispose();
                reasons.Add($"{candidate} unavailable: {FirstLine(e.NativeMessage)}");
            }
        }
        return Record(new Built(CreateBase(api, o), "CPU", "auto chose CPU; " + string.Join("; ", reasons)));
    }

    /// <summary>A session on the auto-chosen provider failed to build: later auto sessions use CPU, with the reason.</summary>
    internal static void RecordAutoFailure(string provider, string message)
    {
        lock (Gate)
        {
            var note = $"auto chose CPU; {provider} failed to create a session: {FirstLine(message)}";
            OnnxRuntimeLog.Write(note);
            autoDecision = ("CPU", note);
        }
    }

    private static Built Record(Built b)
    {
        lock (Gate)
        {
            if (autoDecision == null && b.Note != null) OnnxRuntimeLog.Write(b.Note);
            autoDecision = (b.Provider, b.Note);
        }
        return b;
    }

    // "/onnxruntime_src/...cc:1988 ...Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library X with error: ..." -> "Failed to load library X with error: ..."
    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n');
        s = (i < 0 ? s : s[..i]).Trim();
        var m = System.Text.RegularExpressions.Regex.Match(s, @"\[ONNXRuntimeError\] : \d+ : \w+ : ");
        return m.Success ? s[(m.Index + m.Length)..] : s;
    }

    private static OrtSessionOptionsHandle CreateBase(OrtApi api, OrtSessionOptions o)
    {
        var handle = new OrtSessionOptionsHandle();
        try
        {
            IntPtr raw;
            api.Check(api.CreateSessionOptions(&raw));
            handle.Own(raw);
            var p = handle.Pointer;
            if (o.IntraOpThreads > 0) api.Check(api.SetIntraOpNumThreads(p, o.IntraOpThreads));
            if (o.InterOpThreads > 0) api.Check(api.SetInterOpNumThreads(p, o.InterOpThreads));
            api.Check(api.SetSessionGraphOptimizationLevel(p, (int)o.GraphOptimization));
            if (o.OptimizedModelCachePath is { Length: > 0 } cache)
            {
                var full = Path.GetFullPath(cache);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                if (OperatingSystem.IsWindows())
                    fixed (char* c = full) api.Check(api.SetOptimizedModelFilePath(p, c));
                else
                    fixed (byte* c = Encoding.UTF8.GetBytes(full + "\0")) api.Check(api.SetOptimizedModelFilePath(p, c));
            }
            if (o.ConfigEntries != null)
                foreach (var (key, value) in o.ConfigEntries)
                    fixed (byte* k = Encoding.UTF8.GetBytes(key + "\0"))
                    fixed (byte* v = Encoding.UTF8.GetBytes(value + "\0"))
                        api.Check(api.AddSessionConfigEntry(p, k, v));
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void AppendDirectML(OrtApi api, OrtSessionOptionsHandle opts, int deviceId)
    {
        if (!OperatingSystem.IsWindows())
            throw new OnnxRuntimeException(OrtErrorCode.EpFail, "DirectML is only available on Windows");
        // DirectML cannot use memory patterns or parallel execution.
        api.Check(api.DisableMemPattern(opts.Pointer));
        api.Check(api.SetSessionExecutionMode(opts.Pointer, 0 /* SEQUENTIAL */));
        using var keys = new Utf8StringArray(["device_id"]);
        using var values = new Utf8StringArray([deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        fixed (byte* name = "DML\0"u8)
            api.Check(api.SessionOptionsAppendExecutionProvider(opts.Pointer, name, keys.Pointers, values.Pointers, 1));
    }

    private static void AppendCuda(OrtApi api, OrtSessionOptionsHandle opts, int deviceId)
    {
        using var cuda = new OrtCudaProviderOptionsHandle();
        IntPtr raw;
        api.Check(api.CreateCUDAProviderOptions(&raw));
        cuda.Own(raw);
        using var keys = new Utf8StringArray(["device_id"]);
        using var values = new Utf8StringArray([deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        api.Check(api.UpdateCUDAProviderOptions(cuda.Pointer, keys.Pointers, values.Pointers, 1));
        api.Check(api.SessionOptionsAppendExecutionProvider_CUDA_V2(opts.Pointer, cuda.Pointer));
    }
}
