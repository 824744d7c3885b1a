using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Runtime.Lora;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>The tiny models and a LoRA folder (the two reference LoRAs plus two broken ones) for the CLI tests.</summary>
public sealed class LoraCliFolders : IDisposable
{
    public LoraCliFolders()
    {
        Models = TinyModels.CreateFolders("inpaintsuite-lora-cli-");
        Loras = Path.Combine(Models, "..", Path.GetFileName(Models) + "-loras");
        Directory.CreateDirectory(Loras);
        foreach (var f in new[] { "style_kohya.safetensors", "detail_peft.safetensors" })
            File.Copy(Path.Combine(TestPaths.LoraReference, f), Path.Combine(Loras, f));
        // Keys for modules the tiny UNet does not have (what a LoRA for another model looks like).
        var strays = new List<(string, int[], float[])>();
        for (int i = 0; i < 7; i++)
        {
            strays.Add(($"lora_unet_down_blocks_3_attentions_{i}_proj_in.lora_down.weight", [2, 32], new float[64]));
            strays.Add(($"lora_unet_down_blocks_3_attentions_{i}_proj_in.lora_up.weight", [32, 2], new float[64]));
        }
        var style = SafetensorsFile.Load(Path.Combine(Loras, "style_kohya.safetensors"));
        foreach (var t in style.Tensors.Where(t => t.Name.Contains("mid_block_attentions_0_proj_in", StringComparison.Ordinal)))
            strays.Add((t.Name, t.Shape, style.ReadFloat32(t)));
        File.WriteAllBytes(Path.Combine(Loras, "strays.safetensors"), SafetensorsFile.Write(strays));
        File.WriteAllBytes(Path.Combine(Loras, "corrupt.safetensors"), [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'"']);
    }

    public string Models { get; }

    public string Loras { get; }

    public void Dispose()
    {
        foreach (var d in new[] { Models, Loras })
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }
}

