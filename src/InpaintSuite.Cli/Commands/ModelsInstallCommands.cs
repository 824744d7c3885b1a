using System.CommandLine;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using InpaintSuite.Runtime.Models.Install;
using Spectre.Console;

namespace InpaintSuite.Cli.Commands;

/// <summary>
/// `models list | install NAME | verify [NAME] | remove NAME | describe DIR`: model sets from the
/// manifest (built into the CLI; --manifest overrides) into the models folder, through
/// Runtime's <see cref="ModelInstaller"/> (resume, parallel files, SHA-256, atomic placement).
/// </summary>
internal static class ModelsInstallCommands
{
    /// <summary>$INPAINTSUITE_MODELS_DIR, else ~/.local/share/inpaintsuite/models (Linux) or %LOCALAPPDATA%\InpaintSuite\models.</summary>
    public static string DefaultModelsDirectory =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_MODELS_DIR") is { Length: > 0 } d ? d
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
            OperatingSystem.IsWindows() ? "InpaintSuite" : "inpaintsuite", "models");

    public static IEnumerable<Command> Create(CliIo io)
    {
        yield return List(io);
        yield return Install(io);
        yield return Verify(io);
        yield return Remove(io);
        yield return Describe(io);
    }

    private static Option<string?> ModelsOption() => new("--models") { Description = "Models folder (default: $INPAINTSUITE_MODELS_DIR or the per-user data folder)." };
    private static Option<string?> ManifestOption() => new("--manifest") { Description = "Model manifest JSON (default: the one built into this CLI)." };

    private static ModelManifest LoadManifest(string? path)
    {
        if (path is { Length: > 0 }) return ModelManifest.Load(path);
        using var s = typeof(ModelsInstallCommands).Assembly.GetManifestResourceStream("manifest.json")
            ?? throw new ModelInstallException("this build has no built-in model manifest; pass --manifest");
        using var r = new StreamReader(s);
        return ModelManifest.Parse(r.ReadToEnd());
    }

    private static ModelInstaller Installer(ParseResult parse, Option<string?> models, Option<string?> manifest, string? baseUrl = null, bool allowUnverified = false, int parallel = 4) =>
        new(LoadManifest(parse.GetValue(manifest)), new ModelInstallerOptions
        {
            ModelsDirectory = parse.GetValue(models) ?? DefaultModelsDirectory,
            BaseUrl = baseUrl,
            AllowUnverified = allowUnverified,
            Parallelism = parallel,
        });

    private static Command List(CliIo io)
    {
        var models = ModelsOption();
        var manifest = ManifestOption();
        var json = new Option<bool>("--json") { Description = "One JSON object per line." };
        var cmd = new Command("list", "Known model sets and what is installed.") { models, manifest, json };
        cmd.SetAction((parse, _) =>
        {
            using var installer = Installer(parse, models, manifest);
            var installed = installer.ListInstalled().ToDictionary(m => m.Name, StringComparer.OrdinalIgnoreCase);
            foreach (var set in installer.Manifest.Models)
            {
                bool have = installed.Remove(set.Name);
                string size = set.TotalSize is { } t ? FormatBytes(t) : "size to be filled";
                if (parse.GetValue(json))
                    io.Out.WriteLine(JsonSerializer.Serialize(new { name = set.Name, kind = set.Kind, dtype = set.Dtype, license = set.License, repo = set.Source.Repo, installed = have, bytes = set.TotalSize, verified = !set.Unverified.Any() }));
                else
                    io.Out.WriteLine($"{(have ? "installed " : "available ")} {set.Name,-18} {set.Kind,-15} {set.Dtype}  {size,-18} {set.License,-22} {set.Source.Repo}" + (set.Unverified.Any() ? "  (hashes to be filled)" : ""));
            }
            foreach (var local in installed.Values)
            {
                if (parse.GetValue(json)) io.Out.WriteLine(JsonSerializer.Serialize(new { name = local.Name, installed = true, local = true }));
                else io.Out.WriteLine($"installed  {local.Name,-18} (not in the manifest: {local.Folder})");
            }
            return Task.FromResult(ExitCodes.Ok);
        });
        return cmd;
    }

    private static Command Install(CliIo io)
    {
        var name = new Argument<string>("name") { Description = "Model set name (see 'inpaintsuite models list')." };
        var models = ModelsOption();
        var manifest = ManifestOption();
        var baseUrl = new Option<string?>("--base-url") { Description = "Mirror URL ({base}/{repo}/resolve/{revision}/{path}, or a template with {name}/{repo}/{revision}/{path}) or a local folder ({folder}/{name}/{path})." };
        var allow = new Option<bool>("--allow-unverified") { Description = "Install entries whose sizes/hashes the manifest does not know yet (hashes are computed and recorded)." };
        var parallel = new Option<int>("--parallel") { Description = "Files downloaded at once.", DefaultValueFactory = _ => 4 };
        var cmd = new Command("install", "Download, verify and install a model set (resumes interrupted downloads).") { name, models, manifest, baseUrl, allow, parallel };
        cmd.SetAction(async (parse, ct) =>
        {
            using var installer = Installer(parse, models, manifest, parse.GetValue(baseUrl), parse.GetValue(allow), Math.Max(1, parse.GetValue(parallel)));
            string folder;
            using (var progress = new InstallProgress(io))
                folder = await installer.InstallAsync(parse.GetValue(name)!, progress, ct);
            io.Out.WriteLine($"installed {parse.GetValue(name)} into {folder}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Verify(CliIo io)
    {
        var name = new Argument<string?>("name") { Description = "Model set name; all installed when omitted.", Arity = ArgumentArity.ZeroOrOne };
        var models = ModelsOption();
        var manifest = ManifestOption();
        var cmd = new Command("verify", "Check installed files against their sizes and SHA-256 (exit 1 on any problem).") { name, models, manifest };
        cmd.SetAction((parse, _) =>
        {
            using var installer = Installer(parse, models, manifest);
            var names = parse.GetValue(name) is { Length: > 0 } n ? [n] : installer.ListInstalled().Select(m => m.Name).ToList();
            if (names.Count == 0) { io.Out.WriteLine("no models installed in " + installer.ModelsDirectory); return Task.FromResult(ExitCodes.Ok); }
            bool ok = true;
            foreach (var m in names)
            {
                var r = installer.Verify(m);
                io.Out.WriteLine(r.Ok ? $"ok {m}" : $"FAILED {m}: {string.Join("; ", r.Problems)}");
                ok &= r.Ok;
            }
            return Task.FromResult(ok ? ExitCodes.Ok : ExitCodes.Failed);
        });
        return cmd;
    }

    private static Command Remove(CliIo io)
    {
        var name = new Argument<string>("name");
        var models = ModelsOption();
        var manifest = ManifestOption();
        var cmd = new Command("remove", "Delete an installed model set.") { name, models, manifest };
        cmd.SetAction((parse, _) =>
        {
            using var installer = Installer(parse, models, manifest);
            var n = parse.GetValue(name)!;
            if (!installer.Remove(n)) throw new UsageException($"'{n}' is not installed in {installer.ModelsDirectory}");
            io.Out.WriteLine($"removed {n}");
            return Task.FromResult(ExitCodes.Ok);
        });
        return cmd;
    }

    private static Command Describe(CliIo io)
    {
        var dir = new Argument<string>("folder") { Description = "A model folder (e.g. an Optimum export)." };
        var name = new Option<string?>("--name") { Description = "Name (default: the folder's name)." };
        var kind = new Option<string>("--kind") { Description = "inpaint, img2img, depth or depth-estimator.", DefaultValueFactory = _ => "inpaint" };
        var dtype = new Option<string>("--dtype") { DefaultValueFactory = _ => "fp16" };
        var license = new Option<string>("--license") { DefaultValueFactory = _ => "" };
        var repo = new Option<string>("--repo") { DefaultValueFactory = _ => "" };
        var revision = new Option<string>("--revision") { DefaultValueFactory = _ => "main" };
        var cmd = new Command("describe", "Print a manifest entry (files, sizes, SHA-256) for a model folder.") { dir, name, kind, dtype, license, repo, revision };
        cmd.SetAction((parse, _) =>
        {
            var folder = Path.GetFullPath(parse.GetValue(dir)!);
            var set = ModelManifest.Describe(folder, parse.GetValue(name) ?? new DirectoryInfo(folder).Name, parse.GetValue(kind)!, parse.GetValue(dtype)!,
                parse.GetValue(license)!, parse.GetValue(repo)!, parse.GetValue(revision)!);
            // Round-trip through the manifest parser so what is printed is known to load.
            var json = new ModelManifest { Models = [set] }.ToJson();
            ModelManifest.Parse(json);
            io.Out.WriteLine(JsonSerializer.Serialize(set, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true }));
            return Task.FromResult(ExitCodes.Ok);
        });
        return cmd;
    }

    internal static string FormatBytes(long b) => b switch
    {
        >= 1L << 30 => $"{b / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} B",
    };

    /// <summary>Per-file bars on a terminal; otherwise one line per finished file on stderr.</summary>
    private sealed class InstallProgress : IProgress<ModelInstallProgress>, IDisposable
    {
        private readonly CliIo io;
        private readonly bool bars;
        private readonly ConcurrentDictionary<string, ModelInstallProgress> files = new();
        private readonly CancellationTokenSource stop = new();
        private readonly Task? render;

        public InstallProgress(CliIo io)
        {
            this.io = io;
            bars = ReferenceEquals(io.Err, Console.Error) && !Console.IsErrorRedirected;
            if (bars) render = Task.Run(RenderAsync);
        }

        public void Report(ModelInstallProgress value)
        {
            files[value.File] = value;
            if (!bars && value.Stage is "verified" or "copied" || (!bars && value.Stage == "verifying"))
                lock (io.Err) io.Err.WriteLine($"{value.Model}: {value.File} {value.Stage} ({FormatBytes(value.Bytes)})");
        }

        private async Task RenderAsync()
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            await console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn())
                .StartAsync(async ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>();
                    while (true)
                    {
                        foreach (var (file, p) in files)
                        {
                            if (!tasks.TryGetValue(file, out var t)) tasks[file] = t = ctx.AddTask(file, maxValue: Math.Max(1, p.Total));
                            if (p.Total > 0) t.MaxValue = p.Total;
                            t.Value = p.Bytes;
                        }
                        if (stop.IsCancellationRequested) break;
                        try { await Task.Delay(150, stop.Token); } catch (OperationCanceledException) { }
                    }
                });
        }

        public void Dispose()
        {
            stop.Cancel();
            try { render?.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
            stop.Dispose();
        }
    }
}
