using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Runtime.Noise;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Benchmarks.Pipelines;

/// <summary>
/// Per-stage time of the diffusion pipeline on one model folder:
///   dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- pipeline-stages MODELS_DIR MODEL [--steps N] [--runs N] [--image PNG --mask PNG]
/// Stages: session load, tokenize, text encode, each UNet step, VAE encode/decode (inside the sampler),
/// and the region craft around it (crop/scale/composite = whole operation minus the engine's model time).
/// Medians over --runs (default 5) after one warm-up run. Works the same on real SD folders.
/// </summary>
public sealed class PipelineStagesTool : IBenchTool
{
    public string Name => "pipeline-stages";
    public string Description => "per-stage times of a diffusion model folder (tokenize, text encode, UNet steps, VAE, crop/composite)";

    public int Run(string[] args)
    {
        if (args.Length < 2) { Console.Error.WriteLine("usage: pipeline-stages MODELS_DIR MODEL [--steps N] [--runs N] [--image PNG --mask PNG]"); return 2; }
        string modelsDir = args[0], modelName = args[1];
        int steps = Opt(args, "--steps", 20), runs = Opt(args, "--runs", 5);
        string? imagePath = OptS(args, "--image"), maskPath = OptS(args, "--mask");

        var sw = Stopwatch.StartNew();
        using var setup = EngineSetup.Create(modelsDir).AsDisposable();
        var entry = setup.Value.Entries.FirstOrDefault(e => e.Name == modelName) ?? throw new ArgumentException($"no model '{modelName}' in {modelsDir}");
        using var model = new DiffusionModel(entry);
        model.WarmUp();
        double load = sw.Elapsed.TotalMilliseconds;
        var tokenizer = ClipTokenizer.FromDirectory(entry.TokenizerDirectory!);
        string prompt = "a cosy living room with a grey sofa, warm light, photo";

        var tok = new List<double>(); var text = new List<double>(); var unet = new List<double>(); var enc = new List<double>(); var dec = new List<double>();
        int gw = entry.NativeWidth, gh = entry.NativeHeight;
        for (int r = 0; r <= runs; r++)
        {
            sw.Restart();
            var ids = tokenizer.EncodeFramed(prompt);
            double tTok = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            var pe = model.EncodeText(ids, 1, CancellationToken.None);
            var ne = model.EncodeText(tokenizer.EncodeFramed(""), 1, CancellationToken.None);
            double tText = sw.Elapsed.TotalMilliseconds;
            int lh = gh / 8, lw = gw / 8;
            var noise = new float[4 * lh * lw];
            new GaussianNoise((ulong)r).NextGaussian(noise);
            var img = new float[3 * gw * gh];
            var mask = new float[gw * gh];
            for (int i = 0; i < mask.Length; i++) mask[i] = (i % gw) > gw / 2 ? 1 : 0;
            var trace = new SamplerTrace();
            var sampler = new DiffusionSampler(model, NoiseScheduler.Create("euler"));
            var mode = entry.UnetInChannels switch { 9 => SamplerMode.Inpaint, 5 => SamplerMode.Depth, _ => SamplerMode.ImageToImage };
            sampler.Run(new SamplerInputs
            {
                Mode = mode, InitImage = img, Height = gh, Width = gw, Mask = mask, Depth = mask, DepthHeight = gh, DepthWidth = gw,
                PromptEmbeds = pe, NegativeEmbeds = ne, SequenceLength = 77, Steps = steps, Strength = mode == SamplerMode.Inpaint ? 1f : 0.75f,
                InitialNoise = noise, VaeEps = new float[noise.Length], StepNoise = new GaussianNoise(9),
            }, trace, null, CancellationToken.None);
            if (r == 0) continue; // warm-up
            tok.Add(tTok); text.Add(tText); enc.Add(trace.EncodeTime.TotalMilliseconds); dec.Add(trace.DecodeTime.TotalMilliseconds);
            unet.AddRange(trace.UnetTimes.Select(t => t.TotalMilliseconds));
        }
        Console.WriteLine($"model {entry.Name}: {entry.KindName} {entry.Dtype} native {gw}x{gh}, {steps} steps, {runs} runs (medians, ms)");
        Console.WriteLine($"  session load (all components)  {load,10:F1}");
        Console.WriteLine($"  tokenize                       {Median(tok),10:F3}");
        Console.WriteLine($"  text encode (prompt+negative)  {Median(text),10:F2}");
        Console.WriteLine($"  UNet step (CFG batch 2)        {Median(unet),10:F2}");
        Console.WriteLine($"  VAE encode (+conditioning)     {Median(enc),10:F2}");
        Console.WriteLine($"  VAE decode                     {Median(dec),10:F2}");

        if (imagePath != null && maskPath != null)
        {
            // The whole operation on a real photo; the craft time is what is left after the engine's model calls.
            var image = ImageCodec.Load(imagePath);
            var maskImg = ImageCodec.Load(maskPath);
            var m = new Mask(maskImg.Width, maskImg.Height);
            for (int i = 0; i < m.Data.Length; i++) m.Data[i] = maskImg.Depth == PixelDepth.U8 ? maskImg.Data[4 * i] : (byte)255;
            var totals = new List<double>();
            for (int r = 0; r <= runs; r++)
            {
                sw.Restart();
                var result = setup.Value.Runner.RunAsync(new OperationRequest
                {
                    Operation = Operation.Inpaint, Image = image, Mask = m,
                    Settings = new GenerationSettings { Engine = entry.Name, Steps = steps, Seed = 1 },
                }, null, CancellationToken.None).GetAwaiter().GetResult();
                if (r > 0) totals.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"  whole inpaint on {image.Width}x{image.Height}  {Median(totals),10:F1}");
        }
        return 0;
    }

    private static double Median(List<double> v) { if (v.Count == 0) return double.NaN; var s = v.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
    private static int Opt(string[] a, string n, int d) { int i = Array.IndexOf(a, n); return i >= 0 && i + 1 < a.Length ? int.Parse(a[i + 1], System.Globalization.CultureInfo.InvariantCulture) : d; }
    private static string? OptS(string[] a, string n) { int i = Array.IndexOf(a, n); return i >= 0 && i + 1 < a.Length ? a[i + 1] : null; }
}

internal static class DisposableExtensions
{
    public sealed class Holder<T>(T value) : IDisposable where T : IAsyncDisposable
    {
        public T Value { get; } = value;
        public void Dispose() => Value.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    public static Holder<T> AsDisposable<T>(this T value) where T : IAsyncDisposable => new(value);
}
