using FsCheck;
using FsCheck.Fluent;
using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using InpaintSuite.Pipelines.Engines;
using Xunit;

namespace InpaintSuite.Pipelines.Tests;

/// <summary>A stand-in engine: fills the whole region with seeded noise, records what it was asked.</summary>
internal sealed class NoiseEngine(string name, params Operation[] ops) : IFillEngine
{
    public string Name => name;
    public List<FillRequest> Requests { get; } = [];
    public bool Supports(Operation operation) => ops.Contains(operation);

    public Task<IReadOnlyList<RgbaImage>> FillAsync(FillRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        Requests.Add(request);
        var list = new List<RgbaImage>();
        for (int i = 0; i < request.BatchSize; i++)
        {
            var rng = new Random((int)(request.Seed + (ulong)i));
            var img = new RgbaImage(request.Region.Width, request.Region.Height, PixelDepth.U8);
            rng.NextBytes(img.Data);
            list.Add(img);
        }
        return Task.FromResult<IReadOnlyList<RgbaImage>>(list);
    }
}

public class RunnerTests
{
    private static RgbaImage Photo(int w, int h, PixelDepth depth = PixelDepth.U8, int seed = 1)
    {
        var rng = new Random(seed);
        var img = new RgbaImage(w, h, PixelDepth.U8);
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            var r = img.Row8(y);
            r[x * 4] = (byte)(x * 255 / w); r[x * 4 + 1] = (byte)(y * 255 / h); r[x * 4 + 2] = (byte)rng.Next(256); r[x * 4 + 3] = 255;
        }
        return PixelConversions.ConvertDepth(img, depth);
    }

    private static Mask Rect(int w, int h, int x0, int y0, int x1, int y1)
    {
        var m = new Mask(w, h);
        for (int y = y0; y < y1; y++) for (int x = x0; x < x1; x++) m.Data[y * w + x] = 255;
        return m;
    }

    private static OperationRunner Runner(params IFillEngine[] extra) => new(EngineRegistry.WithBuiltIns(extra));

    [Fact]
    public async Task MaskOfWrongSizeIsInvalidNamingMask()
    {
        var ex = await Assert.ThrowsAsync<InvalidRequestException>(() => Runner().RunAsync(
            new OperationRequest { Operation = Operation.Inpaint, Image = Photo(40, 30), Mask = new Mask(30, 40) }, null, default));
        Assert.Equal("mask", ex.Field);
        Assert.Contains("mask", ex.Message);
    }

    [Fact]
    public async Task EmptyMaskGivesOneTransparentPatchAndTheInputBack()
    {
        var img = Photo(70, 50);
        var r = await Runner().RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = img, Mask = new Mask(70, 50), Settings = new() { Engine = "fill", Seed = 9 } }, null, default);
        var p = Assert.Single(r.Patches);
        Assert.Equal((0, 0, 70, 50, 9UL), (p.X, p.Y, p.Image.Width, p.Image.Height, p.Seed));
        for (int i = 3; i < p.Image.Data.Length; i += 4) Assert.Equal(0, p.Image.Data[i]);
        Assert.Equal(img.Data, ResultPatches.Apply(img, r).Data);
    }

    [Theory]
    [InlineData(PixelDepth.U8)]
    [InlineData(PixelDepth.U16)]
    [InlineData(PixelDepth.F32)]
    public async Task FillInpaintChangesOnlyInsideTheMaskAndKeepsDepth(PixelDepth depth)
    {
        int w = 900, h = 700;
        var img = Photo(w, h, depth);
        var mask = Rect(w, h, 400, 300, 480, 350);
        var r = await Runner().RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = img, Mask = mask, Settings = new() { Engine = "fill" } }, null, default);
        Assert.Equal("fill", r.Engine);
        var p = Assert.Single(r.Patches);
        Assert.Equal(depth, p.Image.Depth);
        Assert.True(p.X >= 400 && p.Y >= 300 && p.X + p.Image.Width <= 480 && p.Y + p.Image.Height <= 350, $"patch {p.X},{p.Y} {p.Image.Width}x{p.Image.Height} covers only the changing pixels");
        var outImg = ResultPatches.Apply(img, r);
        int bpp = 4 * (int)depth;
        for (int i = 0; i < w * h; i++)
            if (mask.Data[i] == 0) Assert.True(img.Data.AsSpan(i * bpp, bpp).SequenceEqual(outImg.Data.AsSpan(i * bpp, bpp)));
        // the centre of the hole was repainted from its surroundings (not left as the input's noise there)
        var o8 = PixelConversions.ConvertDepth(outImg, PixelDepth.U8);
        var i8 = PixelConversions.ConvertDepth(img, PixelDepth.U8);
        Assert.InRange(o8.Row8(325)[440 * 4], i8.Row8(325)[440 * 4] - 4, i8.Row8(325)[440 * 4] + 4); // horizontal gradient continues
    }

    [Fact]
    public async Task NoMaskMeansTransparentPixelsAreTheHole()
    {
        var img = Photo(120, 90);
        for (int y = 40; y < 50; y++) for (int x = 50; x < 70; x++) img.Row8(y)[x * 4 + 3] = 0;
        var r = await Runner().RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = img, Settings = new() { Engine = "fill" } }, null, default);
        var o = ResultPatches.Apply(img, r);
        Assert.Equal(255, o.Row8(45)[60 * 4 + 3]);
        Assert.Equal(img.Row8(10)[10 * 4 + 2], o.Row8(10)[10 * 4 + 2]);
    }

    [Fact]
    public async Task SeedIsReportedAndBatchGivesOnePatchPerItem()
    {
        var engine = new NoiseEngine("tiny-sd", Operation.Inpaint, Operation.Outpaint, Operation.ImageToImage);
        var img = Photo(200, 150);
        var mask = Rect(200, 150, 50, 50, 90, 80);
        var r = await Runner(engine).RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = img, Mask = mask, Settings = new() { BatchSize = 3 } }, null, default);
        Assert.Equal("tiny-sd", r.Engine); // auto prefers a diffusion engine
        Assert.Equal(3, r.Patches.Count);
        ulong s0 = r.Patches[0].Seed;
        Assert.Equal([s0, s0 + 1, s0 + 2], r.Patches.Select(p => p.Seed));
        Assert.Equal(s0, engine.Requests[0].Seed);
        Assert.Equal(3, ResultPatches.Alternatives(r).Count);
        Assert.NotEqual(ResultPatches.Apply(img, r, 0).Data, ResultPatches.Apply(img, r, 1).Data);
        var again = await Runner(engine).RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = img, Mask = mask, Settings = new() { Seed = s0 } }, null, default);
        Assert.Equal(r.Patches[0].Image.Data, again.Patches[0].Image.Data);
        // the region handed to the engine has context around the mask, multiple of 8, at least 512 or the canvas
        var req = engine.Requests[0];
        Assert.Equal((200, 144), (req.Region.Width, req.Region.Height)); // 150 is not a multiple of 8; 144 still holds the box
    }

    [Fact]
    public async Task EngineResolution()
    {
        var img = Photo(64, 48);
        var runner = Runner();
        await Assert.ThrowsAsync<EngineNotFoundException>(() => runner.RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = img, Mask = Rect(64, 48, 1, 1, 5, 5), Settings = new() { Engine = "nope" } }, null, default));
        var auto = await Assert.ThrowsAsync<EngineNotFoundException>(() => runner.RunAsync(new OperationRequest { Operation = Operation.ImageToImage, Image = img }, null, default));
        Assert.Contains("diffusion model", auto.Message);
        var named = await Assert.ThrowsAsync<InvalidRequestException>(() => runner.RunAsync(new OperationRequest { Operation = Operation.DepthToImage, Image = img, Settings = new() { Engine = "fill" } }, null, default));
        Assert.Equal("engine", named.Field);
        var ca = new NoiseEngine(EngineNames.ContentAware, Operation.Inpaint, Operation.Outpaint);
        var reg = EngineRegistry.WithBuiltIns([ca]);
        Assert.Same(ca, reg.Resolve("auto", Operation.Inpaint));
        Assert.Equal("fill", EngineRegistry.WithBuiltIns().Resolve("AUTO", Operation.Outpaint).Name);
    }

    [Fact]
    public async Task Img2ImgWithAModelEngineReplacesTheWholeImage()
    {
        var engine = new NoiseEngine("base-model", Operation.ImageToImage);
        var img = Photo(96, 64);
        var r = await Runner(engine).RunAsync(new OperationRequest { Operation = Operation.ImageToImage, Image = img, Settings = new() { Seed = 3 } }, null, default);
        var p = Assert.Single(r.Patches);
        Assert.Equal((0, 0, 96, 64), (p.X, p.Y, p.Image.Width, p.Image.Height));
        for (int i = 3; i < p.Image.Data.Length; i += 4) Assert.Equal(255, p.Image.Data[i]);
    }

    [Theory]
    [InlineData(0, 0, 16, 9, 320, 180, 80, 0)]
    [InlineData(10, 20, 0, 0, 0, 0, 0, 0)]
    public async Task OutpaintExtendsCanvasAndKeepsTheInterior(int left, int top, int aw, int ah, int ew, int eh, int eox, int eoy)
    {
        var img = Photo(160, 180);
        var ext = aw > 0 ? new OutpaintExtent { AspectWidth = aw, AspectHeight = ah } : new OutpaintExtent { Left = left, Top = top, Right = 5 };
        var r = await Runner().RunAsync(new OperationRequest { Operation = Operation.Outpaint, Image = img, Outpaint = ext, Settings = new() { Engine = "fill" } }, null, default);
        if (aw > 0) Assert.Equal((ew, eh, eox, eoy), (r.CanvasWidth, r.CanvasHeight, r.InputOffsetX, r.InputOffsetY));
        else Assert.Equal((160 + left + 5, 180 + top, left, top), (r.CanvasWidth, r.CanvasHeight, r.InputOffsetX, r.InputOffsetY));
        var o = ResultPatches.Apply(img, r);
        Assert.Equal((r.CanvasWidth, r.CanvasHeight), (o.Width, o.Height));
        for (int y = 0; y < o.Height; y++)
        for (int x = 0; x < o.Width; x++)
        {
            int ix = x - r.InputOffsetX, iy = y - r.InputOffsetY;
            bool inside = ix >= 0 && iy >= 0 && ix < 160 && iy < 180;
            if (!inside) Assert.Equal(255, o.Row8(y)[x * 4 + 3]); // the new area is filled, opaque
            // well inside the old image (past the blend overlap) nothing changes
            if (inside && ix >= 30 && ix < 130 && iy >= 30 && iy < 150)
                Assert.True(img.Row8(iy).Slice(ix * 4, 4).SequenceEqual(o.Row8(y).Slice(x * 4, 4)));
        }
    }
}

