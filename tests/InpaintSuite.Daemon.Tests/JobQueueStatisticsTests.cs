using System.Collections.Concurrent;
using InpaintSuite.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests;

/// <summary>The queue's statistics: counters, queue waits, and the idle-while-jobs-wait meter the load test relies on.</summary>
public sealed class JobQueueStatisticsTests
{
    private static OperationRequest Request() => WireMapping.ToRequest(TestDaemon.Inpaint(), RequestLimits.From(1 << 24, 8));

    /// <summary>Holds the first job until released (or cancelled); later jobs pass straight through the fake runner.</summary>
    private sealed class GateRunner : IOperationRunner
    {
        private readonly FakeRunner _inner = new() { Steps = 1 };
        private int _calls;
        public readonly TaskCompletionSource FirstEntered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _calls) == 1)
            {
                FirstEntered.TrySetResult();
                await Release.Task.WaitAsync(cancellationToken);
            }
            return await _inner.RunAsync(request, progress, cancellationToken);
        }
    }

    private static async Task WaitEnded(ConcurrentDictionary<string, int> ended, int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (ended.Values.Sum() < count) await Task.Delay(2, timeout.Token);
    }

    [Fact]
    public async Task CountsOutcomesAndQueueWaitsAndEndsEachJobOnce()
    {
        var runner = new GateRunner();
        await using var queue = new JobQueue(runner, 1, NullLogger.Instance);
        var ended = new ConcurrentDictionary<string, int>();
        var outcomes = new ConcurrentDictionary<string, JobOutcome>();
        queue.JobEnded += (job, outcome) => { ended.AddOrUpdate(job.Id, 1, (_, n) => n + 1); outcomes[job.Id] = outcome; };

        var first = queue.Submit(Request(), 0, "a");
        await runner.FirstEntered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var rest = Enumerable.Range(0, 8).Select(i => queue.Submit(Request(), 0, i % 2 == 0 ? "a" : "b")).ToList();
        Assert.Equal("queued", queue.Cancel(rest[3].Id).PreviousState);
        Assert.Equal("running", queue.Cancel(first.Id).PreviousState);
        await WaitEnded(ended, 9);

        var s = queue.Statistics;
        Assert.Equal(9, s.Submitted);
        Assert.Equal(8, s.Started);
        Assert.Equal(7, s.Completed);
        Assert.Equal(1, s.CancelledQueued);
        Assert.Equal(1, s.CancelledRunning);
        Assert.Equal(0, s.Failed);
        Assert.Equal(s.Submitted, s.Ended);
        Assert.Equal(0, s.Waiting + s.Running);
        Assert.Equal(8, s.RecentQueueWaits.Count);
        Assert.All(ended.Values, n => Assert.Equal(1, n));
        Assert.Equal(JobOutcome.Cancelled, outcomes[first.Id]);
        Assert.Equal(JobOutcome.Cancelled, outcomes[rest[3].Id]);
        Assert.Null(rest[3].QueueWait);
        // The queued jobs waited at least as long as the gated first job ran; the daemon's p99 sees that.
        Assert.True(s.QueueWaitPercentile(99) >= rest[7].QueueWait, $"{s.QueueWaitPercentile(99)} < {rest[7].QueueWait}");
        Assert.True(s.WorkerBusy > TimeSpan.Zero);
        // The meter ran (each hand-over is an interval, however short) and stays within the wall time.
        Assert.InRange(s.IdleWhileWaitingIntervals, 1, 9);
        Assert.True(s.IdleWhileWaiting <= queue.Uptime);
        Assert.Equal("finished", queue.Cancel(first.Id).PreviousState);
        Assert.Equal(9, queue.Statistics.Ended);
    }

    [Fact]
    public async Task AWorkerSittingIdleWhileJobsWaitIsMeasured()
    {
        // A JobFinished handler runs on the worker after it freed itself: sleeping there leaves the waiting jobs
        // without a worker, which is exactly what the meter must catch (and the load test's bound would then fail).
        await using var queue = new JobQueue(new FakeRunner { Steps = 1 }, 1, NullLogger.Instance);
        var ended = new ConcurrentDictionary<string, int>();
        queue.JobEnded += (job, _) => ended.AddOrUpdate(job.Id, 1, (_, n) => n + 1);
        int finished = 0;
        queue.JobFinished += _ => { if (Interlocked.Increment(ref finished) <= 2) Thread.Sleep(60); };
        for (int i = 0; i < 4; i++) queue.Submit(Request(), 0, "c");
        await WaitEnded(ended, 4);

        var s = queue.Statistics;
        Assert.Equal(4, s.Completed);
        Assert.True(s.IdleWhileWaiting >= TimeSpan.FromMilliseconds(110), $"idle while waiting {s.IdleWhileWaiting}");
        Assert.True(s.LongestIdleWhileWaiting >= TimeSpan.FromMilliseconds(55), $"longest {s.LongestIdleWhileWaiting}");
        Assert.True(s.IdleWhileWaitingIntervals >= 2);
    }

    [Fact]
    public async Task NothingWaitingIsNotIdleAndTwoWorkersCountSeparately()
    {
        var runner = new GateRunner();
        await using var queue = new JobQueue(runner, 2, NullLogger.Instance);
        var ended = new ConcurrentDictionary<string, int>();
        queue.JobEnded += (job, _) => ended.AddOrUpdate(job.Id, 1, (_, n) => n + 1);
        queue.Submit(Request(), 0, "a");
        await runner.FirstEntered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // One worker is held and one is free with nothing to do: that is not idle-while-waiting.
        var held = queue.Statistics;
        await Task.Delay(100);
        Assert.Equal(held.IdleWhileWaitingIntervals, queue.Statistics.IdleWhileWaitingIntervals);
        Assert.Equal(held.IdleWhileWaiting, queue.Statistics.IdleWhileWaiting);
        // The second worker takes the next jobs while the first is held.
        for (int i = 0; i < 3; i++) queue.Submit(Request(), 0, "b");
        await WaitEnded(ended, 3);
        Assert.Equal(1, queue.Statistics.Running);
        runner.Release.SetResult();
        await WaitEnded(ended, 4);
        var s = queue.Statistics;
        Assert.Equal(2, s.Workers);
        Assert.Equal(4, s.Completed);
        Assert.Equal(4, s.RecentQueueWaits.Count);
    }

    [Fact]
    public void PercentileIsNearestRank()
    {
        var v = Enumerable.Range(1, 100).Select(i => TimeSpan.FromMilliseconds(i)).Reverse().ToList();
        Assert.Equal(TimeSpan.FromMilliseconds(50), JobQueueStatistics.Percentile(v, 50));
        Assert.Equal(TimeSpan.FromMilliseconds(99), JobQueueStatistics.Percentile(v, 99));
        Assert.Equal(TimeSpan.FromMilliseconds(100), JobQueueStatistics.Percentile(v, 100));
        Assert.Equal(TimeSpan.Zero, JobQueueStatistics.Percentile([], 50));
    }
}
