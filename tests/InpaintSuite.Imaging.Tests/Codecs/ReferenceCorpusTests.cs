using InpaintSuite.Imaging.Codecs;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Imaging.Tests.Codecs;

/// <summary>
/// Must-show: every PNG and JPEG in python3-skimage's data folder and opencv-doc's examples/data decodes to
/// what Pillow decodes (libpng via OpenCV for 16-bit PNG), exactly: PNG through our decoder, JPEG through SkiaSharp's
/// libjpeg-turbo, the library Pillow uses too. A file the reference refuses (skimage's truncated.jpg) must be refused by us too.
/// </summary>
public sealed class ReferenceCorpusTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryCorpusFileDecodesLikeTheReference()
    {
        string? missing = ReferenceDecodes.Missing();
        Assert.True(missing == null, "reference decode needs: " + missing);
        var files = ReferenceDecodes.CorpusFiles();
        Assert.True(files.Count >= 100, $"only {files.Count} sample files found");
        var refs = ReferenceDecodes.Run(files);

        var failures = new List<string>();
        int png = 0, jpeg = 0, refused = 0, jpegExact = 0;
        double worstJpeg = 0;
        foreach (var r in refs)
        {
            bool isPng = r.File.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
            RgbaImage? ours = null;
            string? ourError = null;
            try { ours = ImageCodec.Load(r.File); }
            catch (InvalidDataException e) { ourError = e.Message; }

            if (!r.Ok)
            {
                if (ours != null) failures.Add($"{r.File}: reference refused it ({r.Error}) but we decoded {ours.Width}x{ours.Height}");
                else refused++;
                continue;
            }
            if (ours == null) { failures.Add($"{r.File}: we refused it ({ourError}), {r.Decoder} decoded it"); continue; }
            string? diff = ReferenceDecodes.Compare(ours, r, exact: true, out double frac, out int maxDiff);
            if (diff == null && !isPng) ReferenceDecodes.Compare(ours, r, exact: false, out frac, out maxDiff);
            if (diff != null) failures.Add($"{r.File}: {diff}");
            if (isPng) png++;
            else { jpeg++; worstJpeg = Math.Max(worstJpeg, frac); if (maxDiff == 0) jpegExact++; }
            if (!isPng) output.WriteLine($"{Path.GetFileName(r.File)}: {frac:P4} of values off by >2, max diff {maxDiff}");
        }
        output.WriteLine($"compared {png} PNG + {jpeg} JPEG exactly ({jpegExact} JPEG bit-exact; worst file: {worstJpeg:P4} of values off by >2) against the reference; {refused} refused by both; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(png + jpeg + refused == files.Count);
    }
}
