using System.Collections.Concurrent;
using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Onnx;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests;

/// <summary>The session cache's rules, with a fake loader (no ONNX Runtime) and then with real tiny ONNX models.</summary>
public sealed class ModelCacheTests
{
    /// <summary>A stand-in for a session: knows whether it is disposed and how many leases use it.</summary>
    private sealed class FakeModel(string key, Action? onDispose = null) : IDisposable
    {
        public string Key { get; } = key;
        public int InUse;
        public volatile bool Disposed;
        public bool DisposedWhileInUse;

        public void Dispose()
        {
            if (Volatile.Read(ref InUse) != 0) DisposedWhileInUse = true;
            Disposed = true;
            onDispose?.Invoke();
        }
    }

    private sealed class Harness
    {
        public readonly ConcurrentQueue<string> LoadOrder = new();
        public readonly ConcurrentBag<FakeModel> Created = [];
        public Func<string, long> Cost = _ => 100;
        public Action<string>? BeforeLoad;

        public ModelCache<string, FakeModel> Cache(long budget) => new(budget, key =>
        {
            BeforeLoad?.Invoke(key);
            LoadOrder.Enqueue(key);
            var m = new FakeModel(key);
            Created.Add(m);
            return m;
        }, key => Cost(key));
    }

    [Fact]
    public void InvalidateReleasesIdleValuesNowLeasedOnesOnReturnAndTheNextAcquireLoadsAfresh()
    {
        var h = new Harness();
        using var cache = h.Cache(10_000);
        var events = new ConcurrentQueue<ModelCacheEventKind>();
        cache.Observer = e => events.Enqueue(e.Kind);
        var idle = cache.Acquire("m/unet");
        var idleValue = idle.Value;
        idle.Dispose();
        var running = cache.Acquire("m/vae");
        Interlocked.Increment(ref running.Value.InUse);
        using (var other = cache.Acquire("n/unet")) { }

        Assert.Equal(2, cache.Invalidate(k => k.StartsWith("m/", StringComparison.Ordinal)));
        Assert.True(idleValue.Disposed);
        Assert.False(running.Value.Disposed); // a running job keeps its session
        Assert.Equal(200, cache.Statistics.BytesResident);
        Assert.False(cache.IsLoaded("m/vae"));

        // A new acquire of the same key is a new load, while the old value is still leased.
        using (var fresh = cache.Acquire("m/vae"))
        {
            Assert.NotSame(running.Value, fresh.Value);
            Assert.Equal(300, cache.Statistics.BytesResident);
        }
        Interlocked.Decrement(ref running.Value.InUse);
        var oldValue = running.Value;
        running.Dispose();
        Assert.True(oldValue.Disposed);
        Assert.False(oldValue.DisposedWhileInUse);
        Assert.Equal(200, cache.Statistics.BytesResident); // n/unet and the fresh m/vae
        Assert.True(cache.IsLoaded("m/vae"));
        Assert.True(cache.IsLoaded("n/unet"));
        Assert.Equal(0, cache.Statistics.Evictions);
        Assert.Equal(2, events.Count(k => k == ModelCacheEventKind.Invalidated));
        Assert.Equal(0, cache.Invalidate(k => k == "absent"));
    }

    [Fact]
    public void LoadsOnceAndServesLaterAcquiresFromTheCache()
    {
        var h = new Harness();
        using var cache = h.Cache(1000);
        var first = cache.Acquire("unet");
        var firstValue = first.Value;
        first.Dispose();
        for (int i = 0; i < 5; i++)
        {
            using var lease = cache.Acquire("unet");
            Assert.Same(firstValue, lease.Value);
        }
        var s = cache.Statistics;
        Assert.Equal(1, s.Loads);
        Assert.Equal(5, s.Hits);
        Assert.Equal(0, s.Evictions);
        Assert.Equal(100, s.BytesResident);
        Assert.Equal(0, s.Leases);
        Assert.False(firstValue.Disposed);
    }

