using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>The tiny model folders and one daemon over them (engines: fill, content-aware, the three tiny models).</summary>
public sealed class MaskContractFixture : IAsyncLifetime
{
    public string Models { get; private set; } = "";
    public EngineSetup? Setup { get; private set; }
    public DaemonHost? Daemon { get; private set; }

    public async Task InitializeAsync()
    {
        Models = TinyModels.CreateFolders("inpaintsuite-contract-models-");
        Setup = EngineSetup.Create(Models);
        Daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, Runner = Setup.Runner, Catalog = Setup.Catalog });
    }

    public async Task DisposeAsync()
    {
        if (Daemon != null) await Daemon.DisposeAsync();
        if (Setup != null) await Setup.DisposeAsync();
        try { Directory.Delete(Models, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// The mask contract (docs/masks-and-blending.md), black-box through the CLI in-process and the CLI against a daemon,
/// for every engine and operation, the tiny diffusion models included:
/// rule 1, the same job twice with the fully covered pixels painted two different colours (same seed) gives identical
/// bytes; rule 2, unmasked pixels beyond the blend band (none for content-aware/fill by default, none with feather 0)
/// are the input's; rule 3, painting only the partially covered pixels black, then white, changes the result there by
/// exactly (1 - coverage) of the difference: the pixel blends by its coverage.
/// </summary>
public sealed class MaskContractTests(MaskContractFixture fx) : IClassFixture<MaskContractFixture>, IDisposable
{
    private const int W = 120, H = 88; // non-square on purpose
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-contract-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A full disc with an antialiased rim, and a soft patch of partial coverage (40..200) away from it.</summary>
    private static Mask ContractMask()
    {
        var m = new Mask(W, H);
        for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
        {
            double d = Math.Sqrt((x - 42) * (x - 42) + (y - 40) * (y - 40));
            int disc = (int)Math.Clamp((17.5 - d) * 255, 0, 255); // ~1 px antialiased rim
            int soft = x is >= 90 and < 110 && y is >= 20 and < 70 ? 40 + (x - 90) * 8 : 0;
            m.Data[y * W + x] = (byte)Math.Max(disc, soft);
        }
        return m;
    }

    /// <summary>A smooth photo-like RGBA8 image (gradients plus a little texture), opaque.</summary>
    private static RgbaImage Photo()
    {
        var img = new RgbaImage(W, H, PixelDepth.U8);
        var rng = new Random(5);
        for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
        {
            var p = img.Row8(y).Slice(x * 4, 4);
            p[0] = (byte)Math.Clamp(60 + x + rng.Next(12), 0, 255);
            p[1] = (byte)Math.Clamp(90 + y + rng.Next(12), 0, 255);
            p[2] = (byte)Math.Clamp(140 + (x - y) / 2 + rng.Next(12), 0, 255);
            p[3] = 255;
        }
        return img;
    }

    /// <summary>The photo with every pixel whose coverage satisfies <paramref name="where"/> painted <paramref name="rgb"/>.</summary>
    private static RgbaImage Painted(RgbaImage photo, Mask m, Func<byte, bool> where, (byte R, byte G, byte B) rgb)
    {
        var img = photo.Clone();
        for (int i = 0; i < W * H; i++)
            if (where(m.Data[i])) { img.Data[i * 4] = rgb.R; img.Data[i * 4 + 1] = rgb.G; img.Data[i * 4 + 2] = rgb.B; }
        return img;
    }

    public static TheoryData<string, string, string?> Jobs() => new()
    {
        // operation, engine, feather (null = the engine's default)
        { "inpaint", "content-aware", null },
        { "inpaint", "fill", null },
        { "inpaint", "tiny-sd-inpaint", null },
        { "inpaint", "tiny-sd-inpaint", "0" },
        { "inpaint", "tiny-sd-base", null },
        { "img2img", "tiny-sd-base", null },
        { "depth", "tiny-sd-depth", null },
    };

    private async Task<RgbaImage> RunAsync(string op, string engine, string? feather, RgbaImage image, Mask mask, string name, bool daemon)
    {
        string ip = Path.Combine(_dir, name + ".in.png"), mp = Path.Combine(_dir, name + ".mask.png"), op_ = Path.Combine(_dir, name + (daemon ? ".d" : ".l") + ".png");
        ImageCodec.SavePng(image, ip);
        var mi = new RgbaImage(W, H, PixelDepth.U8);
        for (int i = 0; i < W * H; i++) { mi.Data[i * 4] = mi.Data[i * 4 + 1] = mi.Data[i * 4 + 2] = mask.Data[i]; mi.Data[i * 4 + 3] = 255; }
        ImageCodec.SavePng(mi, mp);
        var args = new List<string> { op, ip, "--mask", mp, "-o", op_, "--engine", engine, "--seed", "11", "--steps", "2", "--models", fx.Models };
        if (op is "img2img" or "depth") args.AddRange(["--strength", "1"]); // rule 1 holds at strength 1 (below, the job starts from the image by definition)
        if (feather != null) args.AddRange(["--feather", feather]);
        if (daemon) args.AddRange(["--daemon", fx.Daemon!.GrpcAddress.ToString()]);
        var (code, _, err) = await CliHarness.RunAsync([.. args]);
        Assert.True(code == 0, $"{op} {engine} feather {feather ?? "default"}{(daemon ? " --daemon" : "")}: {err}");
        return ImageCodec.Load(op_);
    }

    [Theory]
    [MemberData(nameof(Jobs))]
    public async Task FullCoverageIsReplacedZeroIsKeptPartialBlendsByCoverage(string op, string engine, string? feather)
    {
        var photo = Photo();
        var mask = ContractMask();
        bool diffusion = engine.StartsWith("tiny-", StringComparison.Ordinal);
        int band = feather == "0" || !diffusion ? 0 : MaskOps.BandWidth(CraftDefaults.DiffusionFeather);
        var d2 = DistanceTransform.SquaredEdt(mask.Data, W, H, v => v >= 128);
        // Rule 1 through both paths: the hole painted red, then green.
        var red = await RunAsync(op, engine, feather, Painted(photo, mask, c => c == 255, (255, 0, 0)), mask, "red", daemon: false);
        var green = await RunAsync(op, engine, feather, Painted(photo, mask, c => c == 255, (0, 255, 0)), mask, "green", daemon: false);
        Assert.True(red.Data.AsSpan().SequenceEqual(green.Data), $"CLI {op} {engine}: the result depends on what the fully covered pixels held");
        var redD = await RunAsync(op, engine, feather, Painted(photo, mask, c => c == 255, (255, 0, 0)), mask, "red", daemon: true);
        var greenD = await RunAsync(op, engine, feather, Painted(photo, mask, c => c == 255, (0, 255, 0)), mask, "green", daemon: true);
        Assert.True(redD.Data.AsSpan().SequenceEqual(greenD.Data), $"CLI --daemon {op} {engine}: the result depends on what the fully covered pixels held");
        // The daemon gives the in-process bytes, so rules 2 and 3 below hold for both paths.
        Assert.True(redD.Data.AsSpan().SequenceEqual(red.Data), $"{op} {engine}: the daemon's result differs from the in-process one");

        // Rule 2: unmasked pixels outside the band are the input's.
        int changed = 0;
        for (int i = 0; i < W * H; i++)
            if (mask.Data[i] == 0 && d2[i] > (long)band * band && !photo.Data.AsSpan(i * 4, 3).SequenceEqual(red.Data.AsSpan(i * 4, 3))) changed++;
        Assert.True(changed == 0, $"{op} {engine}: {changed} unmasked pixels beyond the {band} px band changed");
        if (band > 0) // the band is real: something next to the mask did change
        {
            int inBand = 0;
            for (int i = 0; i < W * H; i++)
                if (mask.Data[i] == 0 && d2[i] <= 4 && !photo.Data.AsSpan(i * 4, 3).SequenceEqual(red.Data.AsSpan(i * 4, 3))) inBand++;
            Assert.True(inBand > 50, $"{op} {engine}: only {inBand} pixels changed within 2 px outside the mask");
        }

        // Rule 3: partial pixels painted black, then white; the rest (hole included) as in the photo.
        var black = await RunAsync(op, engine, feather, Painted(photo, mask, c => c is > 0 and < 255, (0, 0, 0)), mask, "black", daemon: false);
        var white = await RunAsync(op, engine, feather, Painted(photo, mask, c => c is > 0 and < 255, (255, 255, 255)), mask, "white", daemon: false);
        int partial = 0;
        for (int i = 0; i < W * H; i++)
        {
            int c = mask.Data[i];
            if (c is 0 or 255) continue;
            partial++;
            for (int ch = 0; ch < 3; ch++)
            {
                int keep = white.Data[i * 4 + ch] - black.Data[i * 4 + ch]; // = 255 * (1 - w) up to rounding
                int w = 255 - keep;
                if (band == 0) Assert.True(Math.Abs(w - c) <= 1, $"{op} {engine}: pixel {i % W},{i / W} coverage {c} blended with weight {w}");
                else Assert.True(w >= c - 1, $"{op} {engine}: pixel {i % W},{i / W} coverage {c} blended with weight {w} (< coverage)");
            }
        }
        Assert.True(partial > 300, $"only {partial} partial pixels");
    }

    /// <summary>Outpaint: the old image is unmasked, so it stays byte-identical except in the diffusion engines' band.</summary>
    [Theory]
    [InlineData("content-aware", null)]
    [InlineData("fill", null)]
    [InlineData("tiny-sd-inpaint", null)]
    [InlineData("tiny-sd-inpaint", "0")]
    [InlineData("tiny-sd-base", null)]
    public async Task OutpaintKeepsTheOldImageOutsideTheBand(string engine, string? feather)
    {
        var photo = Photo();
        string ip = Path.Combine(_dir, "op.in.png");
        ImageCodec.SavePng(photo, ip);
        int band = feather == "0" || !engine.StartsWith("tiny-", StringComparison.Ordinal) ? 0 : MaskOps.BandWidth(CraftDefaults.DiffusionFeather);
        foreach (bool daemon in new[] { false, true })
        {
            string o = Path.Combine(_dir, $"op.{daemon}.png");
            var args = new List<string> { "outpaint", ip, "--left", "24", "--bottom", "16", "-o", o, "--engine", engine, "--seed", "3", "--steps", "2", "--models", fx.Models };
            if (feather != null) args.AddRange(["--feather", feather]);
            if (daemon) args.AddRange(["--daemon", fx.Daemon!.GrpcAddress.ToString()]);
            var (code, _, err) = await CliHarness.RunAsync([.. args]);
            Assert.True(code == 0, err);
            var r = ImageCodec.Load(o);
            Assert.Equal((W + 24, H + 16), (r.Width, r.Height));
            int changed = 0, newOpaque = 0;
            for (int y = 0; y < r.Height; y++)
            for (int x = 0; x < r.Width; x++)
            {
                bool old = x >= 24 && y < H;
                if (!old) { if (r.Row8(y)[x * 4 + 3] == 255) newOpaque++; continue; }
                int distToNew = Math.Min(x - 24 + 1, H - y); // px to the nearest new-area pixel
                if (distToNew <= band) continue;
                if (!photo.Row8(y).Slice((x - 24) * 4, 4).SequenceEqual(r.Row8(y).Slice(x * 4, 4))) changed++;
            }
            Assert.True(changed == 0, $"{engine}{(daemon ? " --daemon" : "")}: {changed} old pixels beyond the {band} px band changed");
            Assert.Equal(r.Width * r.Height - W * H, newOpaque); // the new area is fully generated
        }
    }
}
