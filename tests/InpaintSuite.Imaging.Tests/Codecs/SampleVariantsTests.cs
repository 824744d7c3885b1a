using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Imaging.Tests.Codecs;

/// <summary>
/// Variants the Debian corpora lack (Adam7, every colour type and bit depth, 16-bit, tRNS keys, 4:4:4/4:2:2,
/// progressive, restart markers, EXIF orientations 1-8) decode like Pillow (OpenCV for 16-bit PNG).
/// </summary>
public sealed class SampleVariantsTests(ITestOutputHelper output)
{
    /// <summary>Writes the Python-made samples and the C#-written PNG matrix into a temp folder; returns the files.</summary>
    internal static List<string> MakeSamples(string dir)
    {
        string script = Path.Combine(TestPaths.RepoRoot, "tests", "InpaintSuite.Imaging.Tests", "scripts", "make_codec_samples.py");
        var (code, _, err) = TestPaths.Run(TestPaths.DebianPython, [script, dir], TimeSpan.FromMinutes(3));
        if (code != 0) throw new InvalidOperationException("make_codec_samples.py failed: " + err);
        foreach (var (name, png) in PngTestWriter.Matrix()) File.WriteAllBytes(Path.Combine(dir, name), png);
        var files = Directory.GetFiles(dir).ToList();
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    [Fact]
    public void EveryVariantDecodesLikeTheReference()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL", "cv2", "numpy", "skimage");
        Assert.True(missing == null, "reference decode needs: " + missing);
        string dir = Path.Combine(Path.GetTempPath(), "inpaintsuite-variants-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var files = MakeSamples(dir);
            var refs = ReferenceDecodes.Run(files);
            var failures = new List<string>();
            int png = 0, jpeg = 0, adam7 = 0, sixteen = 0;
            foreach (var r in refs)
            {
                string name = Path.GetFileName(r.File);
                if (!r.Ok) { failures.Add($"{name}: reference failed: {r.Error}"); continue; }
                RgbaImage ours;
                ImageInfo info;
                try { ours = ImageCodec.Load(r.File, out info); }
                catch (InvalidDataException e) { failures.Add($"{name}: {e.Message}"); continue; }
                bool isPng = name.EndsWith(".png");
                // exact for JPEG too: SkiaSharp and Pillow both decode with libjpeg-turbo
                string? diff = ReferenceDecodes.Compare(ours, r, exact: true, out _, out _);
                ReferenceDecodes.Compare(ours, r, exact: false, out _, out int maxDiff);
                if (diff != null) failures.Add($"{name}: {diff}");
                if (isPng) { png++; if (info.Interlaced) adam7++; if (info.BitDepth == 16) sixteen++; }
                else jpeg++;
                if (!isPng) output.WriteLine($"{name}: max diff {maxDiff} (orientation {info.ExifOrientation}, progressive {info.Interlaced})");
            }
            output.WriteLine($"compared {png} PNG ({adam7} Adam7, {sixteen} 16-bit) and {jpeg} JPEG exactly; {failures.Count} failures");
            Assert.True(failures.Count == 0, string.Join("\n", failures));
            Assert.True(adam7 > 10 && sixteen > 10 && jpeg >= 20);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void IdentifyReadsHeadersWithoutDecoding()
    {
        var png = PngTestWriter.Write(13, 7, 4, 16, true, (x, y, c) => x * 1000 + c);
        var info = ImageCodec.Identify(png);
        Assert.Equal((ImageFormat.Png, 13, 7, 16, 2, true, true), (info.Format, info.Width, info.Height, info.BitDepth, info.Channels, info.HasAlpha, info.Interlaced));
        Assert.Equal(PixelDepth.U16, info.DecodedDepth);
    }

    [Fact]
    public void PixelLimitIsEnforcedBeforeAllocation()
    {
        var png = PngTestWriter.Write(300, 200, 6, 8, false, (x, y, c) => 0);
        var e = Assert.Throws<InvalidDataException>(() => ImageCodec.Decode(png, new DecodeOptions { MaxPixels = 300 * 200 - 1 }));
        Assert.True(ImageCodec.IsTooLarge(e));
        Assert.Equal(300, ImageCodec.Decode(png, new DecodeOptions { MaxPixels = 300 * 200 }).Width);
    }

    [Fact]
    public void CorruptInputsThrowInvalidData()
    {
        var png = PngTestWriter.Write(13, 7, 2, 8, false, (x, y, c) => x + y + c);
        var badCrc = (byte[])png.Clone();
        badCrc[40] ^= 1;
        Assert.Contains("CRC", Assert.Throws<InvalidDataException>(() => ImageCodec.Decode(badCrc)).Message);
        Assert.Throws<InvalidDataException>(() => ImageCodec.Decode(png.AsSpan(0, png.Length / 2)));
        Assert.Throws<InvalidDataException>(() => ImageCodec.Decode([1, 2, 3]));
        Assert.Throws<InvalidDataException>(() => ImageCodec.Decode([0xFF, 0xD8, 0xFF, 0xD9]));
    }
}
