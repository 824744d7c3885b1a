using System.Runtime.InteropServices;
using Ort = Microsoft.ML.OnnxRuntime;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>Whether one GPU execution provider can be used here, and why not in words.</summary>
public sealed record ExecutionProviderReport(string Provider, bool Usable, string? Reason)
{
    public override string ToString() => Usable ? $"{Provider}: usable" : $"{Provider}: unavailable: {Reason}";
}

/// <summary>Turns <see cref="OrtSessionOptions"/> into the managed API's session options, choosing and appending the execution provider.</summary>
internal static class ExecutionProviders
{
    // Auto's decision is made once per process: a provider that failed to load will not load on the next session either.
    private static readonly Lock Gate = new();
    private static (string Provider, string? Note)? autoDecision;
    private static readonly Dictionary<string, ExecutionProviderReport> Reports = new(StringComparer.Ordinal);

    internal sealed class Built(Ort.SessionOptions options, string provider, string? note) : IDisposable
    {
        public Ort.SessionOptions Options { get; } = options;
        public string Provider { get; } = provider;
        public string? Note { get; } = note;
        public void Dispose() => Options.Dispose();
    }

    /// <summary>The last auto decision, for GetCapabilities ("CPU: CUDA unavailable: ...").</summary>
    internal static (string Provider, string? Note)? AutoDecision { get { lock (Gate) return autoDecision; } }

    /// <summary>GPU providers auto tries here, in order.</summary>
    internal static string[] AutoCandidates => OperatingSystem.IsWindows() ? ["DirectML", "CUDA"] : ["CUDA"];

    public static Built Build(OrtSessionOptions o)
    {
        switch (o.ExecutionProvider)
        {
            case ExecutionProviderKind.Cpu:
                return new Built(CreateBase(o), "CPU", null);
            case ExecutionProviderKind.DirectML:
            case ExecutionProviderKind.Cuda:
            {
                var name = o.ExecutionProvider == ExecutionProviderKind.Cuda ? "CUDA" : "DirectML";
                var opts = CreateBase(o);
                var reason = TryAppend(name, opts, o.DeviceId);
                if (reason == null) return new Built(opts, name, null);
                opts.Dispose();
                throw new OnnxRuntimeException(OrtErrorCode.EpFail,
                    $"the {name} execution provider (device {o.DeviceId}) could not be enabled: {reason}. Choose another provider " +
                    $"({OrtSessionOptions.ProviderEnvironmentVariable}=auto falls back to CPU), or set {OrtLibrary.EnvironmentVariable} to an onnxruntime build that has it.");
            }
            default:
                return BuildAuto(o);
        }
    }

    private static Built BuildAuto(OrtSessionOptions o)
    {
        var decided = AutoDecision;
        if (decided is { Provider: "CPU" }) return new Built(CreateBase(o), "CPU", decided.Value.Note);
        var reasons = new List<string>();
        foreach (var candidate in AutoCandidates)
        {
            if (decided != null && decided.Value.Provider != candidate) continue;
            var opts = CreateBase(o);
            var reason = TryAppend(candidate, opts, o.DeviceId);
            if (reason == null) return Record(new Built(opts, candidate, null));
            opts.Dispose();
            reasons.Add($"{candidate} unavailable: {reason}");
        }
        return Record(new Built(CreateBase(o), "CPU", "auto chose CPU; " + string.Join("; ", reasons)));
    }

    /// <summary>A session on the auto-chosen provider failed to build but CPU worked: later auto sessions use CPU, with the reason.</summary>
    internal static void RecordAutoFailure(string provider, string message)
    {
        lock (Gate)
        {
            var note = $"auto chose CPU; {provider} unavailable: it was enabled but failed to create a session: {FirstLine(message)}";
            OnnxRuntimeLog.Write(note);
            autoDecision = ("CPU", note);
            Reports[provider] = new ExecutionProviderReport(provider, false, $"enabled but failed to create a session: {FirstLine(message)}");
        }
    }

    private static Built Record(Built b)
    {
        lock (Gate)
        {
            if (autoDecision == null) OnnxRuntimeLog.Write(b.Note ?? $"auto chose {b.Provider}");
            autoDecision = (b.Provider, b.Note);
        }
        return b;
    }

    /// <summary>
    /// Whether CUDA and DirectML can be enabled in this process (checked once each, without creating a session), for
    /// `inpaintsuite models`, GetCapabilities and the daemon log.
    /// </summary>
    internal static IReadOnlyList<ExecutionProviderReport> Check()
    {
        var result = new List<ExecutionProviderReport>();
        foreach (var name in new[] { "CUDA", "DirectML" })
        {
            ExecutionProviderReport? known;
            lock (Gate) Reports.TryGetValue(name, out known);
            if (known == null)
            {
                using var opts = CreateBase(OrtSessionOptions.Default with { ExecutionProvider = ExecutionProviderKind.Cpu });
                TryAppend(name, opts, 0);
                lock (Gate) known = Reports[name];
            }
            result.Add(known);
        }
        return result;
    }

    /// <summary>Appends the provider; null on success, else the reason in words (also remembered for <see cref="Check"/>).</summary>
    private static string? TryAppend(string provider, Ort.SessionOptions opts, int deviceId)
    {
        var reason = Blocker(provider);
        if (reason == null)
        {
            try
            {
                if (provider == "CUDA") AppendCuda(opts, deviceId);
                else AppendDirectML(opts, deviceId);
            }
            catch (Ort.OnnxRuntimeException e)
            {
                reason = FirstLine(OrtErrors.Wrap(e).NativeMessage);
            }
            catch (EntryPointNotFoundException e)
            {
                reason = "the loaded ONNX Runtime lacks the provider's entry point (" + e.Message + ")";
            }
        }
        lock (Gate)
        {
            // A provider that appended once stays usable unless a session later failed on it (RecordAutoFailure).
            if (!Reports.TryGetValue(provider, out var old) || old.Usable || reason != null)
                Reports[provider] = new ExecutionProviderReport(provider, reason == null, reason);
        }
        return reason;
    }

