using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Protocol;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Pipelines.Tests.Diffusion;

/// <summary>The four operations end to end on installed tiny model folders: in-process runner, and through the daemon.</summary>
[Collection(TinyModelsCollection.Name)]
public sealed class DiffusionEndToEndTests(TinyModelFolders models, ITestOutputHelper output)
{
    internal static RgbaImage Photo(int w, int h)
    {
        // A real photo (the shipped sample) cropped/scaled to a non-square size.
        var src = ImageCodec.Load(Path.Combine(TestPaths.RepoRoot, "tests", "data", "sample", "photo.png"));
        return Resampler.Resize(src, w, h, ResampleFilter.Lanczos3);
    }

    internal static Mask Blob(int w, int h, int cx, int cy, int rx, int ry)
    {
        var m = new Mask(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double dx = (x - cx) / (double)rx, dy = (y - cy) / (double)ry;
                if (dx * dx + dy * dy <= 1) m.Row(y)[x] = 255;
            }
        return m;
    }

    internal static int ChangedFarFromMask(RgbaImage a, RgbaImage b, Mask mask, int band)
    {
        var grown = MaskOps.Grow(mask, band);
        int changed = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
                if (grown.Row(y)[x] == 0 && !a.Row8(y).Slice(4 * x, 4).SequenceEqual(b.Row8(y).Slice(4 * x, 4))) changed++;
        return changed;
    }

    private async Task<(OperationResult Result, RgbaImage Image)> Run(EngineSetup setup, OperationRequest r)
    {
        var result = await setup.Runner.RunAsync(r, null, CancellationToken.None);
        return (result, ResultPatches.Apply(r.Image, result));
    }

