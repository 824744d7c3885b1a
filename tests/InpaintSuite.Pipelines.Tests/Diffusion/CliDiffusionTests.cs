using System.Text.Json;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Pipelines.Tests.Diffusion;

/// <summary>The CLI's four operations with the tiny model folders installed (in-process and via --json).</summary>
[Collection(TinyModelsCollection.Name)]
public sealed class CliDiffusionTests(TinyModelFolders models) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-cli-diffusion-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private Task<JsonElement> Cli(params string[] args) => CliIn(models.Directory, args);

    private static async Task<JsonElement> CliIn(string modelsDir, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = await InpaintSuite.Cli.Program.RunAsync([.. args, "--models", modelsDir, "--json", "--steps", "3"], o, e, CancellationToken.None);
        Assert.True(code == 0, $"exit {code}: {e}");
        return JsonDocument.Parse(o.ToString().Trim()).RootElement.Clone();
    }

    [Fact]
    public async Task Four_operations_give_the_right_sizes_and_follow_the_seed()
    {
        string photo = Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.png");
        string mask = Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.mask.png");
        var input = ImageCodec.Load(photo);
        string P(string n) => Path.Combine(_dir, n);

        var a = await Cli("inpaint", photo, "--mask", mask, "-o", P("a.png"), "--seed", "5");
        var b = await Cli("inpaint", photo, "--mask", mask, "-o", P("b.png"), "--seed", "5");
        var c = await Cli("inpaint", photo, "--mask", mask, "-o", P("c.png"), "--seed", "6");
        Assert.Equal("tiny-sd-inpaint", a.GetProperty("engine").GetString());
        Assert.Equal(File.ReadAllBytes(P("a.png")), File.ReadAllBytes(P("b.png")));
        Assert.NotEqual(File.ReadAllBytes(P("a.png")), File.ReadAllBytes(P("c.png")));
        var outA = ImageCodec.Load(P("a.png"));
        Assert.Equal((input.Width, input.Height), (outA.Width, outA.Height));
        // Far from the mask (the feather band and then some), the output is the input byte for byte.
        var m = ImageCodec.Load(mask);
        var hole = new Mask(m.Width, m.Height);
        for (int i = 0; i < hole.Data.Length; i++) hole.Data[i] = m.Data[4 * i];
        var near = MaskOps.Grow(hole, 12);
        for (int y = 0; y < input.Height; y++)
            for (int x = 0; x < input.Width; x++)
                if (near.Row(y)[x] == 0)
                    Assert.True(input.Row8(y).Slice(4 * x, 4).SequenceEqual(outA.Row8(y).Slice(4 * x, 4)), $"pixel {x},{y} changed");

        var wide = await Cli("outpaint", photo, "--aspect", "16:9", "-o", P("wide.png"), "--seed", "1");
        Assert.InRange((double)wide.GetProperty("width").GetInt32() / wide.GetProperty("height").GetInt32(), 16.0 / 9 - 0.02, 16.0 / 9 + 0.02);
        var i2i = await Cli("img2img", photo, "-o", P("i2i.png"), "--seed", "1");
        Assert.Equal("tiny-sd-base", i2i.GetProperty("engine").GetString());
        var depth = await Cli("depth", photo, "-o", P("depth.png"), "--seed", "1");
        Assert.Equal("tiny-sd-depth", depth.GetProperty("engine").GetString());
        foreach (var f in new[] { "i2i.png", "depth.png" })
        {
            var img = ImageCodec.Load(P(f));
            Assert.Equal((input.Width, input.Height), (img.Width, img.Height));
        }
    }

    [Fact]
    public async Task Inpaint_with_ddpm_and_a_ddpm_model_folder_defaults_to_it()
    {
        string photo = Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.png");
        string mask = Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.mask.png");
        string P(string n) => Path.Combine(_dir, n);
        var input = ImageCodec.Load(photo);

        await Cli("inpaint", photo, "--mask", mask, "-o", P("ddpm.png"), "--seed", "5", "--scheduler", "ddpm");
        await Cli("inpaint", photo, "--mask", mask, "-o", P("ddpm2.png"), "--seed", "5", "--scheduler", "ddpm");
        await Cli("inpaint", photo, "--mask", mask, "-o", P("pndm.png"), "--seed", "5", "--scheduler", "pndm");
        Assert.Equal(File.ReadAllBytes(P("ddpm.png")), File.ReadAllBytes(P("ddpm2.png")));
        Assert.NotEqual(File.ReadAllBytes(P("ddpm.png")), File.ReadAllBytes(P("pndm.png")));
        var outDdpm = ImageCodec.Load(P("ddpm.png"));
        Assert.Equal((input.Width, input.Height), (outDdpm.Width, outDdpm.Height));
        Assert.NotEqual(input.Data, outDdpm.Data);

        // The same model whose scheduler_config.json names DDPMScheduler: no --scheduler runs DDPM.
        string ddpmModels = Path.Combine(_dir, "models");
        CopyDirectory(Path.Combine(models.Directory, "tiny-sd-inpaint"), Path.Combine(ddpmModels, "tiny-sd-inpaint"));
        string cfg = Path.Combine(ddpmModels, "tiny-sd-inpaint", "scheduler", "scheduler_config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"PNDMScheduler\"", "\"DDPMScheduler\""));
        Assert.Contains("DDPMScheduler", File.ReadAllText(cfg));
        await CliIn(ddpmModels, "inpaint", photo, "--mask", mask, "-o", P("default.png"), "--seed", "5");
        Assert.Equal(File.ReadAllBytes(P("ddpm.png")), File.ReadAllBytes(P("default.png")));
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)));
    }
}
