using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>
/// SDXL from the command line, as a user runs it: `models` shows the architecture, then inpaint / outpaint / img2img on
/// the tiny SDXL folders in-process and through `--daemon`, with seeds, batch and cancel (the CLI's token = Ctrl+C).
/// </summary>
public sealed class SdxlCliTests : IDisposable
{
    private readonly string _models = TinyModels.CreateSdxlFolders("inpaintsuite-cli-sdxl-");
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-cli-sdxl-io-").FullName;

    public void Dispose()
    {
        foreach (var d in new[] { _models, _dir })
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    private static Task<(int Code, string Out, string Err)> Cli(params string[] args) => CliHarness.RunAsync(args);

    private (string Image, string Mask, RgbaImage Img, Mask M) Inputs(int w, int h)
    {
        var src = ImageCodec.Load(Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.png"));
        var img = Resampler.Resize(src, w, h, ResampleFilter.Lanczos3);
        var mask = new Mask(w, h);
        for (int y = h / 3; y < h * 2 / 3; y++)
            for (int x = w / 3; x < w / 2; x++)
                mask.Row(y)[x] = 255;
        string ip = Path.Combine(_dir, "in.png"), mp = Path.Combine(_dir, "mask.png");
        ImageCodec.SavePng(img, ip);
        var mimg = new RgbaImage(w, h);
        for (int i = 0; i < mask.Data.Length; i++) { mimg.Data[4 * i] = mimg.Data[4 * i + 1] = mimg.Data[4 * i + 2] = mask.Data[i]; mimg.Data[4 * i + 3] = 255; }
        ImageCodec.SavePng(mimg, mp);
        return (ip, mp, ImageCodec.Load(ip), mask);
    }

    private static int ChangedFarFromMask(RgbaImage a, RgbaImage b, Mask mask, int band)
    {
        var grown = MaskOps.Grow(mask, band);
        int changed = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
                if (grown.Row(y)[x] == 0 && !a.Row8(y).Slice(4 * x, 4).SequenceEqual(b.Row8(y).Slice(4 * x, 4))) changed++;
        return changed;
    }

    [Fact]
    public async Task ModelsInpaintOutpaintImg2imgInProcessAndThroughTheDaemon()
    {
        var (code, stdout, err) = await Cli("models", "--models", _models);
        Assert.True(code == 0, err);
        Assert.Contains("model tiny-sdxl-inpaint: inpaint sdxl fp32 64x64 usable", stdout);
        Assert.Contains("model tiny-sdxl-base: img2img sdxl fp32 64x64 usable", stdout);

        var (ip, mp, img, mask) = Inputs(150, 100);
        string a = Path.Combine(_dir, "a.png"), b = Path.Combine(_dir, "b.png"), c = Path.Combine(_dir, "c.png");
        string[] Args(string output, string seed) => ["inpaint", ip, "--mask", mp, "-o", output, "--models", _models, "--engine", "tiny-sdxl-inpaint", "--prompt", "a stone bench", "--steps", "3", "--seed", seed];
        (code, _, err) = await Cli([.. Args(a, "7"), "--batch", "2"]);
        Assert.True(code == 0, err);
        (code, _, err) = await Cli(Args(b, "7"));
        Assert.True(code == 0, err);
        (code, _, err) = await Cli(Args(c, "8"));
        Assert.True(code == 0, err);
        var ia = ImageCodec.Load(a);
        Assert.Equal(ia.Data, ImageCodec.Load(b).Data);
        Assert.NotEqual(ia.Data, ImageCodec.Load(c).Data);
        var second = ImageCodec.Load(Path.Combine(_dir, "a-2.png")); // batch item 2 = seed 8
        Assert.Equal(ImageCodec.Load(c).Data, second.Data);
        Assert.NotEqual(img.Data, ia.Data);
        Assert.Equal(0, ChangedFarFromMask(img, ia, mask, MaskOps.BandWidth(CraftDefaults.DiffusionFeather)));

        string outp = Path.Combine(_dir, "wide.png");
        (code, _, err) = await Cli("outpaint", ip, "--aspect", "16:9", "-o", outp, "--models", _models, "--engine", "tiny-sdxl-inpaint", "--steps", "3", "--seed", "2");
        Assert.True(code == 0, err);
        var wide = ImageCodec.Load(outp);
        Assert.InRange((double)wide.Width / wide.Height, 16.0 / 9 - 0.02, 16.0 / 9 + 0.02);

        string i2i = Path.Combine(_dir, "i2i.png");
        (code, _, err) = await Cli("img2img", ip, "-o", i2i, "--models", _models, "--engine", "tiny-sdxl-base", "--steps", "4", "--strength", "0.5", "--seed", "3");
        Assert.True(code == 0, err);
        var ii = ImageCodec.Load(i2i);
        Assert.Equal((150, 100), (ii.Width, ii.Height));
        Assert.NotEqual(img.Data, ii.Data);

        // The same jobs through a daemon give the same bytes.
        await using var setup = EngineSetup.Create(_models);
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, Runner = setup.Runner, Catalog = setup.Catalog });
        string viaDaemon = Path.Combine(_dir, "d.png"), i2iDaemon = Path.Combine(_dir, "di2i.png");
        (code, _, err) = await Cli([.. Args(viaDaemon, "7"), "--daemon", daemon.GrpcAddress.ToString()]);
        Assert.True(code == 0, err);
        Assert.Equal(ia.Data, ImageCodec.Load(viaDaemon).Data);
        (code, _, err) = await Cli("img2img", ip, "-o", i2iDaemon, "--engine", "tiny-sdxl-base", "--steps", "4", "--strength", "0.5", "--seed", "3", "--daemon", daemon.GrpcAddress.ToString());
        Assert.True(code == 0, err);
        Assert.Equal(ii.Data, ImageCodec.Load(i2iDaemon).Data);
    }

    [Fact]
    public async Task CancelStopsAnSdxlJobThroughTheDaemon()
    {
        var (ip, mp, _, _) = Inputs(128, 96);
        await using var setup = EngineSetup.Create(_models);
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, Runner = setup.Runner, Catalog = setup.Catalog });
        // Cancelled once the daemon runs the job, not after a fixed time: 500 tiny steps finish in ~1 s on a quiet machine.
        using var cts = new CancellationTokenSource();
        var o = new StringWriter();
        var e = new StringWriter();
        var sw = Stopwatch.StartNew();
        var run = Program.RunAsync(["inpaint", ip, "--mask", mp, "-o", Path.Combine(_dir, "never.png"), "--engine", "tiny-sdxl-inpaint", "--steps", "500", "--seed", "1",
            "--daemon", daemon.GrpcAddress.ToString()], o, e, cts.Token);
        while (daemon.Queue.RunningCount == 0 && !run.IsCompleted) await Task.Delay(2);
        cts.Cancel();
        int code = await run;
        Assert.True(code == ExitCodes.Cancelled, $"exit {code}: {e}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"cancel took until {sw.Elapsed}");
        Assert.False(File.Exists(Path.Combine(_dir, "never.png")));
        // The daemon is free again: a short job runs.
        var (c2, _, err) = await Cli("inpaint", ip, "--mask", mp, "-o", Path.Combine(_dir, "after.png"), "--engine", "tiny-sdxl-inpaint", "--steps", "2", "--seed", "1", "--daemon", daemon.GrpcAddress.ToString());
        Assert.True(c2 == 0, err);
    }
}
