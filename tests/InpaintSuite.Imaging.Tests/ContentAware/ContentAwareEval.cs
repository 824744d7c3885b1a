using System.Diagnostics;
using System.Text.Json;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Imaging.ContentAware;

namespace InpaintSuite.ContentAwareEvaluation;

/// <summary>
/// Runs the content-aware fill over an eval case folder (../shared/eval/cases: ID.image.png, ID.mask.png,
/// cases.json) and writes OUTDIR/ID.png for score.py. Shared by the eval test and the bench tool.
/// </summary>
public static class ContentAwareEval
{
    /// <summary>Wall and process CPU seconds of one fill (CPU shows the work when other processes load the machine).</summary>
    public sealed record CaseTime(string Id, int Width, int Height, double Seconds, double CpuSeconds);

    public static IReadOnlyList<string> CaseIds(string casesDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(casesDir, "cases.json")));
        return doc.RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
    }

    /// <summary>The mask image's first channel as a mask (255 = fill).</summary>
    public static Mask MaskFromImage(RgbaImage m)
    {
        var mask = new Mask(m.Width, m.Height);
        for (int i = 0; i < mask.Data.Length; i++) mask.Data[i] = m.Data[i * 4] > 127 ? (byte)255 : (byte)0;
        return mask;
    }

    /// <summary>Fills every case; times only the fill itself (not decoding or encoding).</summary>
    public static List<CaseTime> Run(string casesDir, string outDir, ContentAwareOptions options, TextWriter? log = null)
    {
        Directory.CreateDirectory(outDir);
        var times = new List<CaseTime>();
        foreach (var id in CaseIds(casesDir))
        {
            var image = ImageCodec.Load(Path.Combine(casesDir, id + ".image.png"));
            var mask = MaskFromImage(ImageCodec.Load(Path.Combine(casesDir, id + ".mask.png")));
            var proc = Process.GetCurrentProcess();
            var cpu0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var result = ContentAwareFill.Fill(image, mask, options);
            sw.Stop();
            proc.Refresh();
            double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
            ImageCodec.SavePng(result, Path.Combine(outDir, id + ".png"));
            times.Add(new CaseTime(id, image.Width, image.Height, sw.Elapsed.TotalSeconds, cpu));
            log?.WriteLine($"{id,-22} {image.Width}x{image.Height} {sw.Elapsed.TotalSeconds:F3} s, cpu {cpu:F3} s");
        }
        return times;
    }

    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }
}
