using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>
/// Finds and loads the ONNX Runtime shared library once per process and gives it to the official managed API
/// (Microsoft.ML.OnnxRuntime.Managed) through that assembly's DllImport resolver, so the managed API uses exactly the
/// library found here. Search order: <see cref="Configure"/>, the <c>INPAINTSUITE_ORT_LIBRARY</c> environment variable
/// (a file, or a folder holding the library), then <c>runtimes/&lt;rid&gt;/native/</c> beside the application (what the
/// build puts there for the chosen flavour), the application folder, then the OS default search.
/// </summary>
public static unsafe class OrtLibrary
{
    public const string EnvironmentVariable = "INPAINTSUITE_ORT_LIBRARY";

    private static readonly object Gate = new();
    private static string? configuredPath;
    private static Loaded? loaded;
    private static Exception? loadError;

    /// <summary>The C API version Microsoft.ML.OnnxRuntime.Managed 1.30 asks for (ORT_API_VERSION): a library must serve it.</summary>
    internal const uint ApiVersion = 30;

    private static int resolverState; // 0 = not yet, 1 = ours, 2 = someone else's was there first

    private sealed record Loaded(IntPtr Handle, string Path, string Version);

    /// <summary>
    /// Points the binding at a specific onnxruntime build (a library file, or a folder holding it), e.g. one
    /// with the CUDA provider libraries beside it. Must be called before the first use; later calls with another
    /// path throw, because a process can hold only one ONNX Runtime.
    /// </summary>
    public static void Configure(string? libraryPath)
    {
        lock (Gate)
        {
            if (loaded != null && libraryPath != null && !PathsEqual(ResolveCandidate(libraryPath), loaded.Path))
                throw new InvalidOperationException($"ONNX Runtime is already loaded from {loaded.Path}; it cannot be switched to {libraryPath} in the same process.");
            configuredPath = string.IsNullOrWhiteSpace(libraryPath) ? null : libraryPath;
            loadError = null;
        }
    }

