using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Diffusion;

namespace InpaintSuite.Benchmarks.Pipelines;

/// <summary>
/// The only-masked crop on a large canvas: a 4096x3072 photo (tests/data/sample/photo.png upscaled) with a
/// 120x80 elliptic mask, through the operation runner
///   dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- large-canvas-craft [MODELS_DIR] [--runs N] [--steps N]
/// (a) with a no-op engine (returns the region unchanged: everything measured is non-model work), and
/// (b) with the tiny inpaint model when MODELS_DIR is given (folders from tests/tools/make_tiny_models.py):
/// non-model = total - time inside ONNX Runtime Run calls (DiffusionModel.ModelTime).
/// Medians over --runs (default 9) after one warm-up job; allocated MB is per job (median). Process CPU is the CPU
/// time of all threads during the job (ORT's included): on a loaded machine wall time waits for a core, CPU time does not.
/// </summary>
public sealed class LargeCanvasCraftTool : IBenchTool
{
    public string Name => "large-canvas-craft";
    public string Description => "4096x3072 photo, small mask: runner total / model / non-model ms and allocated MB (no-op engine and tiny model)";

    private sealed class NoOpEngine : IFillEngine
    {
        public string Name => "noop";
        public bool Supports(Operation operation) => true;
        public Task<IReadOnlyList<RgbaImage>> FillAsync(FillRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
            => Task.FromResult<IReadOnlyList<RgbaImage>>(Enumerable.Range(0, Math.Max(1, request.BatchSize)).Select(_ => request.Region).ToList());
    }

    public int Run(string[] args)
    {
        int runs = Opt(args, "--runs", 9), steps = Opt(args, "--steps", 2);
        string? modelsDir = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : null;
        int w = Opt(args, "--width", 4096), h = Opt(args, "--height", 3072);

        var src = ImageCodec.Load(Path.Combine(RepoRoot(), "tests", "data", "sample", "photo.png"));
        var image = Resampler.Resize(src, w, h, ResampleFilter.Lanczos3);
        var mask = Ellipse(w, h, w * 61 / 100, h * 59 / 100, 60, 40);
        Console.WriteLine($"canvas {w}x{h} {image.Depth}, mask 120x80 ellipse; {runs} runs after 1 warm-up (medians); {Environment.ProcessorCount} cores");

        var noop = new OperationRunner(new EngineRegistry([new NoOpEngine()]));
        Measure("no-op engine", noop, "noop", image, mask, runs, steps, null);

        if (modelsDir != null)
        {
            using var setup = EngineSetup.Create(modelsDir).AsDisposable();
            var engine = (DiffusionEngine)setup.Value.Registry.Resolve("tiny-sd-inpaint", Operation.Inpaint);
            engine.WarmUp();
            Measure("tiny-sd-inpaint", setup.Value.Runner, "tiny-sd-inpaint", image, mask, runs, steps, engine.Model);
        }
        return 0;
    }

    private static void Measure(string label, IOperationRunner runner, string engine, RgbaImage image, Mask mask, int runs, int steps, DiffusionModel? model)
    {
        var totals = new List<double>(); var models = new List<double>(); var allocs = new List<double>(); var cpus = new List<double>();
        var proc = Process.GetCurrentProcess();
        for (int r = 0; r <= runs; r++)
        {
            var req = new OperationRequest
            {
                Operation = Operation.Inpaint, Image = image, Mask = mask,
                Settings = new GenerationSettings { Engine = engine, Steps = steps, Seed = 9 },
            };
            var m0 = model?.ModelTime ?? TimeSpan.Zero;
            long a0 = GC.GetTotalAllocatedBytes(true);
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var result = runner.RunAsync(req, null, CancellationToken.None).GetAwaiter().GetResult();
            double total = sw.Elapsed.TotalMilliseconds;
            long a1 = GC.GetTotalAllocatedBytes(true);
            proc.Refresh();
            double cpu = (proc.TotalProcessorTime - c0).TotalMilliseconds;
            if (result.Patches.Count != 1) throw new InvalidOperationException("expected one patch");
            if (r == 0) continue; // warm-up: JIT, tokenizer, session first-run
            totals.Add(total);
            models.Add(((model?.ModelTime ?? TimeSpan.Zero) - m0).TotalMilliseconds);
            allocs.Add((a1 - a0) / 1e6);
            cpus.Add(cpu);
        }
        var nonModel = totals.Zip(models, (t, m) => t - m).ToList();
        Console.WriteLine($"  {label,-16} total {Median(totals),8:F1} ms  model {Median(models),8:F1} ms  non-model {Median(nonModel),7:F1} ms (min {nonModel.Min(),6:F1})  allocated {Median(allocs),6:F1} MB  process CPU {Median(cpus),7:F1} ms");
    }

    private static Mask Ellipse(int w, int h, int cx, int cy, int rx, int ry)
    {
        var m = new Mask(w, h);
        for (int y = cy - ry; y <= cy + ry; y++)
            for (int x = cx - rx; x <= cx + rx; x++)
            {
                double dx = (x - cx) / (double)rx, dy = (y - cy) / (double)ry;
                if (dx * dx + dy * dy <= 1) m.Row(y)[x] = 255;
            }
        return m;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "InpaintSuite.sln"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }

    private static double Median(List<double> v) { if (v.Count == 0) return double.NaN; var s = v.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
    private static int Opt(string[] a, string n, int d) { int i = Array.IndexOf(a, n); return i >= 0 && i + 1 < a.Length ? int.Parse(a[i + 1], System.Globalization.CultureInfo.InvariantCulture) : d; }
}
