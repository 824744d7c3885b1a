using System.Collections.Concurrent;
using InpaintSuite.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests;

/// <summary>One worker per device: the GPU is owned by one job at a time, CPU jobs run beside it on their own workers.</summary>
public sealed class JobDeviceTests
{
    private const string GpuEngine = "gpu-model";

    private static OperationRequest Request(string engine, ulong seed)
    {
        var wire = TestDaemon.Inpaint();
        wire.Settings.Seed = seed;
        wire.Settings.Engine = engine;
        return WireMapping.ToRequest(wire, RequestLimits.From(1 << 24, 8));
    }

    private static string DeviceOf(OperationRequest r) => r.Settings.Engine == GpuEngine ? JobDevice.Gpu : JobDevice.Cpu;

    /// <summary>Records how many jobs run at once per device; GPU jobs take a while, CPU jobs are quick.</summary>
    private sealed class DeviceRunner : IOperationRunner
    {
        private readonly FakeRunner _inner = new() { Steps = 1 };
        private int _gpuNow, _cpuNow;
        public int GpuMax, CpuMax, CpuWhileGpu;
        public readonly ConcurrentQueue<string> Order = new();

        public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
        {
            bool gpu = request.Settings.Engine == GpuEngine;
            Order.Enqueue(request.Settings.Engine + ":" + request.Settings.Seed);
            if (gpu)
            {
                int now = Interlocked.Increment(ref _gpuNow);
                InterlockedMax(ref GpuMax, now);
                try
                {
                    await Task.Delay(40, cancellationToken);
                    return await _inner.RunAsync(new OperationRequest
                    {
                        Operation = request.Operation, Image = request.Image, Mask = request.Mask,
                        Settings = request.Settings with { Engine = EngineNames.Fill },
                    }, progress, cancellationToken);
                }
                finally { Interlocked.Decrement(ref _gpuNow); }
            }
            int c = Interlocked.Increment(ref _cpuNow);
            InterlockedMax(ref CpuMax, c);
            if (Volatile.Read(ref _gpuNow) > 0) Interlocked.Increment(ref CpuWhileGpu);
            try
            {
                await Task.Delay(5, cancellationToken);
                return await _inner.RunAsync(request, progress, cancellationToken);
            }
            finally { Interlocked.Decrement(ref _cpuNow); }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
        }
    }

    private static async Task<List<JobUpdate>> DrainAsync(Job job)
    {
        var events = new List<JobUpdate>();
        await foreach (var e in job.Events.ReadAllAsync()) events.Add(e);
        return events;
    }