    /// <summary>
    /// Loads the library (once) and makes the managed API use it. Call before touching any Microsoft.ML.OnnxRuntime
    /// type: the managed API binds its native calls on first use.
    /// </summary>
    internal static void EnsureLoaded()
    {
        var l = Load();
        if (Volatile.Read(ref resolverState) != 0) return;
        lock (Gate)
        {
            if (resolverState != 0) return;
            // Managed would otherwise register its own resolver (it looks only beside its assembly and in the system path).
            Microsoft.ML.OnnxRuntime.OrtEnv.DisableDllImportResolver = true;
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(Microsoft.ML.OnnxRuntime.OrtEnv).Assembly, (name, _, _) =>
                    name.Equals("onnxruntime", StringComparison.OrdinalIgnoreCase) || name.Contains("onnxruntime.dll", StringComparison.OrdinalIgnoreCase)
                    || name.StartsWith("libonnxruntime", StringComparison.Ordinal) ? l.Handle : IntPtr.Zero);
                resolverState = 1;
            }
            catch (InvalidOperationException)
            {
                // The host registered a resolver for the managed assembly first: it decides which library is used.
                resolverState = 2;
                OnnxRuntimeLog.Write($"the host set its own DllImport resolver for Microsoft.ML.OnnxRuntime; the library it loads is used, not {l.Path}");
            }
        }
    }

    /// <summary>Full path of the loaded library (loads it if needed).</summary>
    public static string LibraryPath => Load().Path;

    /// <summary>ONNX Runtime's version string, e.g. "1.30.0".</summary>
    public static string Version => Load().Version;

    /// <summary>True when the library can be loaded; <paramref name="error"/> says why not otherwise.</summary>
    public static bool TryLoad(out string? error)
    {
        try
        {
            Load();
            error = null;
            return true;
        }
        catch (OnnxRuntimeUnavailableException e)
        {
            error = e.Message;
            return false;
        }
    }

    private static Loaded Load()
    {
        var l = Volatile.Read(ref loaded);
        if (l != null) return l;
        lock (Gate)
        {
            if (loaded != null) return loaded;
            if (loadError != null) throw new OnnxRuntimeUnavailableException(loadError.Message, loadError.InnerException);
            try
            {
                loaded = LoadCore();
                return loaded;
            }
            catch (OnnxRuntimeUnavailableException e)
            {
                loadError = e;
                throw;
            }
        }
    }

    private static Loaded LoadCore()
    {
        var tried = new List<string>();
        IntPtr handle = IntPtr.Zero;
        string? path = null;
        var explicitPath = configuredPath ?? (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env : null);
        if (explicitPath != null)
        {
            path = ResolveCandidate(explicitPath);
            handle = LoadExplicit(path, configuredPath != null ? "the configured onnxruntime.library" : EnvironmentVariable);
        }
        else
        {
            foreach (var dir in CandidateDirectories())
            {
                foreach (var name in LibraryNames())
                {
                    var candidate = Path.Combine(dir, name);
                    tried.Add(candidate);
                    if (!File.Exists(candidate)) continue;
                    PreloadCompanions(candidate);
                    if (NativeLibrary.TryLoad(candidate, out handle)) { path = candidate; break; }
                }
                if (handle != IntPtr.Zero) break;
            }
            if (handle == IntPtr.Zero)
            {
                foreach (var name in LibraryNames())
                {
                    tried.Add(name + " (system search path)");
                    if (NativeLibrary.TryLoad(name, typeof(OrtLibrary).Assembly, DllImportSearchPath.SafeDirectories | DllImportSearchPath.AssemblyDirectory, out handle))
                    {
                        path = name;
                        break;
                    }
                }
            }
            if (handle == IntPtr.Zero)
                throw new OnnxRuntimeUnavailableException(
                    "ONNX Runtime shared library not found. The build normally copies it to runtimes/" + HostRid + "/native/ " +
                    "(build/OnnxRuntime.targets, from the -p:OnnxRuntimeFlavor package), or set " + EnvironmentVariable +
                    " to an onnxruntime library file or folder (version 1.30 or newer). Tried: " + string.Join(", ", tried));
        }

        return Bind(handle, path!);
    }

    private static IntPtr LoadExplicit(string path, string source)
    {
        if (!File.Exists(path))
            throw new OnnxRuntimeUnavailableException($"ONNX Runtime library not found at {path} (from {source}).");
        PreloadCompanions(path);
        try { return NativeLibrary.Load(path); }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new OnnxRuntimeUnavailableException($"ONNX Runtime library at {path} (from {source}) could not be loaded: {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks a candidate library without making it the process's runtime: null when it is a usable ONNX Runtime
    /// (serves API <see cref="ApiVersion"/>), else the error text a user would see.
    /// </summary>
    internal static string? Probe(string libraryPath)
    {
        try
        {
            var path = ResolveCandidate(libraryPath);
            Bind(LoadExplicit(path, "a probe"), path);
            return null;
        }
        catch (OnnxRuntimeUnavailableException e)
        {
            return e.Message;
        }
    }

    private static Loaded Bind(IntPtr handle, string path)
    {
        if (!NativeLibrary.TryGetExport(handle, "OrtGetApiBase", out var getApiBaseAddress))
            throw new OnnxRuntimeUnavailableException($"{path} does not export OrtGetApiBase; it is not an ONNX Runtime library.");
        var apiBase = ((delegate* unmanaged[Cdecl]<IntPtr>)getApiBaseAddress)();
        // OrtApiBase = { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
        var getApi = (delegate* unmanaged[Cdecl]<uint, IntPtr>)((IntPtr*)apiBase)[0];
        var getVersion = (delegate* unmanaged[Cdecl]<IntPtr>)((IntPtr*)apiBase)[1];
        var version = Marshal.PtrToStringUTF8(getVersion()) ?? "unknown";
        // The managed API asks for this version on first use and fails obscurely if the library lacks it: say it here.
        if (getApi(ApiVersion) == IntPtr.Zero)
            throw new OnnxRuntimeUnavailableException(
                $"ONNX Runtime at {path} is version {version}, which does not serve API version {ApiVersion}; InpaintSuite needs ONNX Runtime 1.30 or newer " +
                $"(unset {EnvironmentVariable} to use the bundled 1.30.0, or point it at a newer build).");
        if (!Path.IsPathRooted(path)) path = NativeLibraryPathOf(handle) ?? path;
        return new Loaded(handle, path, version);
    }

    private static string ResolveCandidate(string p)
    {
        var full = Path.GetFullPath(p);
        if (!Directory.Exists(full)) return full;
        foreach (var name in LibraryNames())
            if (File.Exists(Path.Combine(full, name))) return Path.Combine(full, name);
        return Path.Combine(full, LibraryNames()[0]);
    }

    // DirectML.dll must come from beside onnxruntime.dll, not from System32's older copy.
    private static void PreloadCompanions(string libraryPath)
    {
        if (!OperatingSystem.IsWindows()) return;
        var dml = Path.Combine(Path.GetDirectoryName(libraryPath) ?? ".", "DirectML.dll");
        if (File.Exists(dml)) NativeLibrary.TryLoad(dml, out _);
    }

    private static IEnumerable<string> CandidateDirectories()
    {
        // runtimes/<rid>/native is where the build copies the flavour's natives; the application folder is where a
        // RID-specific publish of NuGet natives would put them.
        var bases = new List<string> { AppContext.BaseDirectory };
        var asmDir = Path.GetDirectoryName(typeof(OrtLibrary).Assembly.Location);
        if (!string.IsNullOrEmpty(asmDir) && !PathsEqual(asmDir, AppContext.BaseDirectory)) bases.Add(asmDir);
        foreach (var b in bases)
        {
            yield return Path.Combine(b, "runtimes", HostRid, "native");
            yield return b;
        }
    }

    internal static string[] LibraryNames() =>
        OperatingSystem.IsWindows() ? ["onnxruntime.dll"]
        : OperatingSystem.IsMacOS() ? ["libonnxruntime.1.dylib", "libonnxruntime.dylib"]
        : ["libonnxruntime.so.1", "libonnxruntime.so"];

    /// <summary>The portable RID of this process, e.g. linux-x64 (the folder name under runtimes/).</summary>
    public static string HostRid
    {
        get
        {
            var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
            var arch = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => "x64",
                Architecture.Arm64 => "arm64",
                Architecture.X86 => "x86",
                var a => a.ToString().ToLowerInvariant(),
            };
            return os + "-" + arch;
        }
    }

    private static bool PathsEqual(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)),
            OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);

    // For a library found through the system search path, report where it actually came from (Linux: /proc/self/maps).
    private static string? NativeLibraryPathOf(IntPtr handle)
    {
        _ = handle;
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var i = line.IndexOf('/');
                if (i >= 0 && line.Contains("libonnxruntime", StringComparison.Ordinal)) return line[i..];
            }
        }
        catch (IOException) { }
        return null;
    }
}