    [Fact]
    public void EvictsTheLeastRecentlyUsedEntryFirstWhenALoadNeedsRoom()
    {
        var h = new Harness();
        using var cache = h.Cache(250); // room for two entries of 100
        FakeModel a, b;
        using (var l = cache.Acquire("a")) a = l.Value;
        using (var l = cache.Acquire("b")) b = l.Value;
        using (cache.Acquire("a")) { } // a is now more recent than b
        using (cache.Acquire("c")) { }
        Assert.True(b.Disposed, "b was least recently used");
        Assert.False(a.Disposed);
        Assert.Equal(["a", "c"], cache.LoadedKeys);
        var s = cache.Statistics;
        Assert.Equal(1, s.Evictions);
        Assert.Equal(200, s.BytesResident);
        Assert.Equal(3, s.Loads);
    }

    [Fact]
    public void MakesRoomBeforeLoadingSoThePeakStaysWithinTheBudget()
    {
        var h = new Harness();
        using var cache = h.Cache(100);
        using (cache.Acquire("a")) { }
        long residentDuringLoad = -1;
        bool aDisposedBeforeLoad = false;
        var a = h.Created.Single();
        h.BeforeLoad = key => { if (key == "b") { aDisposedBeforeLoad = a.Disposed; residentDuringLoad = cache.Statistics.BytesResident; } };
        using (cache.Acquire("b")) { }
        Assert.True(aDisposedBeforeLoad, "a should be released before b loads");
        Assert.Equal(100, residentDuringLoad); // b's reservation only
    }

    [Fact]
    public void LeasedEntriesAreNeverEvictedTheCacheGoesOverBudgetAndTrimsAsLeasesReturn()
    {
        var h = new Harness();
        using var cache = h.Cache(100);
        var leaseA = cache.Acquire("a");
        var leaseB = cache.Acquire("b"); // a is leased: nothing can go, so 200 of 100
        Assert.Equal(200, cache.Statistics.BytesResident);
        Assert.Equal(0, cache.Statistics.Evictions);
        Assert.False(leaseA.Value.Disposed);
        leaseA.Dispose(); // over budget and a is unleased: it goes now
        Assert.True(leaseA.Value.Disposed);
        Assert.Equal(100, cache.Statistics.BytesResident);
        Assert.False(leaseB.Value.Disposed);
        leaseB.Dispose(); // within budget: b stays
        Assert.False(leaseB.Value.Disposed);
        Assert.Equal(["b"], cache.LoadedKeys);
        leaseB.Dispose(); // a second dispose is a no-op
        Assert.Equal(0, cache.Statistics.Leases);
    }

    [Fact]
    public void AModelLargerThanTheWholeBudgetStillLoads()
    {
        var h = new Harness { Cost = _ => 500 };
        using var cache = h.Cache(100);
        using (var lease = cache.Acquire("huge"))
        {
            Assert.False(lease.Value.Disposed);
            Assert.Equal(500, cache.Statistics.BytesResident);
        }
        // Idle and over budget: released, so the budget holds between jobs.
        Assert.Equal(0, cache.Statistics.BytesResident);
        Assert.Equal(1, cache.Statistics.Evictions);
    }

    [Fact]
    public void LoweringTheBudgetEvictsIdleEntriesAtOnce()
    {
        var h = new Harness();
        using var cache = h.Cache(1000);
        foreach (var k in new[] { "a", "b", "c" }) using (cache.Acquire(k)) { }
        using var held = cache.Acquire("a");
        cache.BudgetBytes = 100;
        Assert.Equal(["a"], cache.LoadedKeys); // b and c idle, a leased
        Assert.Equal(2, cache.Statistics.Evictions);
    }