    [Fact]
    public async Task TheGpuRunsOneJobAtATimeWhileCpuJobsRunBesideIt()
    {
        var runner = new DeviceRunner();
        await using var queue = new JobQueue(runner, [new JobDevice(JobDevice.Cpu, 2), new JobDevice(JobDevice.Gpu, 1)], DeviceOf, NullLogger.Instance);
        var gpuJobs = Enumerable.Range(0, 4).Select(i => queue.Submit(Request(GpuEngine, (ulong)i), 0, "a")).ToList();
        var cpuJobs = Enumerable.Range(0, 6).Select(i => queue.Submit(Request(EngineNames.Fill, (ulong)(100 + i)), 0, "b")).ToList();
        Assert.All(gpuJobs, j => Assert.Equal(JobDevice.Gpu, j.Device));
        Assert.All(cpuJobs, j => Assert.Equal(JobDevice.Cpu, j.Device));
        var all = await Task.WhenAll(gpuJobs.Concat(cpuJobs).Select(DrainAsync)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(all, events => Assert.IsType<JobCompleted>(events[^1]));
        Assert.Equal(1, runner.GpuMax);
        Assert.Equal(2, runner.CpuMax); // both CPU workers were used
        Assert.True(runner.CpuWhileGpu > 0, "no CPU job ran while the GPU was busy: CPU jobs waited behind GPU jobs");
        // The CPU jobs did not wait for the GPU queue to drain: all six started before the last GPU job.
        var order = runner.Order.ToList();
        Assert.True(order.IndexOf($"{GpuEngine}:3") > order.IndexOf($"{EngineNames.Fill}:105"), string.Join(" ", order));
    }

    [Fact]
    public async Task QueuePositionsCountOnlyJobsWaitingForTheSameDevice()
    {
        var runner = new DeviceRunner();
        await using var queue = new JobQueue(runner, [new JobDevice(JobDevice.Cpu, 1), new JobDevice(JobDevice.Gpu, 1)], DeviceOf, NullLogger.Instance);
        var gpuJobs = Enumerable.Range(0, 3).Select(i => queue.Submit(Request(GpuEngine, (ulong)i), 0, "a")).ToList();
        var cpu = queue.Submit(Request(EngineNames.Fill, 100), 0, "b");
        var cpuEvents = await DrainAsync(cpu).WaitAsync(TimeSpan.FromSeconds(30));
        // Three GPU jobs ahead of it in submission order, none on its device: it is next (position 0) at once.
        Assert.All(cpuEvents.OfType<JobQueued>(), e => Assert.Equal(0, e.Position));
        var last = await DrainAsync(gpuJobs[2]).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(last, e => e is JobQueued { Position: 1 }); // behind the second GPU job once the first was running
        Assert.IsType<JobCompleted>(last[^1]);
    }

    [Fact]
    public async Task JobsWaitingForABusyGpuDoNotCountAsAnIdleCpuWorker()
    {
        var runner = new DeviceRunner();
        await using var queue = new JobQueue(runner, [new JobDevice(JobDevice.Cpu, 1), new JobDevice(JobDevice.Gpu, 1)], DeviceOf, NullLogger.Instance);
        var jobs = Enumerable.Range(0, 5).Select(i => queue.Submit(Request(GpuEngine, (ulong)i), 0, "a")).ToList();
        await Task.WhenAll(jobs.Select(DrainAsync)).WaitAsync(TimeSpan.FromSeconds(30));
        var s = queue.Statistics;
        Assert.Equal(5, s.Completed);
        // 5 x 40 ms of GPU work with jobs waiting the whole time and the CPU worker free: none of it is "idle while waiting".
        Assert.True(s.IdleWhileWaiting < TimeSpan.FromMilliseconds(50), $"idle while waiting {s.IdleWhileWaiting.TotalMilliseconds:F1} ms");
    }

    [Fact]
    public async Task ResolutionHappensOnceAtSubmitAFailingOneNeverQueuesAndAnUnknownDeviceMeansTheFirst()
    {
        var runner = new DeviceRunner();
        int resolved = 0;
        await using var queue = new JobQueue(runner, [new JobDevice(JobDevice.Cpu, 1), new JobDevice(JobDevice.Gpu, 1)],
            r =>
            {
                Interlocked.Increment(ref resolved);
                return r.Settings.Seed == 1 ? throw new EngineNotFoundException("nope") : new ResolvedEngine(EngineNames.Fill, "npu");
            },
            RequestLimits.Default, NullLogger.Instance);
        Assert.Throws<EngineNotFoundException>(() => queue.Submit(Request(EngineNames.Fill, 1), 0, "a"));
        Assert.Equal(0, queue.WaitingCount + queue.RunningCount);
        var b = queue.Submit(Request(EngineNames.Auto, 2), 0, "a");
        Assert.Equal(JobDevice.Cpu, b.Device);
        // The job carries the resolved engine: the runner gets it, the started update names it.
        Assert.Equal(EngineNames.Fill, b.Engine);
        var events = await DrainAsync(b).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new JobStarted(EngineNames.Fill, JobDevice.Cpu), events.OfType<JobStarted>().Single());
        Assert.IsType<JobCompleted>(events[^1]);
        Assert.Equal(2, resolved);
    }

    [Fact]
    public async Task ARequestOverTheLimitsIsRejectedAtSubmitWithTheField()
    {
        await using var queue = new JobQueue(new DeviceRunner(), [new JobDevice(JobDevice.Cpu, 1)], null, RequestLimits.From(1 << 20, 4), NullLogger.Instance);
        var request = Request(EngineNames.Fill, 1);
        var tooMany = new OperationRequest { Operation = request.Operation, Image = request.Image, Mask = request.Mask, Settings = request.Settings with { BatchSize = 5 } };
        Assert.Equal("settings.batch_size", Assert.Throws<InvalidRequestException>(() => queue.Submit(tooMany)).Field);
        var feather = new OperationRequest { Operation = request.Operation, Image = request.Image, Mask = request.Mask, MaskOptions = new MaskOptions { Feather = 300 } };
        Assert.Equal("mask_options.feather", Assert.Throws<InvalidRequestException>(() => queue.Submit(feather)).Field);
        Assert.Equal(0, queue.WaitingCount + queue.RunningCount);
        await Task.CompletedTask;
    }
}
