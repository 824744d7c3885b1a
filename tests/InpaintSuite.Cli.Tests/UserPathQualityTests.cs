using System.Text.Json;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Cli.Tests;

/// <summary>
/// The fill-quality bar (<see cref="FillQualityBar"/>) on ../shared/eval measured where users meet it: the
/// `inpaintsuite inpaint` / `outpaint` commands with default settings (engine auto, no models installed: the
/// content-aware engine; default feather), in-process and against a daemon (--daemon), each result written by the
/// CLI (patches blended by Imaging's Compositor, the blend the plugins use). Outpaint cases start from the kept strip
/// and extend it to the case's size. Also: nothing outside the mask changes, byte for byte, and the daemon's result
/// equals the in-process one. The engine alone is measured by Imaging.Tests' ContentAwareEvalTests.
/// </summary>
public sealed class UserPathQualityTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-userpath-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private sealed record EvalCase(string Id, string Op, int[]? Keep);

    private static List<EvalCase> Cases(string casesDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(casesDir, "cases.json")));
        return doc.RootElement.EnumerateArray().Select(e => new EvalCase(
            e.GetProperty("id").GetString()!, e.GetProperty("op").GetString()!,
            e.TryGetProperty("keep", out var k) ? k.EnumerateArray().Select(v => v.GetInt32()).ToArray() : null)).ToList();
    }

    /// <summary>Runs every case through the CLI (with <paramref name="daemon"/> as --daemon when given) into <paramref name="outDir"/>.</summary>
    private async Task RunCasesAsync(string casesDir, string outDir, string modelsDir, string? daemon)
    {
        Directory.CreateDirectory(outDir);
        foreach (var c in Cases(casesDir))
        {
            string image = Path.Combine(casesDir, c.Id + ".image.png"), result = Path.Combine(outDir, c.Id + ".png");
            var args = new List<string>();
            if (c.Op == "outpaint")
            {
                // The user has the kept strip and asks for the canvas around it.
                var full = ImageCodec.Load(image);
                var (kx, ky, kw, kh) = (c.Keep![0], c.Keep[1], c.Keep[2], c.Keep[3]);
                string strip = Path.Combine(_dir, c.Id + ".strip.png");
                ImageCodec.SavePng(full.Crop(kx, ky, kw, kh), strip);
                args.AddRange(["outpaint", strip, "--left", kx.ToString(), "--top", ky.ToString(),
                    "--right", (full.Width - kx - kw).ToString(), "--bottom", (full.Height - ky - kh).ToString()]);
            }
            else args.AddRange(["inpaint", image, "--mask", Path.Combine(casesDir, c.Id + ".mask.png")]);
            // A fixed seed only makes the run repeatable (the in-process and daemon results are compared byte for byte).
            args.AddRange(["-o", result, "--seed", "1", "--models", modelsDir]);
            if (daemon != null) args.AddRange(["--daemon", daemon]);
            var (code, _, err) = await CliHarness.RunAsync([.. args]);
            Assert.True(code == 0, $"{c.Id}: {err}");
        }
    }

    /// <summary>Rule 2 with the engines' default (no band for content-aware): every unmasked pixel is the input's.</summary>
    private static void AssertOutsideUnchanged(string casesDir, string outDir)
    {
        foreach (var c in Cases(casesDir))
        {
            var input = ImageCodec.Load(Path.Combine(casesDir, c.Id + ".image.png"));
            var mask = ImageCodec.Load(Path.Combine(casesDir, c.Id + ".mask.png"));
            var result = ImageCodec.Load(Path.Combine(outDir, c.Id + ".png"));
            Assert.Equal((input.Width, input.Height), (result.Width, result.Height));
            int changed = 0;
            for (int i = 0; i < input.Width * input.Height; i++)
                if (mask.Data[i * 4] == 0 && !input.Data.AsSpan(i * 4, 4).SequenceEqual(result.Data.AsSpan(i * 4, 4))) changed++;
            Assert.True(changed == 0, $"{c.Id}: {changed} pixels outside the mask changed");
        }
    }

    [Fact]
    public async Task CliAndDaemonWithDefaultSettingsMeetTheQualityBar()
    {
        string cases = Path.Combine(TestPaths.SharedEval, "cases");
        Assert.True(File.Exists(Path.Combine(cases, "cases.json")), $"eval cases not found at {cases}");
        string models = Directory.CreateDirectory(Path.Combine(_dir, "models")).FullName; // none installed: auto = content-aware
        string local = Path.Combine(_dir, "cli"), viaDaemon = Path.Combine(_dir, "daemon");

        await RunCasesAsync(cases, local, models, null);
        await using (var setup = EngineSetup.Create(models))
        await using (var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, Runner = setup.Runner, Catalog = setup.Catalog }))
            await RunCasesAsync(cases, viaDaemon, models, daemon.GrpcAddress.ToString());

        var cli = FillQualityBar.Score(local);
        output.WriteLine($"CLI in-process: {cli.Raw}");
        output.WriteLine($"CLI outpaint cases: median seam {FillQualityBar.MedianOf(cli, "seam", "-outpaint")}");
        FillQualityBar.AssertMeets(cli, "CLI in-process, default settings");
        double outpaintSeam = FillQualityBar.MedianOf(cli, "seam", "-outpaint");
        Assert.True(outpaintSeam is >= FillQualityBar.MinMedianSeam and <= FillQualityBar.MaxMedianSeam, $"outpaint median seam {outpaintSeam}: {cli.Raw}");
        AssertOutsideUnchanged(cases, local);

        foreach (var c in Cases(cases))
            Assert.True(ImageCodec.Load(Path.Combine(local, c.Id + ".png")).Data.AsSpan().SequenceEqual(ImageCodec.Load(Path.Combine(viaDaemon, c.Id + ".png")).Data),
                $"{c.Id}: the daemon's result differs from the in-process one");
        var d = FillQualityBar.Score(viaDaemon);
        output.WriteLine($"CLI --daemon: {d.Raw}");
        FillQualityBar.AssertMeets(d, "CLI --daemon, default settings");

        if (Environment.GetEnvironmentVariable("INPAINTSUITE_EVAL_KEEP") is { Length: > 0 } keep)
            foreach (var f in Directory.GetFiles(local)) File.Copy(f, Path.Combine(Directory.CreateDirectory(keep).FullName, Path.GetFileName(f)), true);
    }
}
