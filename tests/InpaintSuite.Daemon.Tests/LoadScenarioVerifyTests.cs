using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>The load test's checker itself: each kind of failure it exists for is reported.</summary>
public sealed class LoadScenarioVerifyTests
{
    private static (List<LoadJob> Jobs, List<LoadObservation> Seen, LoadScenario.DaemonRecorder Daemon) Clean()
    {
        var jobs = LoadScenario.CreateJobs(1, 0, 3, 0, seed: 5, minSize: 32, maxSize: 40);
        var seen = new List<LoadObservation>();
        var daemon = new LoadScenario.DaemonRecorder();
        foreach (var j in jobs)
        {
            j.ExpectedHash = "h" + j.Index;
            seen.Add(new LoadObservation { Client = j.Client, Index = j.Index, JobId = "id" + j.Index, Status = "OK", ResultHash = "h" + j.Index, OutsideMaskUnchanged = true });
            daemon.Ended["id" + j.Index] = new DaemonJobRecord { Outcome = JobOutcome.Completed, Started = true, Reason = null, Client = j.ClientName };
        }
        return (jobs, seen, daemon);
    }

    private static JobQueueStatistics Stats(long submitted = 3, long completed = 3, long cancelledQueued = 0) => new()
    {
        Workers = 1, Submitted = submitted, Started = completed, Completed = completed, Failed = 0,
        CancelledQueued = cancelledQueued, CancelledRunning = 0, Waiting = 0, Running = 0,
        IdleWhileWaiting = TimeSpan.Zero, LongestIdleWhileWaiting = TimeSpan.Zero, IdleWhileWaitingIntervals = 0,
        WorkerBusy = TimeSpan.Zero, RecentQueueWaits = [],
    };

    private static List<string> Problems(List<LoadJob> jobs, List<LoadObservation> seen, LoadScenario.DaemonRecorder daemon, JobQueueStatistics? stats = null) =>
        LoadScenario.Verify(jobs, seen, daemon, stats ?? Stats(), TimeSpan.FromSeconds(1)).Problems;

    [Fact]
    public void ACleanRunHasNoProblems()
    {
        var (jobs, seen, daemon) = Clean();
        Assert.Empty(Problems(jobs, seen, daemon));
    }

    [Fact]
    public void LostDuplicatedWrongAndMismatchedJobsAreReported()
    {
        var (jobs, seen, daemon) = Clean();
        seen.RemoveAt(2);
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("lost", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        seen[1].JobId = "id0";
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("duplicated", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        seen[0].ResultHash = "other";
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("differs from the in-process result", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        seen[0].OutsideMaskUnchanged = false;
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("outside the mask", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        daemon.Ended["id1"] = new DaemonJobRecord { Outcome = JobOutcome.Cancelled, Started = false, Reason = JobCancelReason.Requested, Client = "x" };
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("daemon says Cancelled", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        daemon.Duplicates.Add("id1");
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("more than once", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        daemon.Ended["ghost"] = new DaemonJobRecord { Outcome = JobOutcome.Completed, Started = true, Reason = null, Client = "x" };
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("no client submitted", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        seen[2].Status = "CANCELLED";
        Assert.Contains(Problems(jobs, seen, daemon), p => p.Contains("without a CancelJob", StringComparison.Ordinal));

        (jobs, seen, daemon) = Clean();
        Assert.Contains(Problems(jobs, seen, daemon, Stats(submitted: 4)), p => p.Contains("submissions", StringComparison.Ordinal));
    }
}
