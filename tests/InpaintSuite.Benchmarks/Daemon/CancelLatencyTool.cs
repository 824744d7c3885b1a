using InpaintSuite.Daemon;
using InpaintSuite.Daemon.Tests;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Benchmarks.Daemon;

/// <summary>
/// Cancellation latency through a real daemon (gRPC on loopback, one worker):
///   dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- cancel-latency MODELS_DIR [--count N] [--steps N] [--ca-size PX] [--ca-hole-pct N] [--content-aware-only]
/// MODELS_DIR holds the folders from tests/tools/make_tiny_models.py. Per engine: one uncancelled run gives the
/// baseline (median and max time of one denoising step / fill iteration, from the gaps between progress events),
/// then N jobs are each cancelled at a uniformly random moment of their run, alternating the CancelJob RPC and a
/// dropped stream. Latency = client's cancel call -> the daemon's JobFinished (engine returned, worker free).
/// Step times are taken on the engine's thread (progress reports); p50/med = p50 over the median step, max/max = the
/// slowest cancel over the slowest step (content-aware iterations grow towards the finest level). Percentiles are nearest-rank:
/// below 100 samples p99 is the largest sample. The pre-fill job's steps are its denoising steps; its pre-fill is a
/// content-aware fill of the region, whose iterations are those of the content-aware row.
/// </summary>
public sealed class CancelLatencyTool : IBenchTool
{
    public string Name => "cancel-latency";
    public string Description => "cancel -> worker free p50/p99/max through the daemon (tiny models, content-aware) beside one step/iteration";

    public int Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("usage: cancel-latency MODELS_DIR [--count N] [--steps N] [--ca-size PX] [--ca-hole-pct N] [--content-aware-only]");
            return 2;
        }
        return RunAsync(args[0], Opt(args, "--count", 50), Opt(args, "--ca-size", 1024), Opt(args, "--steps", 200), Opt(args, "--ca-hole-pct", 10) / 100.0,
            Array.IndexOf(args, "--content-aware-only") >= 0).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string modelsDir, int count, int caSize, int steps, double caHole, bool contentAwareOnly)
    {
        var photo = ImageCodec.Load(Path.Combine(RepoRoot(), "tests", "data", "sample", "photo.png"));
        await using var setup = EngineSetup.Create(modelsDir);
        var timing = new StepTimingRunner(setup.Runner);
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions
        {
            GrpcPort = 0, BridgePort = -1, Runner = timing, Catalog = setup.Catalog, MinimumLogLevel = LogLevel.Warning,
        });
        using var probe = new CancelLatencyProbe(daemon, timing);
        Console.WriteLine($"{count} cancels per engine at random moments (CancelJob RPC and dropped stream alternating); "
            + $"{Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start");
        Console.WriteLine($"{"engine",-44} {"step med",9} {"step max",9} {"job ms",8} {"n",4} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"p50/med",8} {"max/max",8}");
        var scenarios = new (string Label, string Stage, Func<Protocol.InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> Start)[]
        {
            ($"tiny-sd-inpaint (9-ch) {steps} steps", "denoise", CancelScenarios.TinyInpaint(photo, steps)),
            ($"tiny-sd-base img2img {steps} steps", "denoise", CancelScenarios.TinyImageToImage(photo, steps)),
            ($"content-aware {caSize}x{caSize}, {caHole:P0} hole", "content-aware", CancelScenarios.ContentAware(photo, caSize, caHole)),
            ($"tiny-sd-base + c-a pre-fill {caSize} (steps: denoise)", "denoise", CancelScenarios.TinyBaseContentAwarePreFill(photo, caSize, 4)),
        };
        var rng = new Random(1);
        if (contentAwareOnly) scenarios = scenarios.Where(s => s.Stage == "content-aware").ToArray();
        foreach (var (label, stage, start) in scenarios)
        {
            await probe.RunToEndAsync(start, stage); // warm-up: session load, JIT
            var baseline = await probe.RunToEndAsync(start, stage);
            var samples = new List<CancelSample>();
            int skipped = 0;
            for (int i = 0; samples.Count < count && i < count * 3; i++)
            {
                var method = i % 2 == 0 ? CancelMethod.CancelJobRpc : CancelMethod.DropStream;
                var delay = TimeSpan.FromMilliseconds(rng.NextDouble() * baseline.TotalMs * 0.9);
                var s = await probe.CancelOnceAsync(start, method, delay);
                if (s == null) { skipped++; continue; }
                if (s.RunningAfter != 0) throw new InvalidOperationException($"{label}: {s.RunningAfter} jobs still running after the worker was freed");
                samples.Add(s);
            }
            var lat = samples.Select(s => s.LatencyMs).ToList();
            double p50 = CancelLatencyProbe.Percentile(lat, 50), p99 = CancelLatencyProbe.Percentile(lat, 99), max = lat.Max();
            Console.WriteLine($"{label,-44} {baseline.MedianStepMs,9:F1} {baseline.MaxStepMs,9:F1} {baseline.TotalMs,8:F0} {samples.Count,4} {p50,8:F1} {p99,8:F1} {max,8:F1} {p50 / baseline.MedianStepMs,8:F2} {max / baseline.MaxStepMs,8:F2}");
            foreach (var m in new[] { CancelMethod.CancelJobRpc, CancelMethod.DropStream })
            {
                var l = samples.Where(s => s.Method == m).Select(s => s.LatencyMs).ToList();
                var outcomes = string.Join(", ", samples.Where(s => s.Method == m).GroupBy(s => s.ClientOutcome).Select(g => $"{g.Key} x{g.Count()}"));
                Console.WriteLine($"    {m,-14} n {l.Count,3}  p50 {CancelLatencyProbe.Percentile(l, 50),7:F1}  p99 {CancelLatencyProbe.Percentile(l, 99),7:F1}  max {(l.Count > 0 ? l.Max() : double.NaN),7:F1} ms  client saw: {outcomes}");
            }
            if (skipped > 0) Console.WriteLine($"    ({skipped} jobs finished before their cancel and were not counted)");
        }
        Console.WriteLine($"load average at end {File.ReadAllText("/proc/loadavg").Split(' ')[0]} (machine shared with other work)");
        return 0;
    }

    private static int Opt(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("InpaintSuite.sln not found");
    }
}