public class RunnerInvariantTests
{
    public sealed record Case(int W, int H, int Feather, int Grow, int Seed, bool ColorMatch, PixelDepth Depth);

    /// <summary>Through the whole runner: unmasked pixels outside the blend band equal the input byte for byte.</summary>
    [Fact]
    public void OutsideTheHoleTheResultIsByteIdentical()
    {
        var cases =
            from w in Gen.Choose(16, 160)
            from h in Gen.Choose(16, 120)
            from feather in Gen.Choose(0, 10)
            from grow in Gen.Choose(-6, 10)
            from seed in Gen.Choose(0, int.MaxValue)
            from cm in Gen.Elements(false, true)
            from depth in Gen.Elements(PixelDepth.U8, PixelDepth.U16, PixelDepth.F32)
            select new Case(w, h, feather, grow, seed, cm, depth);
        var engine = new NoiseEngine("noise-model", Operation.Inpaint);
        var runner = new OperationRunner(EngineRegistry.WithBuiltIns([engine]));
        var property = Prop.ForAll(Arb.From(cases), c =>
        {
            var rng = new Random(c.Seed);
            var img = new RgbaImage(c.W, c.H, PixelDepth.U8);
            rng.NextBytes(img.Data);
            var input = PixelConversions.ConvertDepth(img, c.Depth);
            if (c.Depth == PixelDepth.F32) { var f = input.PixelsF; for (int i = 0; i < f.Length; i++) f[i] = (float)rng.NextDouble(); }
            var mask = new Mask(c.W, c.H);
            int cx = rng.Next(c.W), cy = rng.Next(c.H), rad = 1 + rng.Next(Math.Min(c.W, c.H) / 2);
            for (int y = 0; y < c.H; y++) for (int x = 0; x < c.W; x++)
                mask.Data[y * c.W + x] = (byte)Math.Clamp((rad - Math.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy))) * 128, 0, 255);
            var opts = new MaskOptions { Feather = c.Feather, Grow = c.Grow, ColorMatch = c.ColorMatch, ContextPadding = rng.Next(3) == 0 ? null : rng.Next(64) };
            var result = runner.RunAsync(new OperationRequest { Operation = Operation.Inpaint, Image = input, Mask = mask, MaskOptions = opts }, null, default).GetAwaiter().GetResult();
            var outImg = ResultPatches.Apply(input, result);
            var grown = MaskOps.Grow(mask, c.Grow);
            // Unmasked pixels beyond the feather's band (2 x feather px outside the mask) never change.
            var d2 = DistanceTransform.SquaredEdt(grown.Data, c.W, c.H, v => v >= 128);
            long band = MaskOps.BandWidth(c.Feather);
            int bpp = 4 * (int)c.Depth;
            for (int i = 0; i < c.W * c.H; i++)
                if (grown.Data[i] == 0 && d2[i] > band * band && !input.Data.AsSpan(i * bpp, bpp).SequenceEqual(outImg.Data.AsSpan(i * bpp, bpp))) return false;
            return true;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(100), property);
    }
}