    /// <summary>What rules a provider out before ONNX Runtime is asked: wrong OS, a build without it, missing GPU libraries.</summary>
    private static string? Blocker(string provider)
    {
        var available = OrtEnvironment.Instance.AvailableProviders;
        if (provider == "DirectML")
        {
            if (!OperatingSystem.IsWindows()) return "DirectML exists only on Windows";
            if (!available.Contains("DmlExecutionProvider"))
                return $"this ONNX Runtime is {BuildKind(available)} without the DirectML provider (build InpaintSuite with -p:OnnxRuntimeFlavor=directml)";
            return null;
        }
        if (!available.Contains("CUDAExecutionProvider"))
            return $"this ONNX Runtime is {BuildKind(available)} without the CUDA provider (build InpaintSuite with -p:OnnxRuntimeFlavor=cuda)";
        var missing = MissingCudaLibraries();
        return missing.Count == 0 ? null
            : $"missing {string.Join(", ", missing)}; the CUDA flavour needs an NVIDIA driver, CUDA 13 and cuDNN 9 installed (on the library path)";
    }

    internal static string BuildKind(IReadOnlyList<string> available) =>
        available.Contains("CUDAExecutionProvider") ? "a CUDA build"
        : available.Contains("DmlExecutionProvider") ? "a DirectML build"
        : "a CPU-only build";

    // What libonnxruntime_providers_cuda of the 1.30.0 GPU packages links against (readelf -d: NEEDED) plus cuDNN, which it
    // opens at run time. Checked by name so the reason names the missing library without reading ONNX Runtime's message.
    private static readonly (string Library, string What)[] CudaLibrariesLinux =
    [
        ("libcuda.so.1", "NVIDIA driver"), ("libcudart.so.13", "CUDA 13 runtime"), ("libcublas.so.13", "cuBLAS 13"),
        ("libcublasLt.so.13", "cuBLASLt 13"), ("libcurand.so.10", "cuRAND 10"), ("libcudnn.so.9", "cuDNN 9"),
    ];

    private static readonly (string Library, string What)[] CudaLibrariesWindows =
    [
        ("nvcuda.dll", "NVIDIA driver"), ("cudart64_13.dll", "CUDA 13 runtime"), ("cublas64_13.dll", "cuBLAS 13"),
        ("cublasLt64_13.dll", "cuBLASLt 13"), ("curand64_10.dll", "cuRAND 10"), ("cudnn64_9.dll", "cuDNN 9"),
    ];

    internal static List<string> MissingCudaLibraries()
    {
        var missing = new List<string>();
        var beside = Path.GetDirectoryName(OrtLibrary.LibraryPath);
        foreach (var (library, what) in OperatingSystem.IsWindows() ? CudaLibrariesWindows : CudaLibrariesLinux)
        {
            // ONNX Runtime's loader finds these on the system search path or beside libonnxruntime; so do we.
            if (NativeLibrary.TryLoad(library, out var h) || (beside != null && NativeLibrary.TryLoad(Path.Combine(beside, library), out h)))
                NativeLibrary.Free(h);
            else
                missing.Add($"{library} ({what})");
        }
        return missing;
    }

    // "/onnxruntime_src/...cc:1988 ...Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library X with error: ..." -> "Failed to load library X with error: ..."
    // Only to shorten the words shown to a user; no decision depends on it.
    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n');
        s = (i < 0 ? s : s[..i]).Trim();
        var m = System.Text.RegularExpressions.Regex.Match(s, @"\[ONNXRuntimeError\] : \d+ : \w+ : ");
        return m.Success ? s[(m.Index + m.Length)..] : s;
    }

    private static Ort.SessionOptions CreateBase(OrtSessionOptions o)
    {
        _ = OrtEnvironment.Instance; // loads the library and binds the managed API to it before its first native call
        var opts = new Ort.SessionOptions();
        try
        {
            if (o.IntraOpThreads > 0) opts.IntraOpNumThreads = o.IntraOpThreads;
            if (o.InterOpThreads > 0) opts.InterOpNumThreads = o.InterOpThreads;
            opts.GraphOptimizationLevel = (Ort.GraphOptimizationLevel)(int)o.GraphOptimization;
            if (o.OptimizedModelCachePath is { Length: > 0 } cache)
            {
                var full = Path.GetFullPath(cache);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                opts.OptimizedModelFilePath = full;
            }
            if (o.ConfigEntries != null)
                foreach (var (key, value) in o.ConfigEntries)
                    opts.AddSessionConfigEntry(key, value);
            return opts;
        }
        catch (Ort.OnnxRuntimeException e)
        {
            opts.Dispose();
            throw OrtErrors.Wrap(e);
        }
        catch
        {
            opts.Dispose();
            throw;
        }
    }

    private static void AppendDirectML(Ort.SessionOptions opts, int deviceId)
    {
        // DirectML cannot use memory patterns or parallel execution.
        opts.EnableMemoryPattern = false;
        opts.ExecutionMode = Ort.ExecutionMode.ORT_SEQUENTIAL;
        opts.AppendExecutionProvider_DML(deviceId); // the DML build's exported OrtSessionOptionsAppendExecutionProvider_DML
    }

    private static void AppendCuda(Ort.SessionOptions opts, int deviceId)
    {
        using var cuda = new Ort.OrtCUDAProviderOptions();
        cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        opts.AppendExecutionProvider_CUDA(cuda);
    }
}
