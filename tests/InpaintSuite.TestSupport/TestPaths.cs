using System.Diagnostics;

namespace InpaintSuite.TestSupport;

/// <summary>Where the repository, the reference data (<c>../shared</c> or its vendored copy) and Debian's Python live, for every test project.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The repository root (the folder holding InpaintSuite.sln).</summary>
    public static string RepoRoot => LazyRoot.Value;

    /// <summary>
    /// The reference data: INPAINTSUITE_SHARED_DIR if set, else <c>../shared</c> beside the repository when it
    /// exists (the team's machines and CI), else the copy vendored in <c>tests/data/shared</c>, so a fresh clone
    /// with nothing beside it runs every test. The copy is checked against <c>../shared</c> by tests/tools/check_vendored.sh.
    /// </summary>
    public static string Shared => LazyShared.Value;

    /// <summary>True when <see cref="Shared"/> is the copy in tests/data/shared.</summary>
    public static bool UsingVendoredShared => Shared == Vendored;

    public static string SharedReference => Path.Combine(Shared, "reference");

    /// <summary>
    /// The fill-quality eval folder (score.py, cases/). The vendored copy holds one photo per scene and one mask per
    /// case; the cases are made from it once per clone (tests/tools/materialize_eval.py) into .cache/eval.
    /// </summary>
    public static string SharedEval => UsingVendoredShared ? LazyMaterializedEval.Value : Path.Combine(Shared, "eval");

    private static string Vendored => Path.Combine(RepoRoot, "tests", "data", "shared");

    private static readonly Lazy<string> LazyShared = new(() =>
    {
        if (Environment.GetEnvironmentVariable("INPAINTSUITE_SHARED_DIR") is { Length: > 0 } d) return Path.GetFullPath(d);
        string beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
        return Directory.Exists(Path.Combine(beside, "reference")) ? beside : Vendored;
    });

    private static readonly Lazy<string> LazyMaterializedEval = new(MaterializeEval);

    /// <summary>
    /// Test projects run in parallel processes: each builds into its own temporary folder and renames it into place;
    /// the first rename wins and the others use its result.
    /// </summary>
    private static string MaterializeEval()
    {
        string target = Path.Combine(RepoRoot, ".cache", "eval");
        if (File.Exists(Path.Combine(target, "cases", "cases.json"))) return target;
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string temp = target + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8];
        var (code, _, err) = Run(DebianPython,
            [Path.Combine(RepoRoot, "tests", "tools", "materialize_eval.py"), Path.Combine(Vendored, "eval"), temp], TimeSpan.FromMinutes(2));
        if (code != 0) throw new InvalidOperationException($"materialize_eval.py failed ({code}): {err.Trim()} (needs Debian's python3-pil, python3-numpy)");
        try { Directory.Move(temp, target); }
        catch (IOException) when (File.Exists(Path.Combine(target, "cases", "cases.json"))) { Directory.Delete(temp, true); }
        return target;
    }

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

    /// <summary>LoRA reference folder (cases.json, .safetensors, inputs/, outputs/), honouring INPAINTSUITE_LORA_REFERENCE_DIR.</summary>
    public static string LoraReference =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_LORA_REFERENCE_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(SharedReference, "lora");

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
