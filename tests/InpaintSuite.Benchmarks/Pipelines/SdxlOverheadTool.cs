using System.Diagnostics;
using System.Text.Json.Nodes;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Benchmarks.Pipelines;

/// <summary>
/// Non-model time of a 1024x1024 job, SDXL beside SD 1.5, on the user's path (the operation runner with default
/// settings, as the CLI and the daemon run it):
///   /usr/bin/python3 tests/tools/make_tiny_models.py /tmp/m --set all
///   dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- sdxl-overhead /tmp/m [--runs N] [--steps N]
/// The tiny folders are copied with their UNet config's sample_size raised to the real models' (SD 1.5: 64 -> 512 px,
/// SDXL: 128 -> 1024 px), so the engines pick the real generation sizes (SD 1.5 generates 512² and scales back, SDXL
/// generates the 1024² bucket) and every tensor, resize and composite has its real size; only the weights are tiny.
/// The job: a 1024x1024 photo, a centred 600x600 mask, whole-image context (the region is the full canvas), guidance on,
/// a fresh prompt per run (tokenizing is never served from the prompt cache).
/// non-model = total - time inside ONNX Runtime (DiffusionModel.ModelTime): tokenizing, time ids, tensor building, CFG,
/// scheduler, pre-fill, resizes, composite. Medians after one warm-up job. Also timed alone: tokenizing (one vs both
/// tokenizers) and building the time ids.
/// </summary>
public sealed class SdxlOverheadTool : IBenchTool
{
    public string Name => "sdxl-overhead";
    public string Description => "non-model ms of a 1024x1024 job: SDXL (two tokenizers, time ids, 1024² tensors) beside SD 1.5";

    public int Run(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: sdxl-overhead MODELS_DIR (from make_tiny_models.py --set all) [--runs N] [--steps N]"); return 2; }
        int runs = Opt(args, "--runs", 5), steps = Opt(args, "--steps", 2);
        string work = Directory.CreateTempSubdirectory("inpaintsuite-sdxl-overhead-").FullName;
        try
        {
            Prepare(args[0], "tiny-sd-inpaint", work, 64);
            Prepare(args[0], "tiny-sdxl-inpaint", work, 128);
            var src = ImageCodec.Load(Path.Combine(RepoRoot(), "tests", "data", "sample", "photo.png"));
            var image = Resampler.Resize(src, 1024, 1024, ResampleFilter.Lanczos3);
            var mask = new Mask(1024, 1024);
            for (int y = 212; y < 812; y++) mask.Row(y).Slice(212, 600).Fill(255);
            Console.WriteLine($"1024x1024 photo, 600x600 mask, whole-image context, {steps} steps, guidance on; {runs} runs after 1 warm-up (medians); {Environment.ProcessorCount} cores (loaded machine: compare the two rows, not absolutes)");
            using var setup = EngineSetup.Create(work).AsDisposable();
            foreach (var name in new[] { "tiny-sd-inpaint", "tiny-sdxl-inpaint" })
            {
                var engine = (DiffusionEngine)setup.Value.Registry.Resolve(name, Operation.Inpaint);
                engine.WarmUp();
                var totals = new List<double>(); var models = new List<double>(); var allocs = new List<double>();
                for (int r = 0; r <= runs; r++)
                {
                    var req = new OperationRequest
                    {
                        Operation = Operation.Inpaint, Image = image, Mask = mask,
                        MaskOptions = new MaskOptions { WholeImageContext = true },
                        Settings = new GenerationSettings { Engine = name, Steps = steps, Seed = (ulong)r, Prompt = $"a stone bench in a sunny courtyard, photo {r}", NegativePrompt = "blurry" },
                    };
                    var m0 = engine.Model.ModelTime;
                    long a0 = GC.GetTotalAllocatedBytes(true);
                    var sw = Stopwatch.StartNew();
                    var result = setup.Value.Runner.RunAsync(req, null, CancellationToken.None).GetAwaiter().GetResult();
                    double total = sw.Elapsed.TotalMilliseconds;
                    if (result.Patches.Count != 1) throw new InvalidOperationException("expected one patch");
                    if (r == 0) continue;
                    totals.Add(total);
                    models.Add((engine.Model.ModelTime - m0).TotalMilliseconds);
                    allocs.Add((GC.GetTotalAllocatedBytes(true) - a0) / 1e6);
                }
                var nonModel = totals.Zip(models, (t, m) => t - m).ToList();
                var (gw, gh) = engine.Model.IsSdxl ? SdxlConditioning.BucketSize(1024, 1024, engine.Entry.NativeWidth) : DiffusionEngine.GenerationSize(1024, 1024, engine.Entry.NativeWidth, engine.Entry.NativeHeight);
                Console.WriteLine($"  {name,-18} generates {gw}x{gh}: total {Median(totals),8:F1} ms  model {Median(models),8:F1} ms  non-model {Median(nonModel),7:F1} ms (min {nonModel.Min(),6:F1})  allocated {Median(allocs),6:F1} MB");
            }

            // The SDXL-only pieces alone: a second tokenizer pass and the time ids.
            var tok1 = ClipTokenizer.FromDirectory(Path.Combine(work, "tiny-sdxl-inpaint", "tokenizer"));
            var tok2 = ClipTokenizer.FromDirectory(Path.Combine(work, "tiny-sdxl-inpaint", "tokenizer_2"));
            const int N = 2000;
            var sw2 = Stopwatch.StartNew();
            for (int i = 0; i < N; i++) tok1.EncodeFramed($"a stone bench in a sunny courtyard, photo {i}");
            double one = sw2.Elapsed.TotalMilliseconds / N * 1000;
            sw2.Restart();
            for (int i = 0; i < N; i++) { tok1.EncodeFramed($"a stone bench in a sunny courtyard, photo {i}"); tok2.EncodeFramed($"a stone bench in a sunny courtyard, photo {i}"); }
            double both = sw2.Elapsed.TotalMilliseconds / N * 1000;
            sw2.Restart();
            float sink = 0;
            for (int i = 0; i < N; i++) sink += SdxlConditioning.DefaultTimeIds(1024, 1024)[0];
            double ids = sw2.Elapsed.TotalMilliseconds / N * 1000;
            Console.WriteLine($"  tokenize a 9-word prompt: one tokenizer (SD 1.5) {one:F1} us, both (SDXL) {both:F1} us; time ids {ids:F3} us{(sink < 0 ? "!" : "")}");
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
        return 0;
    }

    private static void Prepare(string from, string name, string work, int sampleSize)
    {
        CopyDirectory(Path.Combine(from, name), Path.Combine(work, name));
        string cfg = Path.Combine(work, name, "unet", "config.json");
        var node = JsonNode.Parse(File.ReadAllText(cfg))!.AsObject();
        node["sample_size"] = sampleSize;
        File.WriteAllText(cfg, node.ToJsonString());
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)));
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
