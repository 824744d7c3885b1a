using System.Text.Json;
using InpaintSuite.ContentAwareEvaluation;
using InpaintSuite.Imaging.ContentAware;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Imaging.Tests.ContentAware;

/// <summary>
/// The quality bar on ../shared/eval, scored by its own score.py: all 24 cases, mean SSIM >= 0.445,
/// mean PSNR >= 15.8 dB, median texture and seam near 1, nothing outside the mask changed.
/// </summary>
public class ContentAwareEvalTests
{
    [Fact]
    public void AllEvalCasesMeetTheQualityBar()
    {
        string? missing = TestPaths.PythonModulesMissing("cv2", "skimage", "numpy");
        Assert.True(missing == null, $"score.py needs Debian's python3-opencv, python3-skimage, python3-numpy: {missing}");
        string evalDir = TestPaths.SharedEval, cases = Path.Combine(evalDir, "cases");
        Assert.True(File.Exists(Path.Combine(cases, "cases.json")), $"eval cases not found at {cases}");

        string outDir = Path.Combine(Path.GetTempPath(), "inpaintsuite-caf-eval-" + Guid.NewGuid().ToString("N"));
        try
        {
            var times = ContentAwareEval.Run(cases, outDir, new ContentAwareOptions());
            Assert.Equal(24, times.Count);

            var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython,
                [Path.Combine(evalDir, "score.py"), cases, outDir, "--json"], TimeSpan.FromMinutes(3));
            Assert.True(code == 0, $"score.py failed ({code}): {stderr}");
            using var doc = JsonDocument.Parse(stdout);
            var s = doc.RootElement.GetProperty("summary");
            int scored = s.GetProperty("scored").GetInt32();
            double psnr = s.GetProperty("psnr").GetDouble(), ssim = s.GetProperty("ssim").GetDouble();
            double texture = s.GetProperty("texture").GetDouble(), seam = s.GetProperty("seam").GetDouble();
            double outside = s.GetProperty("outside_max").GetDouble();
            string summary = s.GetRawText();
            Assert.True(scored == 24, $"scored {scored} of 24: {summary}");
            Assert.True(ssim >= 0.445, $"mean SSIM {ssim} < 0.445: {summary}");
            Assert.True(psnr >= 15.8, $"mean PSNR {psnr} < 15.8: {summary}");
            Assert.True(texture is >= 0.75 and <= 1.3, $"median texture {texture} outside 0.75..1.3: {summary}");
            Assert.True(seam is >= 0.85 and <= 1.15, $"median seam {seam} outside 0.85..1.15: {summary}");
            Assert.True(outside == 0, $"pixels outside the mask changed (outside_max {outside}): {summary}");
        }
        finally
        {
            try { Directory.Delete(outDir, true); } catch (IOException) { }
        }
    }
}
