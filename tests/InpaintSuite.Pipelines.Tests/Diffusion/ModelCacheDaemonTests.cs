using System.Diagnostics;
using Google.Protobuf;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Protocol;
using Grpc.Health.V1;
using InpaintSuite.Runtime.Models;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Pipelines.Tests.Diffusion;

/// <summary>
/// The model cache through the daemon with the tiny model folders: sessions reused across jobs, LRU eviction under a
/// budget, warm-up before the first job, and one load for concurrent first requests. Every tiny model is four
/// components (text encoder, UNet, VAE encoder, VAE decoder), so "one load of a model" is four session loads.
/// </summary>
[Collection(TinyModelsCollection.Name)]
public sealed class ModelCacheDaemonTests(TinyModelFolders models, ITestOutputHelper output)
{
    private const int Components = 4;
    private const long OneGiB = 1L << 30;

    private sealed class Served(EngineSetup setup, DaemonHost host) : IAsyncDisposable
    {
        public EngineSetup Setup { get; } = setup;
        public DaemonHost Host { get; } = host;
        public ModelSessionCache Cache => Setup.SessionCache;
        public InpainterClient Client() => new(Host.GrpcAddress);

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            await Setup.DisposeAsync();
        }
    }

    private async Task<Served> Serve(long budget, string warmUp, int workers = 1)
    {
        var setup = EngineSetup.Create(models.Directory, budget);
        var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            GrpcPort = 0,
            BridgePort = -1,
            Engines = setup,
            WarmUpModel = warmUp,
            Workers = workers,
            ModelMemoryBudget = budget,
            MinimumLogLevel = LogLevel.Warning,
        });
        return new Served(setup, host);
    }

    /// <summary>The cache's cost of a whole model folder (its four components).</summary>
    private long ModelBytes(string name)
    {
        var e = ModelCatalogue.Inspect(Path.Combine(models.Directory, name));
        return new[] { e.TextEncoderPath, e.UnetPath, e.VaeEncoderPath, e.VaeDecoderPath }.Sum(p => ModelMemory.EstimateSessionBytes(p!));
    }

    private static W.InpaintRequest Request(string engine, ulong seed = 5)
    {
        const int w = 80, h = 56;
        var pixels = new byte[w * h * 4];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7 % 251);
        var mask = new byte[w * h];
        for (int y = 16; y < 40; y++)
            for (int x = 20; x < 52; x++) mask[y * w + x] = 255;
        return new W.InpaintRequest
        {
            Image = new W.Image { Width = w, Height = h, Format = W.PixelFormat.Rgba8, Data = ByteString.CopyFrom(pixels) },
            Mask = new W.Mask { Width = w, Height = h, Data = ByteString.CopyFrom(mask) },
            Settings = new W.GenerationSettings { Engine = engine, Steps = 2, Seed = seed },
            Client = "cache-test",
        };
    }

    private static async Task<W.Result> Inpaint(InpainterClient client, string engine, ulong seed = 5)
    {
        var (_, result) = await InpainterClient.RunToResultAsync(client.Inpaint(Request(engine, seed), TimeSpan.FromMinutes(2)));
        return result;
    }

    private bool IsLoaded(Served s, string model) =>
        ((Pipelines.Diffusion.DiffusionEngine)s.Setup.Registry.Resolve(model, Operation.Inpaint)).IsLoaded;

    [Fact]
    public async Task SessionsLoadOnceAndAreReusedByLaterJobs()
    {
        await using var s = await Serve(OneGiB, warmUp: "none");
        using var client = s.Client();
        Assert.Equal(0, s.Cache.Statistics.Loads);
        await Inpaint(client, "tiny-sd-inpaint");
        var afterFirst = s.Cache.Statistics;
        Assert.Equal(Components, afterFirst.Loads);
        for (int i = 0; i < 5; i++) await Inpaint(client, "tiny-sd-inpaint", (ulong)i);
        var after = s.Cache.Statistics;
        output.WriteLine($"after 1 job: {afterFirst}\nafter 6 jobs: {after}");
        Assert.Equal(Components, after.Loads);
        Assert.Equal(0, after.Evictions);
        Assert.True(after.Hits >= afterFirst.Hits + 5 * Components, after.ToString());
        Assert.Equal(ModelBytes("tiny-sd-inpaint"), after.BytesResident);
        Assert.Equal(0, after.Leases); // jobs returned their sessions
    }

    [Fact]
    public async Task AlternatingTwoModelsUnderABudgetForOneEvictsTheLeastRecentlyUsed()
    {
        long inpaint = ModelBytes("tiny-sd-inpaint"), baseModel = ModelBytes("tiny-sd-base");
        long budget = Math.Max(inpaint, baseModel) + 64 * 1024; // one model fits, two do not
        Assert.True(budget < inpaint + baseModel);
        await using var s = await Serve(budget, warmUp: "none");
        using var client = s.Client();
        string[] order = ["tiny-sd-inpaint", "tiny-sd-inpaint", "tiny-sd-base", "tiny-sd-inpaint", "tiny-sd-base"];
        var log = new List<string>();
        int switches = 0;
        for (int i = 0; i < order.Length; i++)
        {
            if (i > 0 && order[i] != order[i - 1]) switches++;
            var result = await Inpaint(client, order[i]);
            Assert.Equal(order[i], result.Engine);
            var st = s.Cache.Statistics;
            log.Add($"{order[i]}: {st}");
            string other = order[i] == "tiny-sd-inpaint" ? "tiny-sd-base" : "tiny-sd-inpaint";
            Assert.True(IsLoaded(s, order[i]), $"{order[i]} should be resident after its job");
            Assert.False(IsLoaded(s, other), $"{other} should have been evicted: {st}");
            Assert.Equal(Components * (1 + switches), st.Loads);     // a repeat of the same model loads nothing
            Assert.Equal(Components * switches, st.Evictions);       // each switch releases the other model whole
            Assert.True(st.BytesResident <= budget, st.ToString());
        }
        foreach (var line in log) output.WriteLine(line);
    }

    [Fact]
    public async Task WarmUpLoadsTheAutoInpaintModelBeforeTheFirstJob()
    {
        await using var s = await Serve(OneGiB, warmUp: "auto");
        using var client = s.Client();
        // Health answers at once; warm-up runs behind it.
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await client.CheckHealthAsync()).Status);
        await s.Host.WarmUp.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(IsLoaded(s, "tiny-sd-inpaint"), s.Cache.Statistics.ToString());
        Assert.False(IsLoaded(s, "tiny-sd-base"));
        Assert.Equal(Components, s.Cache.Statistics.Loads);
        // Clients see it too: ListModels says which models are resident.
        var listed = (await client.ListModelsAsync()).Models.ToDictionary(m => m.Name);
        Assert.True(listed["tiny-sd-inpaint"].Loaded);
        Assert.False(listed["tiny-sd-base"].Loaded);
        var result = await Inpaint(client, "auto");
        Assert.Equal("tiny-sd-inpaint", result.Engine);
        Assert.Equal(Components, s.Cache.Statistics.Loads); // the first job loaded nothing
    }

    [Fact]
    public async Task WarmUpTakesAModelNameAndNoneLoadsNothing()
    {
        await using (var named = await Serve(OneGiB, warmUp: "tiny-sd-base"))
        {
            await named.Host.WarmUp.WaitAsync(TimeSpan.FromMinutes(1));
            Assert.True(IsLoaded(named, "tiny-sd-base"));
            Assert.False(IsLoaded(named, "tiny-sd-inpaint"));
        }
        await using (var none = await Serve(OneGiB, warmUp: "none"))
        {
            await none.Host.WarmUp.WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(0, none.Cache.Statistics.Loads);
        }
        // A name that is not installed: the daemon still serves (the warning is logged), nothing loads.
        await using var typo = await Serve(OneGiB, warmUp: "tiny-sd-inpant");
        await typo.Host.WarmUp.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(0, typo.Cache.Statistics.Loads);
        using var client = typo.Client();
        Assert.Equal("tiny-sd-inpaint", (await Inpaint(client, "auto")).Engine);
    }

    [Fact]
    public async Task AJobArrivingDuringWarmUpWaitsForTheSameLoad()
    {
        await using var s = await Serve(OneGiB, warmUp: "auto");
        using var client = s.Client();
        // Sent straight after start, while warm-up is (usually) still loading; either way nothing loads twice.
        var result = await Inpaint(client, "tiny-sd-inpaint");
        await s.Host.WarmUp.WaitAsync(TimeSpan.FromMinutes(1));
        var st = s.Cache.Statistics;
        output.WriteLine(st.ToString());
        Assert.Equal("tiny-sd-inpaint", result.Engine);
        Assert.Equal(Components, st.Loads);
    }

    [Fact]
    public async Task ConcurrentFirstRequestsForAColdModelCauseExactlyOneLoad()
    {
        const int clients = 8;
        await using var s = await Serve(OneGiB, warmUp: "none", workers: 4);
        var clientsList = Enumerable.Range(0, clients).Select(_ => s.Client()).ToList();
        try
        {
            var results = await Task.WhenAll(clientsList.Select(c => Inpaint(c, "tiny-sd-inpaint", seed: 11)));
            var st = s.Cache.Statistics;
            output.WriteLine(st.ToString());
            Assert.Equal(Components, st.Loads);
            Assert.Equal(0, st.LoadFailures);
            // Four workers started on the cold model together: some waited for another's load.
            Assert.True(st.SharedLoads > 0, st.ToString());
            // Sessions shared by concurrent jobs give the same pixels as each other.
            Assert.All(results, r => Assert.Equal(results[0].Patches[0].Image.Data, r.Patches[0].Image.Data));
        }
        finally { clientsList.ForEach(c => c.Dispose()); }
    }

    [Fact]
    public async Task WarmUpShortensTheFirstJob()
    {
        // Not a benchmark (the machine is shared): prints the two first-job latencies and checks the loads moved.
        async Task<(double FirstJobMs, long LoadsDuringJob)> FirstJob(string warmUp)
        {
            await using var s = await Serve(OneGiB, warmUp);
            await s.Host.WarmUp.WaitAsync(TimeSpan.FromMinutes(1));
            using var client = s.Client();
            long before = s.Cache.Statistics.Loads;
            var sw = Stopwatch.StartNew();
            await Inpaint(client, "tiny-sd-inpaint");
            return (sw.Elapsed.TotalMilliseconds, s.Cache.Statistics.Loads - before);
        }
        // Two rounds: the first also pays for JIT compilation; the second is the figure.
        (double FirstJobMs, long LoadsDuringJob) cold = default, warm = default;
        for (int round = 0; round < 2; round++)
        {
            cold = await FirstJob("none");
            warm = await FirstJob("auto");
            output.WriteLine($"round {round}: first job, 80x56 inpaint, 2 steps: cold {cold.FirstJobMs:F0} ms ({cold.LoadsDuringJob} loads), warmed up {warm.FirstJobMs:F0} ms ({warm.LoadsDuringJob} loads)");
        }
        Assert.Equal(Components, cold.LoadsDuringJob);
        Assert.Equal(0, warm.LoadsDuringJob);
    }
}
