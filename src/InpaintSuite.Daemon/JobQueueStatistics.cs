using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon;

/// <summary>How a job ended (each job ends exactly once).</summary>
public enum JobOutcome
{
    /// <summary>The runner returned a result and it was sent on the job's stream.</summary>
    Completed,
    /// <summary>The runner threw (invalid request, engine error, ...).</summary>
    Failed,
    /// <summary>Cancelled while queued or while running (CancelJob, a dropped stream, a deadline, shutdown).</summary>
    Cancelled,
}

/// <summary>
/// A consistent snapshot of the queue's counters, taken under its lock:
/// <c>Submitted == Ended + Waiting + Running</c> always holds.
/// </summary>
public sealed record JobQueueStatistics
{
    public required int Workers { get; init; }
    public required long Submitted { get; init; }
    public required long Started { get; init; }
    public required long Completed { get; init; }
    public required long Failed { get; init; }
    /// <summary>Left the queue before a worker took them.</summary>
    public required long CancelledQueued { get; init; }
    /// <summary>Stopped by cancellation after a worker took them.</summary>
    public required long CancelledRunning { get; init; }
    public required int Waiting { get; init; }
    public required int Running { get; init; }

    /// <summary>
    /// Total time some worker was free while at least one job waited (with one worker: no job running,
    /// waiting list not empty). Measured from the queue's own state changes, so it includes the hand-over
    /// from a finishing job to the next one and a woken worker's dispatch latency. An open interval counts up to the snapshot.
    /// </summary>
    public required TimeSpan IdleWhileWaiting { get; init; }

    /// <summary>The longest single such interval.</summary>
    public required TimeSpan LongestIdleWhileWaiting { get; init; }

    /// <summary>How many such intervals there were.</summary>
    public required long IdleWhileWaitingIntervals { get; init; }

    /// <summary>Summed time workers spent on jobs (claimed to freed).</summary>
    public required TimeSpan WorkerBusy { get; init; }

    /// <summary>Queue waits (enqueue to start) of the most recently started jobs, oldest first (at most <see cref="JobQueue.QueueWaitWindow"/>).</summary>
    public required IReadOnlyList<TimeSpan> RecentQueueWaits { get; init; }

    public long Ended => Completed + Failed + CancelledQueued + CancelledRunning;

    /// <summary>Nearest-rank percentile (0..100) of <see cref="RecentQueueWaits"/>; zero when none.</summary>
    public TimeSpan QueueWaitPercentile(double percent) => Percentile(RecentQueueWaits, percent);

