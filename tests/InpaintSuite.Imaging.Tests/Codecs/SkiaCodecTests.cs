using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Imaging.Tests.Codecs;

/// <summary>
/// The SkiaSharp side of the codec seam against Pillow (Debian python3-pil), on files Pillow writes at test time
/// (scripts/make_skia_samples.py): CMYK JPEG, progressive and EXIF-rotated JPEG, WebP lossy/lossless/alpha/rotated,
/// GIF (first frame of an animation too), BMP. JPEG (libjpeg-turbo) and WebP (libwebp) are the same library family
/// in both, so they must be bit-exact; GIF and BMP are separate implementations whose measured difference is also 0
/// (<see cref="MaxDiff"/>; only the colour of fully transparent GIF pixels differs, which is not image content). Also: truncated and corrupt files are one-line errors, never partial images;
/// the pixel budget holds before allocation; JPEG/WebP encoding chosen by extension.
/// </summary>
public sealed class SkiaCodecTests(ITestOutputHelper output)
{
    /// <summary>Largest per-value difference allowed against Pillow: 0 for every format (measured, GIF and BMP included).</summary>
    private const int MaxDiff = 0;

    internal static List<string> MakeSamples(string dir)
    {
        string script = Path.Combine(TestPaths.RepoRoot, "tests", "InpaintSuite.Imaging.Tests", "scripts", "make_skia_samples.py");
        var (code, _, err) = TestPaths.Run(TestPaths.DebianPython, [script, dir], TimeSpan.FromMinutes(2));
        if (code != 0) throw new InvalidOperationException("make_skia_samples.py failed: " + err);
        var files = Directory.GetFiles(dir).ToList();
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    private static string TempDir(string tag)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"inpaintsuite-{tag}-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Every_sample_decodes_like_pillow()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL", "cv2", "numpy", "skimage");
        Assert.True(missing == null, "reference decode needs: " + missing);
        string dir = TempDir("skia-samples");
        try
        {
            var files = MakeSamples(dir);
            var refs = ReferenceDecodes.Run(files);
            var failures = new List<string>();
            var kinds = new Dictionary<string, int>();
            foreach (var r in refs)
            {
                string name = Path.GetFileName(r.File);
                if (!r.Ok) { failures.Add($"{name}: Pillow failed: {r.Error}"); continue; }
                RgbaImage ours;
                ImageInfo info;
                try { ours = ImageCodec.Load(r.File, out info); }
                catch (InvalidDataException e) { failures.Add($"{name}: {e.Message}"); continue; }
                if ((ours.Width, ours.Height) != (r.Width, r.Height)) { failures.Add($"{name}: {ours.Width}x{ours.Height}, Pillow {r.Width}x{r.Height}"); continue; }
                int maxDiff = 0, firstAt = -1, hiddenColour = 0;
                for (int i = 0; i < ours.Data.Length; i++)
                {
                    int d = Math.Abs(ours.Data[i] - r.Rgba[i]);
                    // A fully transparent pixel's colour is not part of the image: Skia writes 0,0,0,0 where Pillow keeps
                    // the palette entry of a GIF's transparent index. Alpha itself is always compared.
                    if (d > 0 && i % 4 != 3 && ours.Data[i | 3] == 0 && r.Rgba[i | 3] == 0) { hiddenColour++; continue; }
                    if (d > maxDiff) { maxDiff = d; if (firstAt < 0) firstAt = i; }
                }
                const int bound = MaxDiff;
                output.WriteLine($"{name}: {info.Format} {info.Width}x{info.Height} channels {info.Channels} alpha {info.HasAlpha} progressive {info.Interlaced} orientation {info.ExifOrientation}: max diff vs Pillow {maxDiff} (allowed {bound}){(hiddenColour > 0 ? $"; {hiddenColour} colour values of fully transparent pixels differ (ignored)" : "")}");
                if (maxDiff > bound) failures.Add($"{name}: max diff {maxDiff} > {bound} (first at pixel {firstAt / 4 % ours.Width},{firstAt / 4 / ours.Width})");
                string kind = Path.GetExtension(name);
                kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            }
            Assert.True(failures.Count == 0, string.Join("\n", failures));
            Assert.True(kinds.GetValueOrDefault(".jpg") >= 11 && kinds.GetValueOrDefault(".webp") >= 5 && kinds.GetValueOrDefault(".gif") >= 3 && kinds.GetValueOrDefault(".bmp") >= 4,
                string.Join(", ", kinds.Select(k => $"{k.Key} {k.Value}")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Header_facts_cmyk_progressive_orientation_and_animation()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL", "numpy", "skimage");
        Assert.True(missing == null, "samples need: " + missing);
        string dir = TempDir("skia-info");
        try
        {
            MakeSamples(dir);
            byte[] F(string n) => File.ReadAllBytes(Path.Combine(dir, n));
            var cmyk = ImageCodec.Identify(F("s_cmyk.jpg"));
            Assert.Equal((ImageFormat.Jpeg, 211, 139), (cmyk.Format, cmyk.Width, cmyk.Height));
            Assert.True(ImageCodec.Identify(F("s_cmyk_prog.jpg")).Interlaced);
            Assert.False(cmyk.Interlaced);
            var rotated = ImageCodec.Identify(F("s_orient6.jpg"));
            Assert.Equal((139, 211, 6), (rotated.Width, rotated.Height, rotated.ExifOrientation));
            var img = ImageCodec.Decode(F("s_orient6.jpg"), out var info);
            Assert.Equal((139, 211), (img.Width, img.Height));
            Assert.Equal(6, info.ExifOrientation);
            var raw = ImageCodec.Decode(F("s_orient6.jpg"), new DecodeOptions { ApplyExifOrientation = false });
            Assert.Equal((211, 139), (raw.Width, raw.Height));
            Assert.Equal(6, ImageCodec.Identify(F("s_orient6.webp")).ExifOrientation);
            var alpha = ImageCodec.Identify(F("s_lossless_alpha.webp"));
            Assert.Equal((ImageFormat.Webp, true, 4), (alpha.Format, alpha.HasAlpha, alpha.Channels));
            Assert.False(ImageCodec.Identify(F("s_lossy.webp")).HasAlpha);
            Assert.Equal(ImageFormat.Gif, ImageCodec.Identify(F("s_animated.gif")).Format);
            Assert.Equal(ImageFormat.Bmp, ImageCodec.Identify(F("s_rgb24.bmp")).Format);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Truncated_and_corrupt_files_are_one_line_errors_never_partial_images()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL", "numpy", "skimage");
        Assert.True(missing == null, "samples need: " + missing);
        string dir = TempDir("skia-trunc");
        try
        {
            var files = MakeSamples(dir);
            var accepted = new List<string>();
            int cases = 0, gifFirstFrame = 0;
            foreach (var f in files)
            {
                var bytes = File.ReadAllBytes(f);
                var whole = ImageCodec.Decode(bytes);
                foreach (double cut in new[] { 0.02, 0.3, 0.6, 0.9, 0.99 })
                {
                    int len = Math.Max(1, (int)(bytes.Length * cut));
                    if (len >= bytes.Length - 1) continue;
                    try
                    {
                        // Only an animated GIF cut after its (complete) first frame may decode, and then to exactly that frame.
                        var partial = ImageCodec.Decode(bytes.AsSpan(0, len));
                        if (!Path.GetFileName(f).Contains("animated") || !partial.Data.AsSpan().SequenceEqual(whole.Data))
                            accepted.Add($"{Path.GetFileName(f)} cut to {len} of {bytes.Length} bytes decoded as {partial.Width}x{partial.Height}");
                        else gifFirstFrame++;
                    }
                    catch (InvalidDataException e)
                    {
                        Assert.DoesNotContain('\n', e.Message);
                        Assert.False(string.IsNullOrWhiteSpace(e.Message));
                    }
                    cases++;
                }
            }
            // The scan data of a JPEG cut at 90%: Skia's IncompleteInput (a partial success) must be refused with a reason.
            var jpeg = File.ReadAllBytes(Path.Combine(dir, "s_orient1.jpg"));
            var msg = Assert.Throws<InvalidDataException>(() => ImageCodec.Decode(jpeg.AsSpan(0, jpeg.Length * 9 / 10))).Message;
            Assert.Contains("truncated", msg);
            output.WriteLine($"{cases} truncated files: {cases - gifFirstFrame} refused, {gifFirstFrame} animated GIFs cut after a complete first frame decoded to that frame; JPEG at 90%: {msg}");
            Assert.True(accepted.Count == 0, string.Join("\n", accepted));
            Assert.True(cases > 100);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Pixel_budget_is_checked_on_the_header_before_decoding()
    {
        var img = PngRoundTripTests.Synthetic(123, 77, PixelDepth.U8, 3);
        foreach (var format in new[] { ImageFormat.Jpeg, ImageFormat.Webp })
        {
            var bytes = ImageCodec.Encode(img, format);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<InvalidDataException>(() => ImageCodec.Decode(bytes, new DecodeOptions { MaxPixels = 123 * 77 - 1 }));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(ImageCodec.IsTooLarge(e), e.Message);
            Assert.True(allocated < 123 * 77 * 4, $"{format}: {allocated} bytes allocated before refusing");
            Assert.Equal(123, ImageCodec.Decode(bytes, new DecodeOptions { MaxPixels = 123 * 77 }).Width);
        }
    }

    [Fact]
    public void Jpeg_and_webp_encode_by_extension_and_other_extensions_are_refused()
    {
        var img = PngRoundTripTests.Synthetic(97, 61, PixelDepth.U8, 4);
        for (int i = 3; i < img.Data.Length; i += 4) img.Data[i] = 255;
        string dir = TempDir("skia-encode");
        try
        {
            foreach (var (name, format) in new[] { ("a.jpg", ImageFormat.Jpeg), ("b.JPEG", ImageFormat.Jpeg), ("c.webp", ImageFormat.Webp), ("d.png", ImageFormat.Png) })
            {
                string path = Path.Combine(dir, name);
                ImageCodec.Save(img, path);
                var back = ImageCodec.Load(path, out var info);
                Assert.Equal(format, info.Format);
                Assert.Equal((97, 61), (back.Width, back.Height));
                double mean = 0;
                for (int k = 0; k < back.Data.Length; k++) mean += Math.Abs(back.Data[k] - img.Data[k]);
                mean /= back.Data.Length;
                Assert.True(format == ImageFormat.Png ? mean == 0 : mean < 12, $"{name}: mean abs error {mean:F2}");
            }
            var lossless = ImageCodec.Encode(img, ImageFormat.Webp, new ImageEncodeOptions { Lossless = true });
            Assert.Equal(img.Data, ImageCodec.Decode(lossless).Data);
            var small = ImageCodec.Encode(img, ImageFormat.Jpeg, new ImageEncodeOptions { Quality = 20 });
            var large = ImageCodec.Encode(img, ImageFormat.Jpeg, new ImageEncodeOptions { Quality = 98 });
            Assert.True(small.Length < large.Length);
            // 16-bit input is written as its 8-bit reduction
            var wide = PixelConversions.ConvertDepth(img, PixelDepth.U16);
            Assert.Equal(img.Data, ImageCodec.Decode(ImageCodec.Encode(wide, ImageFormat.Webp, new ImageEncodeOptions { Lossless = true })).Data);
            foreach (var bad in new[] { "x.gif", "x.bmp", "x.tif", "noext" })
                Assert.Contains("cannot write", Assert.Throws<NotSupportedException>(() => ImageCodec.Save(img, Path.Combine(dir, bad))).Message);
            Assert.False(File.Exists(Path.Combine(dir, "x.gif")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Pillow_reads_what_we_write()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL", "cv2", "numpy");
        Assert.True(missing == null, "reference decode needs: " + missing);
        var img = PngRoundTripTests.Synthetic(90, 54, PixelDepth.U8, 5);
        string dir = TempDir("skia-written");
        try
        {
            string webp = Path.Combine(dir, "l.webp"), jpg = Path.Combine(dir, "q.jpg");
            File.WriteAllBytes(webp, ImageCodec.Encode(img, ImageFormat.Webp, new ImageEncodeOptions { Lossless = true }));
            ImageCodec.Save(img, jpg);
            var refs = ReferenceDecodes.Run([webp, jpg]);
            Assert.True(refs.All(r => r.Ok), string.Join("; ", refs.Select(r => r.Error)));
            Assert.Equal(img.Data, refs[0].Rgba); // lossless WebP with alpha, as Pillow reads it
            Assert.Equal(ImageCodec.Load(jpg).Data, refs[1].Rgba); // our JPEG, decoded by both: the same libjpeg-turbo
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Exif_orientation_maps_every_corner_on_a_non_square_image()
    {
        // 3x2 with distinct pixels: orientation o shows stored pixel (sx, sy) at (x, y) as EXIF defines
        var src = new RgbaImage(3, 2);
        for (int i = 0; i < 6; i++) src.Data[4 * i] = (byte)(i + 1);
        byte At(RgbaImage m, int x, int y) => m.Data[4 * (y * m.Width + x)];
        Assert.Same(src, ExifOrientation.Apply(src, 1));
        var o2 = ExifOrientation.Apply(src, 2); Assert.Equal((3, 2, 3), (o2.Width, o2.Height, At(o2, 0, 0)));
        var o3 = ExifOrientation.Apply(src, 3); Assert.Equal(6, At(o3, 0, 0));
        var o4 = ExifOrientation.Apply(src, 4); Assert.Equal(4, At(o4, 0, 0));
        var o5 = ExifOrientation.Apply(src, 5); Assert.Equal((2, 3, 1, 4), (o5.Width, o5.Height, At(o5, 0, 0), At(o5, 1, 0)));
        var o6 = ExifOrientation.Apply(src, 6); Assert.Equal((2, 3, 4, 1), (o6.Width, o6.Height, At(o6, 0, 0), At(o6, 1, 0)));
        var o7 = ExifOrientation.Apply(src, 7); Assert.Equal(6, At(o7, 0, 0));
        var o8 = ExifOrientation.Apply(src, 8); Assert.Equal((3, 6), (At(o8, 0, 0), At(o8, 1, 0)));
    }
}
