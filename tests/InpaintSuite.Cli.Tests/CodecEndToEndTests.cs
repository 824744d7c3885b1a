using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Imaging.Tests.Codecs;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Cli.Tests;

/// <summary>
/// Must-show, end to end: `inpaintsuite inpaint FILE --mask EMPTY -o OUT.png --engine fill` writes an OUT whose
/// reference decode (Pillow; OpenCV for 16-bit) equals the reference decode of FILE, for every PNG/JPEG in
/// python3-skimage's data folder and opencv-doc's examples/data, exactly (JPEG too: SkiaSharp and Pillow share libjpeg-turbo).
/// </summary>
public sealed class CodecEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-cli-e2e-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Inpaint_with_an_empty_mask_reproduces_every_corpus_file()
    {
        string? missing = ReferenceDecodes.Missing();
        Assert.True(missing == null, "reference decode needs: " + missing);
        var files = ReferenceDecodes.CorpusFiles();
        Assert.True(files.Count >= 100, $"only {files.Count} sample files found");

        var failures = new List<string>();
        var pairs = new List<(string In, string Out)>();
        var refusedByCli = new List<string>();
        for (int i = 0; i < files.Count; i++)
        {
            string file = files[i];
            ImageInfo info;
            try { info = ImageCodec.Identify(File.ReadAllBytes(file)); }
            catch (InvalidDataException) { refusedByCli.Add(file); continue; }
            string mask = Path.Combine(_dir, $"mask{i}.png");
            ImageCodec.SavePng(new RgbaImage(info.Width, info.Height), mask); // all zero: nothing to repaint
            string outPath = Path.Combine(_dir, $"out{i}.png");
            var o = new StringWriter();
            var e = new StringWriter();
            int code = await Program.RunAsync(["inpaint", file, "--mask", mask, "-o", outPath, "--engine", "fill"], o, e, CancellationToken.None);
            if (code != 0)
            {
                refusedByCli.Add(file);
                output.WriteLine($"{Path.GetFileName(file)}: CLI exit {code}: {e.ToString().Trim()}");
                continue;
            }
            pairs.Add((file, outPath));
        }

        var refs = ReferenceDecodes.Run([.. pairs.Select(p => p.In), .. pairs.Select(p => p.Out), .. refusedByCli]);
        int n = pairs.Count, png = 0, jpeg = 0;
        for (int i = 0; i < n; i++)
        {
            var rin = refs[i];
            var rout = refs[n + i];
            string name = Path.GetFileName(pairs[i].In);
            if (!rin.Ok) { failures.Add($"{name}: the CLI accepted it but the reference refuses it ({rin.Error})"); continue; }
            if (!rout.Ok) { failures.Add($"{name}: the reference cannot read our output ({rout.Error})"); continue; }
            bool isPng = name.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
            var outImage = RgbaImage.Wrap(rout.Width, rout.Height, rout.Depth == 16 ? PixelDepth.U16 : PixelDepth.U8, rout.Rgba);
            string? diff = ReferenceDecodes.Compare(outImage, rin, exact: true, out _, out _);
            if (diff != null) failures.Add($"{name}: output vs reference decode of the input: {diff}");
            if (isPng) png++; else jpeg++;
        }
        for (int i = 2 * n; i < refs.Count; i++)
            if (refs[i].Ok) failures.Add($"{Path.GetFileName(refs[i].File)}: the CLI refused it but the reference decodes it");
        output.WriteLine($"end to end: {png} PNG + {jpeg} JPEG outputs (exactly) equal the reference decode of their input; " +
                         $"{refusedByCli.Count} refused by both; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(files.Count, png + jpeg + refusedByCli.Count);
    }
}
