using System.Diagnostics;
using System.Globalization;
using InpaintSuite.ContentAwareEvaluation;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Imaging.ContentAware;

namespace InpaintSuite.Benchmarks.ContentAware;

/// <summary>
/// `eval-content-aware CASES OUTDIR [--seed N]`: fills every eval case, writes OUTDIR/ID.png for score.py and
/// prints "ID seconds cpu-seconds" per case (fill only, not PNG I/O) and the medians. tests/bench/content-aware-vs-telea.sh
/// runs it beside cv2.inpaint Telea.
/// </summary>
public sealed class EvalContentAwareTool : IBenchTool
{
    public string Name => "eval-content-aware";
    public string Description => "fill ../shared/eval cases with the content-aware engine, timing each: CASES OUTDIR [--seed N]";

    public int Run(string[] args)
    {
        if (args.Length < 2) { Console.Error.WriteLine($"usage: {Name} CASES OUTDIR [--seed N]"); return 2; }
        var options = new ContentAwareOptions();
        int si = Array.IndexOf(args, "--seed");
        if (si >= 0 && si + 1 < args.Length) options = options with { Seed = ulong.Parse(args[si + 1], CultureInfo.InvariantCulture) };
        options = WithOverrides(options, args);
        // Warm-up on a small synthetic case so the first eval case does not pay for JIT.
        Warm();
        var times = ContentAwareEval.Run(args[0], args[1], options);
        foreach (var t in times) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{t.Id} {t.Seconds:F4} {t.CpuSeconds:F4}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median {ContentAwareEval.Median(times.Select(t => t.Seconds)):F4} {ContentAwareEval.Median(times.Select(t => t.CpuSeconds)):F4}"));
        return 0;
    }

    /// <summary>`--opt Name=Value` (repeatable) sets any ContentAwareOptions property, for tuning runs.</summary>
    internal static ContentAwareOptions WithOverrides(ContentAwareOptions options, string[] args)
    {
        var o = options with { };
        for (int i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] != "--opt") continue;
            var kv = args[i + 1].Split('=', 2);
            var prop = typeof(ContentAwareOptions).GetProperty(kv[0]) ?? throw new ArgumentException($"no option {kv[0]}");
            var t = Nullable.GetUnderlyingType(prop.PropertyType) ?? prop.PropertyType;
            object? v = kv[1] == "null" ? null : t.IsEnum ? Enum.Parse(t, kv[1]) : Convert.ChangeType(kv[1], t, CultureInfo.InvariantCulture);
            prop.SetValue(o, v);
        }
        return o;
    }

    internal static void Warm()
    {
        var im = new RgbaImage(96, 80);
        var rng = new Random(1);
        rng.NextBytes(im.Data);
        var m = new Mask(96, 80);
        for (int y = 30; y < 50; y++) for (int x = 30; x < 60; x++) m.Data[y * 96 + x] = 255;
        ContentAwareFill.Fill(im, m);
    }
}

/// <summary>
/// `content-aware-2048 [PHOTO.png] [--runs N]`: a photo scaled to 2048x2048 with a centred round hole of 10% of
/// the area; prints each run's fill time and the median. Default photo: ../shared/eval/cases/home-blob.truth.png.
/// </summary>
public sealed class ContentAware2048Tool : IBenchTool
{
    public string Name => "content-aware-2048";
    public string Description => "time the content-aware fill of a 10% hole in a 2048x2048 photo: [PHOTO.png] [--runs N]";

    public int Run(string[] args)
    {
        int runs = 3;
        int ri = Array.IndexOf(args, "--runs");
        if (ri >= 0 && ri + 1 < args.Length) runs = int.Parse(args[ri + 1], CultureInfo.InvariantCulture);
        string photo = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal)
            ? args[0]
            : DefaultPhoto();
        var (image, mask) = Make2048(ImageCodec.Load(photo));
        EvalContentAwareTool.Warm();
        var secs = new List<double>();
        var cpus = new List<double>();
        var proc = Process.GetCurrentProcess();
        for (int i = 0; i < runs; i++)
        {
            proc.Refresh();
            var cpu0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            ContentAwareFill.Fill(image, mask, new ContentAwareOptions { Seed = (ulong)i });
            secs.Add(sw.Elapsed.TotalSeconds);
            proc.Refresh();
            cpus.Add((proc.TotalProcessorTime - cpu0).TotalSeconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {i}: {secs[^1]:F3} s wall, {cpus[^1]:F3} s cpu"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"2048x2048, hole {mask.Data.Count(b => b != 0) * 100.0 / mask.Data.Length:F1}%: median {ContentAwareEval.Median(secs):F3} s wall, {ContentAwareEval.Median(cpus):F3} s cpu over {runs} runs ({Environment.ProcessorCount} cores; load average {LoadAverage()})"));
        return 0;
    }

    /// <summary>Bilinear upscale of <paramref name="photo"/> to 2048x2048, and a centred disc covering 10% of it.</summary>
    internal static (RgbaImage Image, Mask Mask) Make2048(RgbaImage photo)
    {
        const int N = 2048;
        if (photo.Depth != PixelDepth.U8) throw new ArgumentException("an 8-bit photo is expected");
        var im = new RgbaImage(N, N);
        for (int y = 0; y < N; y++)
        {
            float fy = Math.Clamp((y + 0.5f) * photo.Height / N - 0.5f, 0, photo.Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, photo.Height - 1); float ty = fy - y0;
            for (int x = 0; x < N; x++)
            {
                float fx = Math.Clamp((x + 0.5f) * photo.Width / N - 0.5f, 0, photo.Width - 1);
                int x0 = (int)fx, x1 = Math.Min(x0 + 1, photo.Width - 1); float tx = fx - x0;
                for (int k = 0; k < 4; k++)
                {
                    float a = photo.Data[(y0 * photo.Width + x0) * 4 + k] * (1 - tx) + photo.Data[(y0 * photo.Width + x1) * 4 + k] * tx;
                    float b = photo.Data[(y1 * photo.Width + x0) * 4 + k] * (1 - tx) + photo.Data[(y1 * photo.Width + x1) * 4 + k] * tx;
                    im.Data[(y * N + x) * 4 + k] = (byte)MathF.Round(a * (1 - ty) + b * ty);
                }
            }
        }
        var m = new Mask(N, N);
        double r2 = 0.10 * N * N / Math.PI;
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++)
            {
                double dx = x + 0.5 - N / 2.0, dy = y + 0.5 - N / 2.0;
                if (dx * dx + dy * dy < r2) { m.Data[y * N + x] = 255; im.Data.AsSpan((y * N + x) * 4, 3).Clear(); }
            }
        return (im, m);
    }

    internal static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
        catch (UnauthorizedAccessException) { return "?"; }
    }

    /// <summary>The home photo of the eval set: from ../shared when it is beside the repository, else the vendored copy.</summary>
    private static string DefaultPhoto()
    {
        string beside = Path.Combine(RepoRoot(), "..", "shared", "eval", "cases", "home-blob.truth.png");
        return File.Exists(beside) ? beside : Path.Combine(RepoRoot(), "tests", "data", "shared", "eval", "photos", "home.truth.png");
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("InpaintSuite.sln not found above " + AppContext.BaseDirectory);
    }
}
