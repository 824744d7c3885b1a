using InpaintSuite.ContentAwareEvaluation;
using InpaintSuite.Imaging.ContentAware;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Imaging.Tests.ContentAware;

/// <summary>
/// The quality bar (<see cref="FillQualityBar"/>) on ../shared/eval for the content-aware engine called alone, scored by
/// the eval's own score.py.
/// </summary>
public class ContentAwareEvalTests
{
    [Fact]
    public void AllEvalCasesMeetTheQualityBar()
    {
        string evalDir = TestPaths.SharedEval, cases = Path.Combine(evalDir, "cases");
        Assert.True(File.Exists(Path.Combine(cases, "cases.json")), $"eval cases not found at {cases}");

        string outDir = Path.Combine(Path.GetTempPath(), "inpaintsuite-caf-eval-" + Guid.NewGuid().ToString("N"));
        try
        {
            var times = ContentAwareEval.Run(cases, outDir, new ContentAwareOptions());
            Assert.Equal(FillQualityBar.Cases, times.Count);

            // The engine alone; the same bar through the CLI and the daemon is Cli.Tests' UserPathQualityTests.
            FillQualityBar.AssertMeets(FillQualityBar.Score(outDir), "content-aware engine alone");
        }
        finally
        {
            try { Directory.Delete(outDir, true); } catch (IOException) { }
        }
    }
}
