using System.Collections.Concurrent;
using InpaintSuite.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests;

/// <summary>Order within a priority: round-robin across clients, FIFO within a client, no memory of past use.</summary>
public sealed class JobQueueFairnessTests
{
    private const ulong HoldSeed = 999;

    private static OperationRequest Request(ulong seed = 7)
    {
        var wire = TestDaemon.Inpaint();
        wire.Settings.Seed = seed;
        return WireMapping.ToRequest(wire, RequestLimits.From(1 << 24, 8));
    }

    /// <summary>Holds jobs with <see cref="HoldSeed"/> until released; others pass through the fake runner.</summary>
    private sealed class HoldingRunner : IOperationRunner
    {
        private readonly FakeRunner _inner = new() { Steps = 1 };
        public readonly TaskCompletionSource Held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
        {
            if (request.Settings.Seed == HoldSeed)
            {
                Held.TrySetResult();
                await Release.Task.WaitAsync(cancellationToken);
            }
            return await _inner.RunAsync(request, progress, cancellationToken);
        }
    }

    private static async Task<List<string>> RunHeldAsync(JobQueue queue, HoldingRunner runner, string holder, params (string Client, int Priority)[] jobs)
    {
        var order = new ConcurrentQueue<string>();
        var ended = 0;
        queue.JobEnded += (job, _) => { order.Enqueue(job.Client); Interlocked.Increment(ref ended); };
        queue.Submit(Request(HoldSeed), 0, holder);
        await runner.Held.Task.WaitAsync(TimeSpan.FromSeconds(10));
        foreach (var (client, priority) in jobs) queue.Submit(Request(), priority, client);
        runner.Release.SetResult();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (Volatile.Read(ref ended) < jobs.Length + 1) await Task.Delay(2, timeout.Token);
        return order.Skip(1).ToList();
    }

    [Fact]
    public async Task ClientsAlternateAndPastUseDoesNotPutAClientBehindNewcomers()
    {
        var runner = new HoldingRunner();
        await using var queue = new JobQueue(runner, 1, NullLogger.Instance);
        // "old" has used the daemon a lot before "new" shows up.
        for (int i = 0; i < 5; i++)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnEnded(Job j, JobOutcome o) => done.TrySetResult();
            queue.JobEnded += OnEnded;
            queue.Submit(Request(), 0, "old");
            await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
            queue.JobEnded -= OnEnded;
        }
        var order = await RunHeldAsync(queue, runner, "old",
            ("old", 0), ("old", 0), ("old", 0), ("new", 0), ("new", 0), ("new", 0));
        // "new" never ran, "old" ran last: they alternate from "new" on (not "new" x3 first, not FIFO).
        Assert.Equal(["new", "old", "new", "old", "new", "old"], order);
    }

    [Fact]
    public async Task HigherPriorityFirstThenRoundRobinThenFifo()
    {
        var runner = new HoldingRunner();
        await using var queue = new JobQueue(runner, 1, NullLogger.Instance);
        var order = await RunHeldAsync(queue, runner, "h",
            ("a", 0), ("a", 0), ("b", 0), ("c", 0), ("b", 5), ("c", 0));
        // b's priority-5 job first; then a and c (never served, FIFO between them), then b (served longest ago), a, c.
        Assert.Equal(["b", "a", "c", "b", "a", "c"], order);
    }
}