    [Fact]
    public void ConcurrentAcquiresOfAKeyThatIsLoadingWaitForTheOneLoad()
    {
        var h = new Harness();
        using var gate = new ManualResetEventSlim();
        using var loading = new ManualResetEventSlim();
        h.BeforeLoad = _ => { loading.Set(); gate.Wait(TimeSpan.FromSeconds(30)); };
        using var cache = h.Cache(1000);
        const int threads = 32;
        var values = new FakeModel[threads];
        using var ready = new CountdownEvent(threads);
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            ready.Signal();
            using var lease = cache.Acquire("unet");
            values[i] = lease.Value;
        })).ToList();
        workers.ForEach(t => t.Start());
        Assert.True(ready.Wait(TimeSpan.FromSeconds(30)));
        Assert.True(loading.Wait(TimeSpan.FromSeconds(30)));
        // Let every thread reach the cache while the load is held open.
        SpinWait.SpinUntil(() => cache.Statistics.Leases == threads, TimeSpan.FromSeconds(10));
        gate.Set();
        workers.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(30))));
        Assert.Single(h.LoadOrder);
        Assert.All(values, v => Assert.Same(values[0], v));
        var s = cache.Statistics;
        Assert.Equal(1, s.Loads);
        Assert.Equal(threads - 1, s.SharedLoads + s.Hits);
        Assert.True(s.SharedLoads > 0, $"no acquire waited for the load: {s}");
        Assert.Equal(0, s.Leases);
    }

    [Fact]
    public void AFailedLoadIsNotCachedItsWaitersGetTheErrorAndTheNextAcquireRetries()
    {
        var h = new Harness();
        using var gate = new ManualResetEventSlim();
        int attempts = 0;
        h.BeforeLoad = _ =>
        {
            if (Interlocked.Increment(ref attempts) == 1)
            {
                gate.Wait(TimeSpan.FromSeconds(30));
                throw new InvalidDataException("truncated model");
            }
        };
        using var cache = h.Cache(1000);
        var tasks = Enumerable.Range(0, 8).Select(_ => Task.Run(() => { using var l = cache.Acquire("unet"); })).ToArray();
        SpinWait.SpinUntil(() => cache.Statistics.Leases == 8, TimeSpan.FromSeconds(10));
        gate.Set();
        foreach (var t in tasks)
        {
            var e = Assert.ThrowsAny<Exception>(() => t.GetAwaiter().GetResult());
            Assert.IsType<InvalidDataException>(e);
        }
        var s = cache.Statistics;
        Assert.Equal(1, s.Loads);
        Assert.Equal(1, s.LoadFailures);
        Assert.Equal(0, s.Entries);
        Assert.Equal(0, s.BytesResident);
        Assert.Equal(0, s.Leases);
        using (var lease = cache.Acquire("unet")) Assert.False(lease.Value.Disposed);
        Assert.Equal(2, cache.Statistics.Loads);
        Assert.Equal(1, cache.Statistics.Entries);
    }

    [Fact]
    public async Task ACancelledWaiterLeavesTheLoadRunningForOthers()
    {
        var h = new Harness();
        using var gate = new ManualResetEventSlim();
        h.BeforeLoad = _ => gate.Wait(TimeSpan.FromSeconds(30));
        using var cache = h.Cache(1000);
        var owner = Task.Run(() => { using var l = cache.Acquire("unet"); return l.Value; });
        SpinWait.SpinUntil(() => cache.Statistics.Leases == 1, TimeSpan.FromSeconds(10));
        using var cts = new CancellationTokenSource();
        var waiter = cache.AcquireAsync("unet", cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter);
        gate.Set();
        var value = await owner;
        Assert.False(value.Disposed);
        Assert.True(cache.IsLoaded("unet"));
        Assert.Equal(0, cache.Statistics.Leases);
        Assert.Equal(1, cache.Statistics.Loads);
    }

    [Fact]
    public void ManyThreadsNeverSeeADisposedValueNorLoadOneKeyTwiceAtOnce()
    {
        var h = new Harness { Cost = k => 100 + k.Length };
        var loading = new ConcurrentDictionary<string, int>();
        int duplicates = 0;
        var cache = new ModelCache<string, FakeModel>(350, key =>
        {
            if (loading.AddOrUpdate(key, 1, (_, n) => n + 1) > 1) Interlocked.Increment(ref duplicates);
            Thread.SpinWait(500);
            var m = new FakeModel(key);
            h.Created.Add(m);
            loading.AddOrUpdate(key, 0, (_, n) => n - 1);
            return m;
        }, k => h.Cost(k));
        var keys = Enumerable.Range(0, 10).Select(i => "m" + i).ToArray();
        int violations = 0;
        var threads = Enumerable.Range(0, 16).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            for (int i = 0; i < 1500; i++)
            {
                using var lease = cache.Acquire(keys[rng.Next(rng.Next(2) == 0 ? 3 : keys.Length)]);
                Interlocked.Increment(ref lease.Value.InUse);
                if (lease.Value.Disposed) Interlocked.Increment(ref violations);
                Thread.SpinWait(rng.Next(200));
                if (lease.Value.Disposed) Interlocked.Increment(ref violations);
                Interlocked.Decrement(ref lease.Value.InUse);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60))));
        var s = cache.Statistics;
        Assert.Equal(0, violations);
        Assert.Equal(0, duplicates);
        Assert.DoesNotContain(h.Created, m => m.DisposedWhileInUse);
        Assert.Equal(0, s.Leases);
        Assert.True(s.BytesResident <= 350, s.ToString());
        Assert.Equal(s.Loads - s.Evictions, s.Entries);
        Assert.Equal(16 * 1500, s.Loads + s.Hits + s.SharedLoads);
        Assert.True(s.Evictions > 0, s.ToString());
        Assert.Equal(h.Created.Count(m => !m.Disposed), s.Entries);
        cache.Dispose();
        Assert.All(h.Created, m => Assert.True(m.Disposed));
    }

    [Fact]
    public void DisposeReleasesIdleEntriesNowAndLeasedOnesWhenTheirLeaseReturns()
    {
        var h = new Harness();
        var cache = h.Cache(1000);
        using (cache.Acquire("idle")) { }
        var held = cache.Acquire("held");
        cache.Dispose();
        Assert.True(h.Created.Single(m => m.Key == "idle").Disposed);
        Assert.False(held.Value.Disposed);
        Assert.Throws<ObjectDisposedException>(() => cache.Acquire("idle"));
        held.Dispose();
        Assert.True(held.Value.Disposed);
        Assert.Equal(0, cache.Statistics.BytesResident);
    }

    [Fact]
    public void ReportsLoadsFailuresAndEvictionsToTheObserver()
    {
        var h = new Harness();
        h.BeforeLoad = k => { if (k == "bad") throw new IOException("no such file"); };
        using var cache = h.Cache(100);
        var events = new List<ModelCacheEvent>();
        cache.Observer = events.Add;
        using (cache.Acquire("a")) { }
        Assert.Throws<IOException>(() => cache.Acquire("bad"));
        using (cache.Acquire("b")) { }
        Assert.Equal(
            // Room is made before a load, so "a" goes even though "bad" then fails.
            [(ModelCacheEventKind.Loaded, "a"), (ModelCacheEventKind.Evicted, "a"), (ModelCacheEventKind.LoadFailed, "bad"), (ModelCacheEventKind.Loaded, "b")],
            events.Select(e => (e.Kind, e.Key)));
        Assert.All(events, e => Assert.Equal(100, e.Bytes));
    }

    [Fact]
    public void TheDefaultBudgetIsHalfOfPhysicalMemory()
    {
        long physical = ModelMemory.PhysicalMemory;
        Assert.True(physical > 256L << 20, $"physical memory reads as {physical}");
        Assert.Equal(Math.Max(1L << 30, physical / 2), ModelMemory.DefaultBudget());
        Assert.Equal("1.5 GiB", ModelMemory.Format(3L << 29));
        Assert.Equal("300 MiB", ModelMemory.Format(300L << 20));
        Assert.Equal("512 B", ModelMemory.Format(512));
        Assert.Equal("unlimited", ModelMemory.Format(long.MaxValue));
    }

    [Fact]
    public void TheCostOfASessionIsItsFilePlusTheExternalDataItNames()
    {
        var dir = Directory.CreateTempSubdirectory("inpaintsuite-cost-").FullName;
        try
        {
            var model = Path.Combine(dir, "model.onnx");
            FakeOnnx.Write(model, [new("x", FakeOnnx.Float, [1L])], [new("y", FakeOnnx.Float, [1L])], externalDataLocation: "weights.pb");
            File.WriteAllBytes(Path.Combine(dir, "weights.pb"), new byte[12345]);
            File.WriteAllBytes(Path.Combine(dir, "unrelated.bin"), new byte[99999]);
            Assert.Equal(new FileInfo(model).Length + 12345, ModelMemory.EstimateSessionBytes(model));

            var corrupt = Path.Combine(dir, "corrupt.onnx");
            File.WriteAllBytes(corrupt, [0xff, 0xff, 0xff]);
            Assert.Equal(3, ModelMemory.EstimateSessionBytes(corrupt));
            Assert.Equal(0, ModelMemory.EstimateSessionBytes(Path.Combine(dir, "missing.onnx")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static string TinyComponent(string name) => Path.Combine(TestPaths.DiffusersReference, "tiny_models", "onnx", name, "model.onnx");

    private static readonly OrtSessionOptions Cpu = new() { ExecutionProvider = ExecutionProviderKind.Cpu, IntraOpThreads = 1 };

    private static float[] Decode(InferenceSession s)
    {
        var latents = OrtTensor.Create(Enumerable.Range(0, 4 * 8 * 8).Select(i => MathF.Sin(i)).ToArray(), 1, 4, 8, 8);
        return s.Run(new Dictionary<string, OrtTensor> { [s.Inputs[0].Name] = latents })[s.Outputs[0].Name].ToFloat32().Span.ToArray();
    }

    [Fact]
    public void RealTinySessionsAreSharedAndReleasedUnderTheBudget()
    {
        string decoder = TinyComponent("vae_decoder"), unet = TinyComponent("unet");
        Assert.True(File.Exists(decoder), "tiny models missing: " + decoder);
        long decoderBytes = ModelMemory.EstimateSessionBytes(decoder);
        // Room for the decoder alone: loading the UNet must release it.
        using var cache = new ModelSessionCache(decoderBytes + 1000);
        InferenceSession first;
        float[] reference;
        using (var lease = cache.Acquire(decoder, Cpu))
        {
            first = lease.Value;
            reference = Decode(first);
        }
        using (var lease = cache.Acquire(decoder, Cpu))
        {
            Assert.Same(first, lease.Value);
            Assert.Equal(reference, Decode(lease.Value));
        }
        // Different options are a different session.
        using (var other = cache.Acquire(decoder, Cpu with { IntraOpThreads = 2 })) Assert.NotSame(first, other.Value);
        using (var lease = cache.Acquire(unet, Cpu)) Assert.Equal("sample", lease.Value.Inputs[0].Name);
        Assert.False(cache.IsLoaded(new ModelSessionKey(decoder, Cpu)));
        Assert.Throws<ObjectDisposedException>(() => Decode(first)); // evicted sessions really are released
        var s = cache.Statistics;
        Assert.Equal(3, s.Loads);
        Assert.Equal(1, s.Hits);
        Assert.Equal(3, s.Evictions); // each load made room; the UNet alone is over budget, so it went when returned
        Assert.Equal(0, s.BytesResident);
    }

    [Fact]
    public void ARealSessionInUseSurvivesEvictionPressureAndIsReleasedWhenReturned()
    {
        string decoder = TinyComponent("vae_decoder"), encoder = TinyComponent("vae_encoder");
        using var cache = new ModelSessionCache(1); // nothing idle may stay
        var held = cache.Acquire(decoder, Cpu);
        var expected = Decode(held.Value);
        using (cache.Acquire(encoder, Cpu)) { }
        Assert.Equal(expected, Decode(held.Value)); // still usable: leased sessions are never disposed
        held.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Decode(held.Value));
        Assert.Equal(0, cache.Statistics.BytesResident);
    }

    [Fact]
    public void ThirtyTwoThreadsAskingForAColdRealModelCauseOneLoad()
    {
        string unet = TinyComponent("unet_inpaint");
        using var cache = new ModelSessionCache(long.MaxValue);
        using var start = new Barrier(32);
        var sessions = new InferenceSession[32];
        var threads = Enumerable.Range(0, 32).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            using var lease = cache.Acquire(unet, Cpu);
            sessions[i] = lease.Value;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60))));
        Assert.Equal(1, cache.Statistics.Loads);
        Assert.All(sessions, s => Assert.Same(sessions[0], s));
    }
}
