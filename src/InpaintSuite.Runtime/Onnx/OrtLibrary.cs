using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>
/// Finds and loads the ONNX Runtime shared library once per process and hands out its API table.
/// Search order: <see cref="Configure"/> (the <c>onnxruntime.library</c> config key), the
/// <c>INPAINTSUITE_ORT_LIBRARY</c> environment variable (a file, or a folder holding the library), then
/// <c>runtimes/&lt;rid&gt;/native/</c> beside the application (what the build puts there), then the OS default search.
/// </summary>
public static unsafe class OrtLibrary
{
    public const string EnvironmentVariable = "INPAINTSUITE_ORT_LIBRARY";

    private static readonly object Gate = new();
    private static string? configuredPath;
    private static Loaded? loaded;
    private static Exception? loadError;

    private sealed record Loaded(IntPtr Handle, string Path, OrtApi Api, string Version);

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

    internal static OrtApi Api => Load().Api;

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
                    "(from the onnxruntime-node 1.30.0 npm package; rebuild with npm available), or set " + EnvironmentVariable +
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
    /// (API 30 or newer), else the error text a user would see.
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
        var table = getApi(OrtApi.ApiVersion);
        if (table == IntPtr.Zero)
            throw new OnnxRuntimeUnavailableException(
                $"ONNX Runtime at {path} is version {version}, which does not serve API version {OrtApi.ApiVersion}; InpaintSuite needs ONNX Runtime 1.30 or newer " +
                $"(unset {EnvironmentVariable} to use the bundled 1.30.0, or point it at a newer build).");
        if (!Path.IsPathRooted(path)) path = NativeLibraryPathOf(handle) ?? path;
        return new Loaded(handle, path, new OrtApi(table), version);
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
