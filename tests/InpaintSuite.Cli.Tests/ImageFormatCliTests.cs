using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Imaging.Tests.Codecs;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Cli.Tests;

/// <summary>
/// Image files users have, through the CLI: a WebP photo in and a WebP result out, a CMYK JPEG end to end, JPEG output,
/// an output extension the CLI cannot write refused before any work (exit 2), a truncated input refused in one line.
/// Inputs are written by Pillow at test time from the shipped sample photo.
/// </summary>
public sealed class ImageFormatCliTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-cli-formats-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static readonly string Photo = Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.png");
    private static readonly string PhotoMask = Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.mask.png");

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>Pillow converts the sample photo: lossy WebP, CMYK JPEG (Adobe, as Pillow writes it).</summary>
    private void MakeInputs()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL");
        Assert.True(missing == null, "inputs need: " + missing);
        string script = $"""
            from PIL import Image
            im = Image.open({Py(Photo)}).convert("RGB")
            im.save({Py(P("photo.webp"))}, quality=85)
            im.convert("CMYK").save({Py(P("cmyk.jpg"))}, quality=90)
            """;
        var (code, _, err) = TestPaths.Run(TestPaths.DebianPython, ["-c", script], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, err);
    }

    private static string Py(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    /// <summary>Pixels outside the grown mask: the largest difference between two images.</summary>
    private static int MaxDiffOutside(RgbaImage a, RgbaImage b, int grow)
    {
        var m = ImageFiles.LoadMask(PhotoMask);
        var near = MaskOps.Grow(m, grow);
        int max = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
                if (near.Row(y)[x] == 0)
                    for (int c = 0; c < 4; c++) max = Math.Max(max, Math.Abs(a.Row8(y)[4 * x + c] - b.Row8(y)[4 * x + c]));
        return max;
    }

    [Fact]
    public async Task Webp_in_webp_out_and_a_cmyk_jpeg_end_to_end()
    {
        MakeInputs();
        // inpaint photo.webp --mask m.png -o out.webp
        var (code, _, err) = await CliHarness.RunAsync("inpaint", P("photo.webp"), "--mask", PhotoMask, "-o", P("out.webp"), "--engine", "fill");
        Assert.True(code == 0, err);
        var input = ImageCodec.Load(P("photo.webp"));
        var result = ImageCodec.Load(P("out.webp"), out var info);
        Assert.Equal(ImageFormat.Webp, info.Format);
        Assert.Equal((input.Width, input.Height), (result.Width, result.Height));
        int lossy = MaxDiffOutside(input, result, 12);
        // lossless WebP (--quality 100): outside the mask the result is the input exactly
        (code, _, err) = await CliHarness.RunAsync("inpaint", P("photo.webp"), "--mask", PhotoMask, "-o", P("exact.webp"), "--engine", "fill", "--quality", "100");
        Assert.True(code == 0, err);
        Assert.Equal(0, MaxDiffOutside(input, ImageCodec.Load(P("exact.webp")), 12));
        Assert.NotEqual(input.Data, ImageCodec.Load(P("exact.webp")).Data);

        // CMYK JPEG in, PNG out: outside the mask equal to Pillow's decode of the CMYK file
        (code, _, err) = await CliHarness.RunAsync("inpaint", P("cmyk.jpg"), "--mask", PhotoMask, "-o", P("cmyk_out.png"), "--engine", "fill");
        Assert.True(code == 0, err);
        var refs = ReferenceDecodes.Run([P("cmyk.jpg")]);
        Assert.True(refs[0].Ok, refs[0].Error);
        var pillow = RgbaImage.Wrap(refs[0].Width, refs[0].Height, PixelDepth.U8, refs[0].Rgba);
        Assert.Equal(0, MaxDiffOutside(pillow, ImageCodec.Load(P("cmyk_out.png")), 12));
        // and to JPEG: a JPEG result, close to the input outside the mask
        (code, _, err) = await CliHarness.RunAsync("inpaint", P("cmyk.jpg"), "--mask", PhotoMask, "-o", P("cmyk_out.jpg"), "--engine", "fill", "--quality", "95");
        Assert.True(code == 0, err);
        var jpg = ImageCodec.Load(P("cmyk_out.jpg"), out var jinfo);
        Assert.Equal(ImageFormat.Jpeg, jinfo.Format);
        output.WriteLine($"outside the mask: lossy WebP q90 max diff {lossy}; lossless WebP 0; CMYK JPEG -> PNG vs Pillow 0; -> JPEG q95 max diff {MaxDiffOutside(pillow, jpg, 12)}");
        Assert.InRange(lossy, 1, 80);
    }

    [Theory]
    [InlineData("out.gif")]
    [InlineData("out.bmp")]
    [InlineData("out.tiff")]
    [InlineData("out")]
    public async Task An_output_extension_the_cli_cannot_write_is_a_usage_error(string name)
    {
        var (code, _, err) = await CliHarness.RunAsync("inpaint", Photo, "--mask", PhotoMask, "-o", P(name), "--engine", "fill");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("cannot write", err);
        Assert.Contains(".webp", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public async Task A_truncated_input_is_a_one_line_usage_error()
    {
        MakeInputs();
        var bytes = File.ReadAllBytes(P("cmyk.jpg"));
        File.WriteAllBytes(P("cut.jpg"), bytes[..(bytes.Length * 2 / 3)]);
        var (code, _, err) = await CliHarness.RunAsync("inpaint", P("cut.jpg"), "--mask", PhotoMask, "-o", P("o.png"), "--engine", "fill");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("truncated", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(File.Exists(P("o.png")));
        (code, _, err) = await CliHarness.RunAsync("inpaint", Photo, "--mask", PhotoMask, "-o", P("o.jpg"), "--engine", "fill", "--quality", "0");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--quality", err);
    }
}
