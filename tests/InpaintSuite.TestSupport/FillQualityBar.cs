using System.Text.Json;
using Xunit;

namespace InpaintSuite.TestSupport;

/// <summary>
/// The fill-quality bar on ../shared/eval (issue 15), in one place for every test that scores fills with its
/// score.py: the engine called alone (Imaging.Tests ContentAwareEvalTests) and the user's path (Cli.Tests
/// UserPathQualityTests: the CLI in-process and against a daemon). Raise the numbers here to raise them everywhere.
/// </summary>
public static class FillQualityBar
{
    public const int Cases = 24;
    public const double MinMeanSsim = 0.38;
    public const double MinMeanPsnr = 14.5;
    public const double MinMedianTexture = 0.5, MaxMedianTexture = 1.5;
    public const double MinMedianSeam = 0.8, MaxMedianSeam = 1.2;

    /// <summary>score.py's summary of one run.</summary>
    public sealed record Summary(int Scored, double Psnr, double Ssim, double Texture, double Seam, double OutsideMax, string Raw,
        IReadOnlyList<JsonElement> Rows);

    /// <summary>Scores OUTDIR/ID.png against the eval cases with the eval's own score.py (Debian's python3).</summary>
    public static Summary Score(string outDir)
    {
        string? missing = TestPaths.PythonModulesMissing("cv2", "skimage", "numpy");
        Assert.True(missing == null, $"score.py needs Debian's python3-opencv, python3-skimage, python3-numpy: {missing}");
        string evalDir = TestPaths.SharedEval, cases = Path.Combine(evalDir, "cases");
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython,
            [Path.Combine(evalDir, "score.py"), cases, outDir, "--json"], TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"score.py failed ({code}): {stderr}");
        using var doc = JsonDocument.Parse(stdout);
        var s = doc.RootElement.GetProperty("summary");
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.Clone()).ToList();
        return new Summary(s.GetProperty("scored").GetInt32(), s.GetProperty("psnr").GetDouble(), s.GetProperty("ssim").GetDouble(),
            s.GetProperty("texture").GetDouble(), s.GetProperty("seam").GetDouble(), s.GetProperty("outside_max").GetDouble(), s.GetRawText(), rows);
    }

    /// <summary>Asserts the bar; <paramref name="what"/> names the path in the failure message.</summary>
    public static void AssertMeets(Summary s, string what)
    {
        string m = $"{what}: {s.Raw}";
        Assert.True(s.Scored == Cases, $"scored {s.Scored} of {Cases}, {m}");
        Assert.True(s.Ssim >= MinMeanSsim, $"mean SSIM {s.Ssim} < {MinMeanSsim}, {m}");
        Assert.True(s.Psnr >= MinMeanPsnr, $"mean PSNR {s.Psnr} < {MinMeanPsnr}, {m}");
        Assert.True(s.Texture is >= MinMedianTexture and <= MaxMedianTexture, $"median texture {s.Texture} outside {MinMedianTexture}..{MaxMedianTexture}, {m}");
        Assert.True(s.Seam is >= MinMedianSeam and <= MaxMedianSeam, $"median seam {s.Seam} outside {MinMedianSeam}..{MaxMedianSeam}, {m}");
        Assert.True(s.OutsideMax == 0, $"pixels more than 8 px outside the mask changed (outside_max {s.OutsideMax}), {m}");
    }

    /// <summary>Median of score.py's per-row <paramref name="field"/> over rows whose id ends with <paramref name="suffix"/>.</summary>
    public static double MedianOf(Summary s, string field, string suffix)
    {
        var v = s.Rows.Where(r => r.GetProperty("id").GetString()!.EndsWith(suffix, StringComparison.Ordinal))
            .Select(r => r.GetProperty(field).GetDouble()).OrderBy(x => x).ToArray();
        Assert.NotEmpty(v);
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }
}