    public static TimeSpan Percentile(IReadOnlyList<TimeSpan> values, double percent)
    {
        if (values.Count == 0) return TimeSpan.Zero;
        var sorted = values.OrderBy(v => v).ToArray();
        int rank = (int)Math.Ceiling(percent / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

public sealed partial class JobQueue
{
    /// <summary>How many recent queue waits the statistics keep.</summary>
    public const int QueueWaitWindow = 4096;

    private readonly long _createdAt = Stopwatch.GetTimestamp();
    private readonly Queue<long> _recentWaitTicks = new();
    private long _submitted, _started, _completed, _failed, _cancelledQueued, _cancelledRunning;
    private long _idleSince; // 0 = not idle-while-waiting now
    private long _idleTotal, _idleLongest, _idleIntervals, _busyTotal;

    /// <summary>Raised once for every job when it ends, queued cancellations included (after the stream is completed).</summary>
    public event Action<Job, JobOutcome>? JobEnded;

    /// <summary>Counters, idle-while-waiting time and recent queue waits, read consistently.</summary>
    public JobQueueStatistics Statistics
    {
        get
        {
            lock (_gate)
            {
                var now = Stopwatch.GetTimestamp();
                long open = _idleSince != 0 ? now - _idleSince : 0;
                return new JobQueueStatistics
                {
                    Workers = _workers.Length,
                    Submitted = _submitted,
                    Started = _started,
                    Completed = _completed,
                    Failed = _failed,
                    CancelledQueued = _cancelledQueued,
                    CancelledRunning = _cancelledRunning,
                    Waiting = _waiting.Count,
                    Running = _running,
                    IdleWhileWaiting = Stopwatch.GetElapsedTime(0, _idleTotal + open),
                    LongestIdleWhileWaiting = Stopwatch.GetElapsedTime(0, Math.Max(_idleLongest, open)),
                    IdleWhileWaitingIntervals = _idleIntervals + (open > 0 ? 1 : 0),
                    WorkerBusy = Stopwatch.GetElapsedTime(0, _busyTotal),
                    RecentQueueWaits = _recentWaitTicks.Select(t => Stopwatch.GetElapsedTime(0, t)).ToArray(),
                };
            }
        }
    }

    /// <summary>
    /// Starts a new measuring window: counters, the idle meter and the queue waits restart from zero. Meant for a
    /// quiet queue (after a warm-up run, say); jobs in flight at the reset still end, so their end is counted
    /// without their submission.
    /// </summary>
    public void ResetStatistics()
    {
        lock (_gate)
        {
            _submitted = _started = _completed = _failed = _cancelledQueued = _cancelledRunning = 0;
            _idleTotal = _idleLongest = _idleIntervals = _busyTotal = 0;
            _idleSince = 0;
            _recentWaitTicks.Clear();
            TrackIdleLocked();
        }
    }

    private void OnSubmittedLocked()
    {
        _submitted++;
        TrackIdleLocked();
    }

    private void OnCancelledQueuedLocked()
    {
        _cancelledQueued++;
        TrackIdleLocked();
    }

    private void OnStartedLocked(Job job)
    {
        _started++;
        _recentWaitTicks.Enqueue(job.StartedAt - job.EnqueuedAt);
        while (_recentWaitTicks.Count > QueueWaitWindow) _recentWaitTicks.Dequeue();
        TrackIdleLocked();
    }

    private void OnRunEndedLocked(Job job, JobOutcome outcome)
    {
        switch (outcome)
        {
            case JobOutcome.Completed: _completed++; break;
            case JobOutcome.Failed: _failed++; break;
            default: _cancelledRunning++; break;
        }
        _busyTotal += Stopwatch.GetTimestamp() - job.StartedAt;
        TrackIdleLocked();
    }

    /// <summary>
    /// Called right after every change of the waiting list or the running count (under the lock, before anything
    /// else is done there): opens or closes an idle-while-waiting interval. A worker counts as running from the
    /// moment it takes a job off the waiting list until it has recorded the job's end.
    /// </summary>
    private void TrackIdleLocked()
    {
        // Idle while waiting: some device has jobs waiting and a free worker (another device's queue does not count).
        bool idle = false;
        for (int d = 0; d < _devices.Length && !idle; d++) idle = _waitingOn[d] > 0 && _runningOn[d] < _devices[d].Workers;
        if (idle && _idleSince == 0)
        {
            _idleSince = Stopwatch.GetTimestamp();
        }
        else if (!idle && _idleSince != 0)
        {
            long gap = Stopwatch.GetTimestamp() - _idleSince;
            _idleTotal += gap;
            _idleLongest = Math.Max(_idleLongest, gap);
            _idleIntervals++;
            _idleSince = 0;
        }
    }

    private void RaiseJobEnded(Job job, JobOutcome outcome) => JobEnded?.Invoke(job, outcome);

    private void LogStatistics(JobQueueStatistics s) => LogStatistics(s.Submitted, s.Completed, s.Failed, s.CancelledQueued, s.CancelledRunning,
        s.QueueWaitPercentile(50).TotalMilliseconds, s.QueueWaitPercentile(99).TotalMilliseconds,
        s.IdleWhileWaiting.TotalMilliseconds, s.LongestIdleWhileWaiting.TotalMilliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "jobs: {Submitted} submitted, {Completed} completed, {Failed} failed, {CancelledQueued} cancelled while queued, {CancelledRunning} while running; "
        + "queue wait p50 {P50Ms:F0} ms, p99 {P99Ms:F0} ms (recent jobs); a worker was idle while jobs waited for {IdleMs:F1} ms in all (longest {LongestIdleMs:F1} ms)")]
    private partial void LogStatistics(long submitted, long completed, long failed, long cancelledQueued, long cancelledRunning, double p50Ms, double p99Ms, double idleMs, double longestIdleMs);

    /// <summary>Time since the queue was created (for throughput figures).</summary>
    public TimeSpan Uptime => Stopwatch.GetElapsedTime(_createdAt);
}
