using System.Diagnostics;

namespace InpaintSuite.TestSupport;

/// <summary>Where the repository, <c>../shared</c> and Debian's Python live, for every test project.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The repository root (the folder holding InpaintSuite.sln).</summary>
    public static string RepoRoot => LazyRoot.Value;

    /// <summary><c>../shared</c> beside the repository (read-only reference data).</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string SharedReference => Path.Combine(Shared, "reference");

    public static string SharedEval => Path.Combine(Shared, "eval");

    /// <summary>Reference folder for diffusers data, honouring INPAINTSUITE_DIFFUSERS_REFERENCE_DIR.</summary>
    public static string DiffusersReference =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_DIFFUSERS_REFERENCE_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(SharedReference, "diffusers");

    /// <summary>Reference folder for the tiny SDXL models and runs, honouring INPAINTSUITE_SDXL_REFERENCE_DIR.</summary>
    public static string SdxlReference =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_SDXL_REFERENCE_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(SharedReference, "sdxl");

    /// <summary>True under CI (CI=true): tests that need an external tool must fail rather than skip.</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Debian's python3 (/usr/bin/python3), which sees python3-grpcio, -opencv, -pil, -skimage.
    /// The python3 first on PATH is a separate build that cannot see them.
    /// </summary>
    public static string DebianPython => Environment.GetEnvironmentVariable("INPAINTSUITE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

    /// <summary>
    /// Checks that Debian's python can import <paramref name="modules"/>. Returns null when it can;
    /// otherwise the reason. Callers assert on it: a missing tool is a failure, never a silent skip.
    /// </summary>
    public static string? PythonModulesMissing(params string[] modules)
    {
        if (!File.Exists(DebianPython)) return $"{DebianPython} not found (apt-get install python3)";
        var (code, _, err) = Run(DebianPython, ["-c", "import " + string.Join(",", modules)], TimeSpan.FromSeconds(60));
        return code == 0 ? null : $"{DebianPython} cannot import {string.Join(",", modules)}: {err.Trim()} (.ci/run installs them)";
    }

    /// <summary>Runs a process to completion, capturing stdout/stderr, killing it after <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoRoot,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env != null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}");
        }
        p.WaitForExit();
        return (p.ExitCode, so.Result, se.Result);
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("InpaintSuite.sln not found above " + AppContext.BaseDirectory);
    }
}