public sealed class LoraCliTests(LoraCliFolders folders) : IClassFixture<LoraCliFolders>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-lora-out-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private (string Image, string Mask) Inputs()
    {
        var img = Resampler.Resize(ImageCodec.Load(Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.png")), 96, 64, ResampleFilter.Lanczos3);
        var mask = new Mask(96, 64);
        for (int y = 14; y < 46; y++)
            for (int x = 24; x < 70; x++) mask.Row(y)[x] = 255;
        string ip = Path.Combine(_dir, "in.png"), mp = Path.Combine(_dir, "mask.png");
        ImageCodec.SavePng(img, ip);
        var m = new RgbaImage(96, 64);
        for (int i = 0; i < mask.Data.Length; i++) { m.Data[4 * i] = m.Data[4 * i + 1] = m.Data[4 * i + 2] = mask.Data[i]; m.Data[4 * i + 3] = 255; }
        ImageCodec.SavePng(m, mp);
        return (ip, mp);
    }

    private async Task<byte[]> Run(string name, string? daemon, params string[] extra)
    {
        var (ip, mp) = Inputs();
        string output = Path.Combine(_dir, name + ".png");
        var args = new List<string> { "inpaint", ip, "--mask", mp, "-o", output, "--engine", "tiny-sd-inpaint", "--steps", "3", "--seed", "11" };
        if (!extra.Contains("--prompt")) args.AddRange(["--prompt", "a red chair"]);
        if (daemon != null) args.AddRange(["--daemon", daemon]);
        else args.AddRange(["--models", folders.Models, "--loras", folders.Loras]);
        args.AddRange(extra);
        var (code, _, err) = await CliHarness.RunAsync([.. args]);
        Assert.True(code == 0, $"{name}: exit {code}: {err}");
        return ImageCodec.Load(output).Data;
    }

    private static int Differing(byte[] a, byte[] b) => a.Zip(b).Count(p => p.First != p.Second);

    [Fact]
    public async Task ALoraChangesTheResultDeterministicallyZeroIsOffAndTwoStackInProcessAndThroughTheDaemon()
    {
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, ModelsDirectory = folders.Models, LoraDirectory = folders.Loras, WarmUpModel = "none" });
        string url = daemon.GrpcAddress.ToString();
        foreach (var via in new[] { null, url })
        {
            string tag = via == null ? "cli" : "daemon";
            var plain = await Run(tag + "-plain", via);
            var style = await Run(tag + "-style", via, "--lora", "style_kohya");
            var styleAgain = await Run(tag + "-style2", via, "--lora", "style_kohya:1");
            var off = await Run(tag + "-off", via, "--lora", "style_kohya:0");
            var detail = await Run(tag + "-detail", via, "--lora", "detail_peft:0.3");
            var both = await Run(tag + "-both", via, "--lora", "style_kohya:0.7", "--lora", "detail_peft:0.3");
            // The same pair, one from the prompt (A1111 syntax, stripped before tokenizing) and in the other order.
            var bothPrompt = await Run(tag + "-both-prompt", via, "--lora", "detail_peft:0.3", "--prompt", "a red chair <lora:style_kohya:0.7>");
            Assert.True(Differing(plain, style) > 500, $"{tag}: the LoRA changed only {Differing(plain, style)} bytes");
            Assert.Equal(style, styleAgain);
            Assert.Equal(plain, off);
            Assert.True(Differing(both, style) > 100 && Differing(both, detail) > 100, $"{tag}: two LoRAs do not stack ({Differing(both, style)} / {Differing(both, detail)} bytes from each alone)");
            Assert.Equal(both, bothPrompt);
            if (via != null)
            {
                // Daemon and in-process runs give the same bytes.
                Assert.Equal(ImageCodec.Load(Path.Combine(_dir, "cli-both.png")).Data, both);
                Assert.Equal(ImageCodec.Load(Path.Combine(_dir, "cli-style.png")).Data, style);
            }
        }
        // Plain and merged sessions are cached side by side in the daemon's one session cache.
        var keys = daemon.Engines!.SessionCache.LoadedKeys;
        Assert.Contains(keys, k => k.Loras == null && k.Path.Contains("tiny-sd-inpaint", StringComparison.Ordinal) && k.Path.Contains("unet", StringComparison.Ordinal));
        Assert.True(keys.Count(k => k.Loras != null) >= 3, string.Join("\n", keys));
    }

    [Fact]
    public async Task UnmatchedKeysFailBeforeDenoisingUnlessLenientAndUnknownOrCorruptFilesAreNamed()
    {
        var (ip, mp) = Inputs();
        string o = Path.Combine(_dir, "x.png");
        string[] common = ["inpaint", ip, "--mask", mp, "-o", o, "--engine", "tiny-sd-inpaint", "--steps", "3", "--seed", "1", "--models", folders.Models, "--loras", folders.Loras];
        var (code, _, err) = await CliHarness.RunAsync([.. common, "--lora", "strays"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("7 LoRA key(s) match no weight of model 'tiny-sd-inpaint'", err);
        Assert.Contains("lora_unet_down_blocks_3_attentions_0_proj_in", err);
        Assert.DoesNotContain("denoise", err);
        Assert.False(File.Exists(o));
        (code, _, err) = await CliHarness.RunAsync([.. common, "--lora", "strays", "--lora-lenient"]);
        Assert.True(code == 0, err);
        (code, _, err) = await CliHarness.RunAsync([.. common, "--lora", "nosuch"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("LoRA 'nosuch' is not in", err);
        Assert.Contains("style_kohya", err);
        (code, _, err) = await CliHarness.RunAsync([.. common, "--prompt", "x <lora:corrupt:1>"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("LoRA 'corrupt' cannot be used", err);
        Assert.Contains("truncated", err);
    }

    [Fact]
    public async Task TheDaemonListsTheFolderWithArchitecturesAndPicksUpANewFileWithoutRestart()
    {
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, ModelsDirectory = folders.Models, LoraDirectory = folders.Loras, WarmUpModel = "none" });
        using var client = new Protocol.InpainterClient(daemon.GrpcAddress);
        var caps = await client.GetCapabilitiesAsync();
        var style = Assert.Single(caps.Loras, l => l.Name == "style_kohya");
        Assert.Equal(("SD 1.x", "kohya", 48u, 4u), (style.Architecture, style.Format, style.Modules, style.Rank));
        var peft = Assert.Single(caps.Loras, l => l.Name == "detail_peft");
        Assert.Equal(("peft", 32u, 2u), (peft.Format, peft.Modules, peft.Rank));
        Assert.NotEmpty(Assert.Single(caps.Loras, l => l.Name == "corrupt").Error);
        Assert.Equal(Path.GetFullPath(folders.Loras), caps.LoraDirectory);
        var (lc, lout, lerr) = await CliHarness.RunAsync("loras", "--loras", folders.Loras);
        Assert.True(lc == 0, lerr);
        Assert.Contains("lora style_kohya: SD 1.x (ss_base_model_version=sd_v1), kohya, 48 modules, rank 4", lout);
        Assert.Contains("lora detail_peft: unknown", lout);
        Assert.Contains("lora corrupt: unusable:", lout);

        string added = Path.Combine(folders.Loras, "late.safetensors");
        File.Copy(Path.Combine(folders.Loras, "style_kohya.safetensors"), added);
        try
        {
            caps = await client.GetCapabilitiesAsync();
            Assert.Contains(caps.Loras, l => l.Name == "late");
            var (ip, mp) = Inputs();
            var (code, _, err) = await CliHarness.RunAsync("inpaint", ip, "--mask", mp, "-o", Path.Combine(_dir, "late.png"), "--engine", "tiny-sd-inpaint", "--steps", "3", "--seed", "11", "--prompt", "a red chair", "--lora", "late", "--daemon", daemon.GrpcAddress.ToString());
            Assert.True(code == 0, err);
        }
        finally { File.Delete(added); }
    }
}