    [Fact]
    public async Task CatalogueOffersTheThreeFoldersAndAutoPicksByOperation()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var names = setup.Catalog.Models.Where(m => m.Usable).Select(m => m.Name).OrderBy(n => n).ToList();
        Assert.Equal(["tiny-sd-base", "tiny-sd-depth", "tiny-sd-inpaint"], names);
        Assert.Equal("tiny-sd-inpaint", setup.Registry.Resolve("auto", Operation.Inpaint).Name);
        Assert.Equal("tiny-sd-inpaint", setup.Registry.Resolve("auto", Operation.Outpaint).Name);
        Assert.Equal("tiny-sd-base", setup.Registry.Resolve("auto", Operation.ImageToImage).Name);
        Assert.Equal("tiny-sd-depth", setup.Registry.Resolve("auto", Operation.DepthToImage).Name);
        // No GPU here: the diffusion engines resolve to the CPU provider, so their jobs go to the CPU workers
        // (a GPU provider would route them to the daemon's single GPU worker).
        var inpaint = new OperationRequest { Operation = Operation.Inpaint, Image = Photo(64, 48), Mask = Blob(64, 48, 30, 20, 8, 6) };
        Assert.Equal("CPU", ((DiffusionEngine)setup.Registry.Resolve("auto", Operation.Inpaint)).ExecutionProvider);
        Assert.Equal(new ResolvedEngine("tiny-sd-inpaint", JobDevice.Cpu), setup.Resolve(inpaint));
        // Resolved once at submit: an engine that is not installed is NOT_FOUND before the job queues.
        Assert.Throws<EngineNotFoundException>(() => setup.Resolve(new OperationRequest
        {
            Operation = Operation.Inpaint, Image = Photo(64, 48), Settings = new GenerationSettings { Engine = "no-such-engine" },
        }));
    }

    [Fact]
    public async Task AModelInstalledWhileRunningIsPickedUpWithoutRestart()
    {
        string dir = Directory.CreateTempSubdirectory("inpaintsuite-live-models-").FullName;
        try
        {
            await using var setup = EngineSetup.Create(dir);
            Assert.Empty(setup.Catalog.Models);
            Assert.Equal("content-aware", setup.Registry.Resolve("auto", Operation.Inpaint).Name);
            // Install the way the model manager does: fill a staging folder, then rename it into place.
            string staging = Path.Combine(dir, ".staging", "tiny-sd-inpaint");
            CopyDirectory(Path.Combine(models.Directory, "tiny-sd-inpaint"), staging);
            Assert.Empty(setup.Catalog.Models); // a half-installed model is never seen
            Directory.Move(staging, Path.Combine(dir, "tiny-sd-inpaint"));
            var listed = Assert.Single(setup.Catalog.Models);
            Assert.Equal("tiny-sd-inpaint", listed.Name);
            Assert.True(listed.Usable, listed.Reason);
            Assert.Contains("tiny-sd-inpaint", setup.Catalog.Engines);
            var result = await setup.Runner.RunAsync(new OperationRequest
            {
                Operation = Operation.Inpaint, Image = Photo(64, 48), Mask = Blob(64, 48, 30, 20, 8, 6),
                Settings = new GenerationSettings { Steps = 2, Seed = 2 },
            }, null, CancellationToken.None);
            Assert.Equal("tiny-sd-inpaint", result.Engine);
            // A step count the model's scheduler (PNDM) cannot run is the caller's mistake, named as such.
            var bad = await Assert.ThrowsAsync<InvalidRequestException>(() => setup.Runner.RunAsync(new OperationRequest
            {
                Operation = Operation.Inpaint, Image = Photo(64, 48), Mask = Blob(64, 48, 30, 20, 8, 6),
                Settings = new GenerationSettings { Steps = 1, Seed = 2 },
            }, null, CancellationToken.None));
            Assert.Equal("steps", bad.Field);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task AModelReplacedOrRemovedWhileRunningIsReloadedOrDropped()
    {
        string dir = Directory.CreateTempSubdirectory("inpaintsuite-replace-models-").FullName;
        string other = Directory.CreateTempSubdirectory("inpaintsuite-replace-fresh-").FullName;
        try
        {
            OperationRequest Request() => new()
            {
                Operation = Operation.Inpaint, Image = Photo(64, 48), Mask = Blob(64, 48, 30, 20, 8, 6),
                Settings = new GenerationSettings { Engine = "m", Steps = 2, Seed = 5 },
            };
            await using var setup = EngineSetup.Create(dir);
            CopyDirectory(Path.Combine(models.Directory, "tiny-sd-base"), Path.Combine(dir, "m"));
            var (first, firstImage) = await Run(setup, Request());
            Assert.Equal("m", first.Engine);
            Assert.True(setup.SessionCache.Statistics.BytesResident > 0);
            Assert.Equal("img2img", Assert.Single(setup.Catalog.Models).Kind);

            // Reinstall under the same name the way the model manager does (old folder out, staged folder renamed in):
            // same file paths, different weights. The job must run on the new weights, not on cached sessions.
            Directory.Move(Path.Combine(dir, "m"), Path.Combine(dir, ".trash-m"));
            CopyDirectory(Path.Combine(models.Directory, "tiny-sd-inpaint"), Path.Combine(dir, ".staging-m"));
            Directory.Move(Path.Combine(dir, ".staging-m"), Path.Combine(dir, "m"));
            Directory.Delete(Path.Combine(dir, ".trash-m"), recursive: true);
            var (second, secondImage) = await Run(setup, Request());
            Assert.Equal("inpaint", Assert.Single(setup.Catalog.Models).Kind);

            // The reference: a fresh process-equivalent setup that only ever saw the new model.
            CopyDirectory(Path.Combine(models.Directory, "tiny-sd-inpaint"), Path.Combine(other, "m"));
            await using var fresh = EngineSetup.Create(other);
            var (_, freshImage) = await Run(fresh, Request());
            Assert.True(freshImage.Data.AsSpan().SequenceEqual(secondImage.Data), "the replaced model ran on stale sessions");
            Assert.False(firstImage.Data.AsSpan().SequenceEqual(secondImage.Data));
            output.WriteLine($"after replace: {setup.SessionCache.Statistics}");

            // Removed: the engine is gone (NOT_FOUND for its name) and its sessions are released.
            Directory.Delete(Path.Combine(dir, "m"), recursive: true);
            Assert.Empty(setup.Catalog.Models);
            Assert.DoesNotContain("m", setup.Catalog.Engines);
            await Assert.ThrowsAsync<EngineNotFoundException>(() => setup.Runner.RunAsync(Request(), null, CancellationToken.None));
            Assert.Equal(0, setup.SessionCache.Statistics.BytesResident);
            Assert.Equal("content-aware", setup.Registry.Resolve("auto", Operation.Inpaint).Name);
        }
        finally
        {
            foreach (var d in new[] { dir, other })
                try { Directory.Delete(d, recursive: true); } catch (IOException) { }
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)));
    }

    [Fact]
    public async Task InpaintIsSeededAndUntouchedOutsideTheMask()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var img = Photo(200, 136);
        var mask = Blob(200, 136, 120, 60, 22, 16);
        OperationRequest Req(ulong seed) => new()
        {
            Operation = Operation.Inpaint, Image = img, Mask = mask,
            Settings = new GenerationSettings { Engine = "tiny-sd-inpaint", Prompt = "a stone bench", Steps = 4, Seed = seed },
        };
        var (r1, a) = await Run(setup, Req(11));
        var (_, b) = await Run(setup, Req(11));
        var (_, c) = await Run(setup, Req(12));
        Assert.Equal("tiny-sd-inpaint", r1.Engine);
        Assert.Equal(11UL, r1.Patches[0].Seed);
        Assert.Equal(a.Data, b.Data);
        Assert.NotEqual(a.Data, c.Data);
        // The default feather blends in a band of 2 x 4 px outside the mask and nowhere else.
        Assert.Equal(0, ChangedFarFromMask(img, a, mask, band: MaskOps.BandWidth(CraftDefaults.DiffusionFeather)));
        Assert.NotEqual(img.Data, a.Data);
        // Every patch pixel with blend weight 0 carries nothing: the composite equals the input there.
        foreach (var p in r1.Patches) Assert.True(p.X >= 0 && p.Y >= 0 && p.X + p.Image.Width <= img.Width && p.Y + p.Image.Height <= img.Height);
    }

    [Fact]
    public async Task OutpaintTo169GrowsTheCanvasAndKeepsTheOriginalAwayFromTheSeam()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var img = Photo(160, 120);
        var result = await setup.Runner.RunAsync(new OperationRequest
        {
            Operation = Operation.Outpaint, Image = img, Outpaint = new OutpaintExtent { AspectWidth = 16, AspectHeight = 9 },
            Settings = new GenerationSettings { Steps = 4, Seed = 3 },
        }, null, CancellationToken.None);
        Assert.Equal("tiny-sd-inpaint", result.Engine);
        Assert.InRange((double)result.CanvasWidth / result.CanvasHeight, 16.0 / 9 - 0.02, 16.0 / 9 + 0.02);
        Assert.Equal(img.Height, result.CanvasHeight);
        var canvas = ResultPatches.Apply(img, result);
        // The original, away from the blend band at its border, is byte-identical on the new canvas.
        int changed = 0;
        for (int y = 0; y < img.Height; y++)
            for (int x = 32; x < img.Width - 32; x++)
                if (!img.Row8(y).Slice(4 * x, 4).SequenceEqual(canvas.Row8(y).Slice(4 * (x + result.InputOffsetX), 4))) changed++;
        Assert.Equal(0, changed);
        for (int i = 3; i < canvas.Data.Length; i += 4) Assert.Equal(255, canvas.Data[i]);
    }

    [Fact]
    public async Task Img2imgAndDepthProduceTheInputSizeAndFollowTheSeed()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var img = Photo(120, 88);
        var depthMap = new RgbaImage(120, 88, PixelDepth.F32);
        var px = depthMap.PixelsF;
        for (int y = 0; y < 88; y++) for (int x = 0; x < 120; x++) { px[(y * 120 + x) * 4] = y / 88f; px[(y * 120 + x) * 4 + 3] = 1; }
        foreach (var (op, depth) in new[] { (Operation.ImageToImage, (RgbaImage?)null), (Operation.DepthToImage, null), (Operation.DepthToImage, depthMap) })
        {
            OperationRequest Req(ulong s) => new() { Operation = op, Image = img, DepthMap = depth, Settings = new GenerationSettings { Steps = 4, Seed = s, Strength = 0.75f } };
            var (r, a) = await Run(setup, Req(5));
            var (_, b) = await Run(setup, Req(5));
            var (_, c) = await Run(setup, Req(6));
            Assert.Equal((120, 88), (a.Width, a.Height));
            Assert.Equal(a.Data, b.Data);
            Assert.NotEqual(a.Data, c.Data);
            Assert.NotEqual(img.Data, a.Data);
            output.WriteLine($"{op} (depth map {(depth == null ? "estimated" : "given")}) by {r.Engine}: ok");
        }
    }

    [Fact]
    public async Task BatchGivesOneResultPerItemWithConsecutiveSeeds()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var img = Photo(96, 72);
        var result = await setup.Runner.RunAsync(new OperationRequest
        {
            Operation = Operation.Inpaint, Image = img, Mask = Blob(96, 72, 48, 36, 12, 10),
            Settings = new GenerationSettings { Engine = "tiny-sd-inpaint", Steps = 2, Seed = 100, BatchSize = 2 },
        }, null, CancellationToken.None);
        var alts = ResultPatches.Alternatives(result);
        Assert.Equal(2, alts.Count);
        Assert.Equal([100UL, 101UL], alts.Select(a => a[0].Seed).ToArray());
        Assert.NotEqual(ResultPatches.Apply(img, result, 0).Data, ResultPatches.Apply(img, result, 1).Data);
    }

    [Fact]
    public async Task CancelMidRunStopsWithinOneStep()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var img = Photo(128, 96);
        using var cts = new CancellationTokenSource();
        int stepsAfterCancel = 0;
        long cancelledAt = 0;
        var progress = new SyncProgress(p =>
        {
            if (p.Stage != "denoise") return;
            if (cts.IsCancellationRequested) Interlocked.Increment(ref stepsAfterCancel);
            else if (p.Step == 2) { cancelledAt = Stopwatch.GetTimestamp(); cts.Cancel(); }
        });
        var task = setup.Runner.RunAsync(new OperationRequest
        {
            Operation = Operation.Inpaint, Image = img, Mask = Blob(128, 96, 64, 48, 20, 16),
            Settings = new GenerationSettings { Engine = "tiny-sd-inpaint", Steps = 50, Seed = 1 },
        }, progress, cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        double ms = Stopwatch.GetElapsedTime(cancelledAt).TotalMilliseconds;
        output.WriteLine($"cancel -> stopped in {ms:F0} ms, {stepsAfterCancel} steps after the cancel");
        Assert.True(stepsAfterCancel <= 1, $"{stepsAfterCancel} denoising steps ran after the cancel");
    }

    [Fact]
    public async Task LargePhotoWithSmallMaskGoesThroughTheOnlyMaskedCrop()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        var img = Photo(4096, 3072);
        var mask = Blob(4096, 3072, 2500, 1800, 60, 40);
        var engine = (DiffusionEngine)setup.Registry.Resolve("tiny-sd-inpaint", Operation.Inpaint);
        engine.WarmUp(); // sessions load once per daemon; this measures a job, not start-up
        OperationRequest Req() => new()
        {
            Operation = Operation.Inpaint, Image = img, Mask = mask,
            Settings = new GenerationSettings { Engine = "tiny-sd-inpaint", Steps = 2, Seed = 9 },
        };
        await setup.Runner.RunAsync(Req(), null, CancellationToken.None); // first job: JIT, tokenizer load
        var before = engine.Model.ModelTime;
        long mem0 = GC.GetTotalAllocatedBytes();
        var sw = Stopwatch.StartNew();
        var result = await setup.Runner.RunAsync(Req(), null, CancellationToken.None);
        double total = sw.Elapsed.TotalMilliseconds, model = (engine.Model.ModelTime - before).TotalMilliseconds;
        long allocated = GC.GetTotalAllocatedBytes() - mem0;
        output.WriteLine($"4096x3072, 120x80 mask: total {total:F0} ms, model {model:F0} ms, non-model {total - model:F0} ms, allocated {allocated / 1e6:F1} MB");
        // Only the region around the mask travels: the patch is far smaller than the canvas.
        var p = Assert.Single(result.Patches);
        Assert.True((long)p.Image.Width * p.Image.Height < 4096L * 3072 / 20, $"patch {p.Image.Width}x{p.Image.Height} is not a crop");
        Assert.True(allocated < 400_000_000, $"allocated {allocated / 1e6:F0} MB for a small mask on a large canvas");
    }

    [Fact]
    public async Task DaemonRunsTheModelsAndListsThem()
    {
        await using var setup = EngineSetup.Create(models.Directory);
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions { GrpcPort = 0, BridgePort = -1, Runner = setup.Runner, Catalog = setup.Catalog });
        using var client = new InpainterClient(daemon.GrpcAddress);
        var list = await client.ListModelsAsync();
        Assert.Contains(list.Models, m => m.Name == "tiny-sd-inpaint" && m.Usable && m.Kind == "inpaint");
        var img = Photo(96, 64);
        var mask = Blob(96, 64, 40, 30, 14, 10);
        var req = new Protocol.V1.InpaintRequest
        {
            Image = WireMapping.ToWire(img),
            Mask = new Protocol.V1.Mask { Width = 96, Height = 64, Data = Google.Protobuf.ByteString.CopyFrom(mask.Data) },
            Settings = new Protocol.V1.GenerationSettings { Engine = "tiny-sd-inpaint", Steps = 3, Seed = 4 },
        };
        int progressEvents = 0;
        var (_, result) = await InpainterClient.RunToResultAsync(client.Inpaint(req), e => { if (e.Progress != null) progressEvents++; });
        Assert.Equal("tiny-sd-inpaint", result.Engine);
        Assert.Equal(4UL, result.Patches[0].Seed);
        Assert.True(progressEvents >= 3, $"{progressEvents} progress events for 3 steps");
        var local = await setup.Runner.RunAsync(WireMapping.ToRequest(req, RequestLimits.From(long.MaxValue, 16)), null, CancellationToken.None);
        Assert.Equal(local.Patches[0].Image.Data, WireMapping.ToImage(result.Patches[0].Image, "patch", RequestLimits.From(long.MaxValue, 16)).Data);
    }

    private sealed class SyncProgress(Action<OperationProgress> report) : IProgress<OperationProgress>
    {
        public void Report(OperationProgress value) => report(value);
    }
}
