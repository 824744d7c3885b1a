using System.Text.Json;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Cli.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-cli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static Task<(int Code, string Out, string Err)> Cli(params string[] args) => CliHarness.RunAsync(args);

    /// <summary>A 96x64 photo-like image with a gradient and texture, and a mask with a blob.</summary>
    private (string Image, string Mask, RgbaImage Img, Mask M) MakeInputs(int w = 96, int h = 64, PixelDepth depth = PixelDepth.U8)
    {
        var img = new RgbaImage(w, h, PixelDepth.U8);
        var rng = new Random(5);
        for (int y = 0; y < h; y++)
        {
            var row = img.Row8(y);
            for (int x = 0; x < w; x++)
            {
                row[4 * x] = (byte)(x * 255 / w);
                row[4 * x + 1] = (byte)(y * 255 / h);
                row[4 * x + 2] = (byte)(((x / 6 + y / 6) % 2) * 120 + rng.Next(40));
                row[4 * x + 3] = 255;
            }
        }
        if (depth != PixelDepth.U8) img = PixelConversions.ConvertDepth(img, depth);
        var mask = new Mask(w, h);
        for (int y = 20; y < 40; y++)
            for (int x = 30; x < 55; x++)
                mask.Row(y)[x] = 255;
        string ip = Path.Combine(_dir, "in.png"), mp = Path.Combine(_dir, "mask.png");
        ImageCodec.SavePng(img, ip);
        var mimg = new RgbaImage(w, h);
        for (int i = 0; i < mask.Data.Length; i++) { mimg.Data[4 * i] = mimg.Data[4 * i + 1] = mimg.Data[4 * i + 2] = mask.Data[i]; mimg.Data[4 * i + 3] = 255; }
        ImageCodec.SavePng(mimg, mp);
        return (ip, mp, img, mask);
    }

    /// <summary>Pixels farther than <paramref name="band"/> px from any mask pixel must be byte-identical.</summary>
    private static int CountChangedOutside(RgbaImage a, RgbaImage b, Mask mask, int band)
    {
        int changed = 0;
        int bpp = 4 * a.BytesPerChannel;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
            {
                bool near = false;
                for (int dy = -band; dy <= band && !near; dy++)
                    for (int dx = -band; dx <= band && !near; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        if (yy >= 0 && xx >= 0 && yy < a.Height && xx < a.Width && mask.Row(yy)[xx] > 0) near = true;
                    }
                if (near) continue;
                if (!a.RowBytes(y).Slice(x * bpp, bpp).SequenceEqual(b.RowBytes(y).Slice(x * bpp, bpp))) changed++;
            }
        return changed;
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("6 parsecs")]
    public async Task Serve_rejects_a_model_memory_it_cannot_read(string size)
    {
        var (code, _, err) = await Cli("serve", "--port", "0", "--bridge-port", "-1", "--model-memory", size);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--model-memory", err);
    }

    [Fact]
    public async Task Serve_takes_the_model_memory_and_warm_up_flags_into_its_configuration()
    {
        var (code, o, err) = await Cli("serve", "--model-memory", "6GiB", "--warm-up", "none", "--print-config");
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Matches(@"Daemon:ModelMemoryBudget = 6442450944\s+# command line --model-memory", o);
        Assert.Matches(@"Daemon:WarmUpModel = none\s+# command line --warm-up", o);
    }

    [Theory]
    [InlineData("fill")]
    [InlineData("auto")]
    public async Task Inpaint_writes_output_untouched_outside_mask(string engine)
    {
        var (ip, mp, img, mask) = MakeInputs();
        string outPath = Path.Combine(_dir, "out.png");
        var (code, stdout, err) = await Cli("inpaint", ip, "--mask", mp, "-o", outPath, "--engine", engine, "--json", "--seed", "7");
        Assert.True(code == 0, err);
        var result = ImageCodec.Load(outPath);
        Assert.Equal((img.Width, img.Height), (result.Width, result.Height));
        Assert.Equal(0, CountChangedOutside(img, result, mask, band: 4));
        // The masked area was actually repainted.
        int diffInside = 0;
        for (int y = 25; y < 35; y++) for (int x = 35; x < 50; x++) if (img.Row8(y)[4 * x + 2] != result.Row8(y)[4 * x + 2]) diffInside++;
        Assert.True(diffInside > 10, $"only {diffInside} pixels changed inside the mask");

        using var doc = JsonDocument.Parse(stdout.Trim());
        var r = doc.RootElement;
        Assert.Equal(outPath, r.GetProperty("output").GetString());
        Assert.Equal(7UL, r.GetProperty("seed").GetUInt64());
        Assert.Equal(96, r.GetProperty("width").GetInt32());
        Assert.Equal(64, r.GetProperty("height").GetInt32());
        Assert.True(r.GetProperty("seconds").GetDouble() >= 0);
        Assert.False(string.IsNullOrEmpty(r.GetProperty("engine").GetString()));
    }

    [Fact]
    public async Task Sixteen_bit_input_gives_sixteen_bit_output()
    {
        var (ip, mp, img, mask) = MakeInputs(depth: PixelDepth.U16);
        string outPath = Path.Combine(_dir, "out16.png");
        var (code, _, err) = await Cli("inpaint", ip, "--mask", mp, "-o", outPath, "--engine", "fill");
        Assert.True(code == 0, err);
        var result = ImageCodec.Load(outPath);
        Assert.Equal(PixelDepth.U16, result.Depth);
        Assert.Equal(0, CountChangedOutside(img, result, mask, band: 4));
    }

    [Fact]
    public async Task Empty_mask_returns_input_unchanged()
    {
        var (ip, _, img, _) = MakeInputs();
        var empty = new RgbaImage(img.Width, img.Height);
        for (int i = 3; i < empty.Data.Length; i += 4) empty.Data[i] = 255;
        string mp = Path.Combine(_dir, "empty.png"), outPath = Path.Combine(_dir, "same.png");
        ImageCodec.SavePng(empty, mp);
        var (code, _, err) = await Cli("inpaint", ip, "--mask", mp, "-o", outPath);
        Assert.True(code == 0, err);
        Assert.Equal(img.Data, ImageCodec.Load(outPath).Data);
    }

    [Fact]
    public async Task Outpaint_to_aspect_grows_canvas()
    {
        var (ip, _, img, _) = MakeInputs();
        string outPath = Path.Combine(_dir, "wide.png");
        var (code, stdout, err) = await Cli("outpaint", ip, "--aspect", "16:9", "-o", outPath, "--engine", "fill", "--json");
        Assert.True(code == 0, err);
        var result = ImageCodec.Load(outPath);
        Assert.True(result.Width >= img.Width && result.Height >= img.Height);
        Assert.InRange((double)result.Width / result.Height, 16.0 / 9 - 0.03, 16.0 / 9 + 0.03);
        // Outpainted pixels are opaque: nothing transparent left on the new canvas.
        for (int i = 3; i < result.Data.Length; i += 4) Assert.Equal(255, result.Data[i]);
        Assert.Contains("\"width\":" + result.Width, stdout);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("size")]
    [InlineData("notimage")]
    [InlineData("usage")]
    [InlineData("engine")]
    public async Task Bad_input_exits_2_with_one_line(string kind)
    {
        var (ip, mp, _, _) = MakeInputs();
        string outPath = Path.Combine(_dir, "x.png");
        string[] args = kind switch
        {
            "missing" => ["inpaint", Path.Combine(_dir, "nope.png"), "--mask", mp, "-o", outPath],
            "size" => ["inpaint", ip, "--mask", MakeOtherSizeMask(), "-o", outPath],
            "notimage" => ["inpaint", MakeTextFile(), "--mask", mp, "-o", outPath],
            "usage" => ["inpaint", ip, "--mask", mp],
            _ => ["inpaint", ip, "--mask", mp, "-o", outPath, "--engine", "no-such-model"],
        };
        var (code, stdout, err) = await Cli(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("inpaintsuite: ", lines[0]);
        Assert.DoesNotContain("   at ", err);
        Assert.False(File.Exists(outPath));
    }

    private string MakeOtherSizeMask()
    {
        string p = Path.Combine(_dir, "small.png");
        ImageCodec.SavePng(new RgbaImage(10, 12), p);
        return p;
    }

    private string MakeTextFile()
    {
        string p = Path.Combine(_dir, "notes.png");
        File.WriteAllText(p, "this is not an image");
        return p;
    }

    [Fact]
    public async Task Daemon_mode_matches_in_process()
    {
        var (ip, mp, img, mask) = MakeInputs();
        await using var setup = EngineSetup.Create(null);
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, Runner = setup.Runner, Catalog = setup.Catalog });
        string viaDaemon = Path.Combine(_dir, "d.png"), local = Path.Combine(_dir, "l.png");
        var (code, _, err) = await Cli("inpaint", ip, "--mask", mp, "-o", viaDaemon, "--engine", "fill", "--seed", "3", "--daemon", daemon.GrpcAddress.ToString());
        Assert.True(code == 0, err);
        (code, _, err) = await Cli("inpaint", ip, "--mask", mp, "-o", local, "--engine", "fill", "--seed", "3");
        Assert.True(code == 0, err);
        Assert.Equal(ImageCodec.Load(local).Data, ImageCodec.Load(viaDaemon).Data);

        var (hc, hout, herr) = await Cli("health", "--daemon", daemon.GrpcAddress.ToString());
        Assert.True(hc == 0, herr);
        Assert.Equal("SERVING", hout.Trim());
    }

    [Fact]
    public async Task Daemon_down_is_a_clear_failure()
    {
        var (ip, mp, _, _) = MakeInputs();
        var (code, _, err) = await Cli("inpaint", ip, "--mask", mp, "-o", Path.Combine(_dir, "x.png"), "--daemon", "http://127.0.0.1:1");
        Assert.Equal(1, code);
        Assert.Contains("daemon", err, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task Models_lists_engines_and_the_onnx_runtime()
    {
        var (code, stdout, err) = await Cli("models", "--models", _dir);
        Assert.True(code == 0, err);
        Assert.Contains("engines: fill, content-aware", stdout);
        Assert.Contains("ONNX Runtime 1.30.", stdout);
        Assert.Contains("CPUExecutionProvider", stdout);
        // The provider decision and, per GPU provider, why it is skipped (default cpu flavour: a CPU-only build).
        Assert.Contains("provider auto: sessions run on ", stdout);
        Assert.Matches(@"\n  CUDA: (usable|unavailable: .+)", stdout);
        Assert.Matches(@"\n  DirectML: (usable|unavailable: .+)", stdout);
        if (!stdout.Contains("CUDAExecutionProvider", StringComparison.Ordinal))
            Assert.Contains("CUDA: unavailable: this ONNX Runtime is a CPU-only build without the CUDA provider", stdout);
    }

    [Fact]
    public void Readme_main_command_inputs_exist()
    {
        // The README's first command runs on these shipped files.
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        Assert.Contains("tests/data/sample/photo.png --mask tests/data/sample/photo.mask.png", readme);
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "tests/data/sample/photo.png")));
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "tests/data/sample/photo.mask.png")));
    }
}
