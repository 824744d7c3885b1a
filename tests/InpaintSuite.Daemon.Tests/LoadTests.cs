using System.Globalization;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Daemon.Tests;

/// <summary>
/// Issue 8 "Load": 40 concurrent clients (20 C#, 20 python3-grpcio threads, each its own channel) each submit
/// 5 jobs to a real daemon running the content-aware engine; 20% of the jobs are cancelled (CancelJob or a
/// dropped stream, when queued, when started, or after a random delay). Figures go to the test output;
/// tests/bench/load.sh runs the same scenario larger, beside a one-client baseline.
/// </summary>
[Collection(LoadCollection.Name)]
public sealed class LoadTests(ITestOutputHelper output)
{
    /// <summary>Bound on the total time the worker was free while jobs waited, over the measured run (about 175 hand-overs; typically 4-5 ms).</summary>
    public static readonly TimeSpan IdleWhileWaitingBound = TimeSpan.FromMilliseconds(50);

    /// <summary>Bound on the longest single such gap (typically well under 1 ms; a GC pause or preemption can reach a few ms).</summary>
    public static readonly TimeSpan LongestIdleWhileWaitingBound = TimeSpan.FromMilliseconds(20);

    [Fact]
    public async Task FortyMixedClientsWithCancellationsGetEveryJobOnceWithTheRightResult()
    {
        PythonPeer.Require();
        const int seed = 20261122;
        var jobs = LoadScenario.CreateJobs(csharpClients: 20, pythonClients: 20, jobsPerClient: 5, cancelFraction: 0.2, seed: seed);
        Assert.Equal(40, jobs.Count(j => j.Cancel != CancelPlan.None));

        await using var engines = EngineSetup.Create(null);
        var inProcess = await LoadScenario.ComputeExpectedAsync(jobs, engines.Runner);
        // Every job's expected result is distinct, so a result handed to the wrong call cannot pass.
        Assert.Equal(jobs.Count, jobs.Select(j => j.ExpectedHash).Distinct().Count());

        await using var d = await TestDaemon.StartAsync(o =>
        {
            o.Runner = engines.Runner;
            o.Catalog = engines.Catalog;
            o.BridgePort = -1;
            o.Workers = 1;
        });
        var report = await LoadScenario.RunAsync(d.Host, jobs, TestPaths.DebianPython,
            Path.Combine(TestPaths.RepoRoot, "tests", "interop", "load_peer.py"), TimeSpan.FromSeconds(120));

        // The engine is deterministic: the same jobs again in-process give the same bytes.
        var again = jobs.Select(j => new LoadJob
        {
            Client = j.Client, Index = j.Index, ClientName = j.ClientName, Width = j.Width, Height = j.Height,
            Image = j.Image, Mask = j.Mask, Seed = j.Seed, Cancel = j.Cancel, DelayMs = j.DelayMs,
        }).ToList();
        await LoadScenario.ComputeExpectedAsync(again, engines.Runner);
        Assert.Equal(jobs.Select(j => j.ExpectedHash), again.Select(j => j.ExpectedHash));

        output.WriteLine(report.Summary("40 clients x 5 jobs, 20% cancelled, 1 worker, content-aware 64..128 px"));
        // Throughput against the raw engine and a one-client baseline is the bench's job (tests/bench/load.sh): here the
        // in-process pass runs under xunit's synchronization context and is no fair baseline.
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"expected results computed in-process in {inProcess.TotalSeconds:F2} s (cold), and again identical (deterministic)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"warm-up before the measured window: {report.WarmUp!.Submitted} jobs, idle while jobs waited {report.WarmUp.IdleWhileWaiting.TotalMilliseconds:F2} ms (longest {report.WarmUp.LongestIdleWhileWaiting.TotalMilliseconds:F2} ms)"));
        var clientWaits = report.ClientQueueSeconds.Select(TimeSpan.FromSeconds).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"client-side queue wait (Result.timings) p50 {JobQueueStatistics.Percentile(clientWaits, 50).TotalMilliseconds:F1} ms, p99 {JobQueueStatistics.Percentile(clientWaits, 99).TotalMilliseconds:F1} ms"));

        foreach (var (id, r) in report.Daemon!.Ended.Where(e => e.Value.QueueWait != null).OrderByDescending(e => e.Value.QueueWait).Take(5))
        {
            var o = report.Observations.Single(x => x.JobId == id);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"long wait: {r.QueueWait!.Value.TotalMilliseconds:F0} ms {r.Client} job {o.Index} {o.Status} plan {jobs.Single(j => j.Key == o.Key).Cancel}"));
        }
        Assert.True(report.Problems.Count == 0, string.Join("\n", report.Problems.Take(40)));
        var s = report.Statistics!;
        // Each job landed in exactly one bucket.
        Assert.Equal(jobs.Count, report.Completed + report.CancelledQueued + report.CancelledRunning + report.DroppedAfterResult);
        Assert.Equal(s.Submitted, s.Completed + s.CancelledQueued + s.CancelledRunning);
        Assert.True(report.Completed >= jobs.Count - 40, $"only {report.Completed} completed");
        // The queue was deep, so "cancel when queued" plans hit queued jobs; "when started" ones hit running jobs.
        Assert.True(s.CancelledQueued > 0, "no job was cancelled while queued");
        Assert.True(s.CancelledRunning > 0, "no job was cancelled while running");
        Assert.True(s.IdleWhileWaiting < IdleWhileWaitingBound,
            $"a worker was free for {s.IdleWhileWaiting.TotalMilliseconds:F1} ms (longest {s.LongestIdleWhileWaiting.TotalMilliseconds:F1} ms) while jobs waited");
        Assert.True(s.LongestIdleWhileWaiting < LongestIdleWhileWaitingBound,
            $"the worker sat idle for {s.LongestIdleWhileWaiting.TotalMilliseconds:F1} ms at once while jobs waited");
    }
}

/// <summary>The load test runs alone (after the parallel tests): its idle-while-waiting figure should not measure other tests' CPU use.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadCollection
{
    public const string Name = "load (runs alone)";
}
