using System.Diagnostics;
using Google.Protobuf;
using InpaintSuite.Benchmarks.Pipelines;
using InpaintSuite.Daemon;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Protocol;
using InpaintSuite.Runtime.Models;
using Microsoft.Extensions.Logging;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Benchmarks.Daemon;

/// <summary>
/// What the model cache buys, through a real daemon on loopback:
///   dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- model-cache MODELS_DIR [--rounds N]
/// MODELS_DIR holds the folders from tests/tools/make_tiny_models.py. Reports medians over N fresh daemons of
/// (1) the first job's latency without warm-up (cold: the job loads the model) beside the same with warm-up
/// finished (baseline: a steady-state job of a daemon that already ran one), (2) job latency when alternating two
/// models under a budget that fits one (every job reloads) beside a budget that fits both, (3) the warm-up time,
/// (4) the cost of a cache hit, and (5) the cost estimate beside the resident-memory growth of loading the models.
/// </summary>
public sealed class ModelCacheTool : IBenchTool
{
    public string Name => "model-cache";
    public string Description => "first-job latency cold vs warmed-up, model switching under a tight budget, hit cost, estimate vs RSS";

    public int Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("usage: model-cache MODELS_DIR [--rounds N]");
            return 2;
        }
        int rounds = 7;
        for (int i = 1; i + 1 < args.Length; i++) if (args[i] == "--rounds") rounds = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
        return RunAsync(Path.GetFullPath(args[0]), rounds).GetAwaiter().GetResult();
    }

    private static W.InpaintRequest Request(string engine)
    {
        const int w = 160, h = 112;
        var pixels = new byte[w * h * 4];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7 % 251);
        var mask = new byte[w * h];
        for (int y = 30; y < 80; y++)
            for (int x = 40; x < 110; x++) mask[y * w + x] = 255;
        return new W.InpaintRequest
        {
            Image = new W.Image { Width = w, Height = h, Format = W.PixelFormat.Rgba8, Data = ByteString.CopyFrom(pixels) },
            Mask = new W.Mask { Width = w, Height = h, Data = ByteString.CopyFrom(mask) },
            Settings = new W.GenerationSettings { Engine = engine, Steps = 4, Seed = 3 },
            Client = "model-cache-bench",
        };
    }

    private static async Task<double> JobMs(InpainterClient client, string engine)
    {
        var sw = Stopwatch.StartNew();
        await InpainterClient.RunToResultAsync(client.Inpaint(Request(engine), TimeSpan.FromMinutes(5)));
        return sw.Elapsed.TotalMilliseconds;
    }

    private static async Task<(EngineSetup Setup, DaemonHost Host)> Start(string modelsDir, long budget, string warmUp)
    {
        var setup = EngineSetup.Create(modelsDir, budget);
        var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            GrpcPort = 0, BridgePort = -1, Engines = setup, WarmUpModel = warmUp, ModelMemoryBudget = budget, MinimumLogLevel = LogLevel.Warning,
        });
        return (setup, host);
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static long ModelBytes(string dir)
    {
        var e = ModelCatalogue.Inspect(dir);
        return new[] { e.TextEncoderPath, e.UnetPath, e.VaeEncoderPath, e.VaeDecoderPath }.Sum(p => ModelMemory.EstimateSessionBytes(p!));
    }

    private static async Task<int> RunAsync(string modelsDir, int rounds)
    {
        const string A = "tiny-sd-inpaint", B = "tiny-sd-base";
        Console.WriteLine($"model cache through the daemon, {rounds} fresh daemons per figure; {Environment.ProcessorCount} cores, "
            + $"load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start (a shared machine: compare figures side by side only)");
        var cold = new List<double>();
        var warmed = new List<double>();
        var steady = new List<double>();
        var warmUp = new List<double>();
        for (int r = -1; r < rounds; r++) // round -1 only warms the JIT
        {
            var (s1, h1) = await Start(modelsDir, 1L << 30, "none");
            using (var c = new InpainterClient(h1.GrpcAddress))
            {
                double first = await JobMs(c, A);
                double second = await JobMs(c, A);
                if (r >= 0) { cold.Add(first); steady.Add(second); }
            }
            await h1.DisposeAsync();
            await s1.DisposeAsync();

            var sw = Stopwatch.StartNew();
            var (s2, h2) = await Start(modelsDir, 1L << 30, "auto");
            await h2.WarmUp;
            double warmMs = sw.Elapsed.TotalMilliseconds;
            using (var c = new InpainterClient(h2.GrpcAddress))
            {
                double first = await JobMs(c, A);
                if (r >= 0) { warmed.Add(first); warmUp.Add(warmMs); }
            }
            await h2.DisposeAsync();
            await s2.DisposeAsync();
        }
        Console.WriteLine($"first job, 160x112 inpaint, 4 steps, {A}:");
        Console.WriteLine($"  cold (no warm-up)        median {Median(cold),7:F0} ms");
        Console.WriteLine($"  after warm-up            median {Median(warmed),7:F0} ms   ({Median(cold) / Median(warmed):F1}x faster than cold)");
        Console.WriteLine($"  baseline: second job     median {Median(steady),7:F0} ms");
        Console.WriteLine($"  warm-up (start -> loaded) median {Median(warmUp),6:F0} ms");

        long oneModel = Math.Max(ModelBytes(Path.Combine(modelsDir, A)), ModelBytes(Path.Combine(modelsDir, B))) + (64 << 10);
        foreach (var (label, budget) in new[] { ("budget fits both", 1L << 30), ("budget fits one", oneModel) })
        {
            var (s, h) = await Start(modelsDir, budget, "none");
            var times = new List<double>();
            using (var c = new InpainterClient(h.GrpcAddress))
            {
                await JobMs(c, A);
                await JobMs(c, B);
                for (int i = 0; i < 2 * rounds; i++) times.Add(await JobMs(c, i % 2 == 0 ? A : B));
            }
            var st = s.SessionCache.Statistics;
            Console.WriteLine($"alternating {A}/{B}, {label,-16} ({ModelMemory.Format(budget)}): median job {Median(times),5:F0} ms; {st}");
            await h.DisposeAsync();
            await s.DisposeAsync();
        }

        // The hit path every component call takes (a job also holds its leases, so these are always hits).
        using (var cache = new ModelCache<string, Stub>(1L << 30, k => new Stub(), _ => 1))
        {
            using (cache.Acquire("unet")) { }
            const int n = 2_000_000;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) using (cache.Acquire("unet")) { }
            Console.WriteLine($"cache hit (acquire + return), one thread: {sw.Elapsed.TotalMilliseconds * 1e6 / n:F0} ns");
        }

        // Estimate vs what the process really grows by when the three tiny models load (CPU provider).
        using (var setup = EngineSetup.Create(modelsDir, 1L << 30).AsDisposable())
        {
            GC.Collect();
            long rss0 = Environment.WorkingSet;
            foreach (var (name, op) in new[] { (A, Operation.Inpaint), (B, Operation.Inpaint), ("tiny-sd-depth", Operation.DepthToImage) })
                ((DiffusionEngine)setup.Value.Registry.Resolve(name, op)).WarmUp();
            GC.Collect();
            long rss1 = Environment.WorkingSet;
            var st = setup.Value.SessionCache.Statistics;
            Console.WriteLine($"three tiny models loaded: estimate {ModelMemory.Format(st.BytesResident)}, resident set grew {ModelMemory.Format(rss1 - rss0)}");
        }
        return 0;
    }

    private sealed class Stub : IDisposable
    {
        public void Dispose() { }
    }
}
