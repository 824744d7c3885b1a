using System.Threading.Channels;
using InpaintSuite.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests;

/// <summary>
/// A cancel that meets an engine finishing its last step: exactly one side wins, and what CancelJob answered is what
/// the caller gets (never "cancelled" followed by a result, never "finished" followed by CANCELLED).
/// </summary>
public sealed class JobCancelRaceTests
{
    private static OperationRequest Request()
        => WireMapping.ToRequest(TestDaemon.Inpaint(), RequestLimits.From(1 << 24, 8));

    /// <summary>An engine that ignores its token once it is past the point of no return (like a last ONNX call finishing).</summary>
    private sealed class FinishingRunner : IOperationRunner
    {
        private readonly FakeRunner _inner = new() { Steps = 1 };
        public readonly TaskCompletionSource InLastStep = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Finish = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
        {
            var result = await _inner.RunAsync(request, progress, CancellationToken.None);
            InLastStep.TrySetResult();
            await Finish.Task; // the token is not observed here: the result comes back even if a cancel arrived
            return result;
        }
    }

    private static async Task<(bool GotResult, Exception? End)> DrainAsync(Job job)
    {
        bool result = false;
        try
        {
            await foreach (var e in job.Events.ReadAllAsync()) if (e is JobCompleted) result = true;
            return (result, null);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            return (result, e);
        }
    }

    [Fact]
    public async Task ACancelAcknowledgedWhileTheEngineReturnsItsResultEndsTheJobCancelled()
    {
        var runner = new FinishingRunner();
        await using var queue = new JobQueue(runner, 1, NullLogger.Instance);
        var outcomes = new List<JobOutcome>();
        queue.JobEnded += (_, o) => { lock (outcomes) outcomes.Add(o); };
        var job = queue.Submit(Request(), 0, "c");
        var drain = DrainAsync(job);
        await runner.InLastStep.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var answer = queue.Cancel(job.Id);
        runner.Finish.SetResult(); // the engine returns a finished result anyway
        var (gotResult, end) = await drain.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(answer.Cancelled);
        Assert.Equal("running", answer.PreviousState);
        Assert.False(gotResult, "CancelJob said cancelled, yet the result was delivered");
        Assert.IsType<JobCancelledException>(end);
        await WaitForAsync(() => { lock (outcomes) return outcomes.Count == 1; });
        Assert.Equal([JobOutcome.Cancelled], outcomes);
    }

    [Fact]
    public async Task ACancelAfterTheResultWasDeliveredAnswersFinished()
    {
        var runner = new FinishingRunner();
        await using var queue = new JobQueue(runner, 1, NullLogger.Instance);
        var job = queue.Submit(Request(), 0, "c");
        var drain = DrainAsync(job);
        await runner.InLastStep.Task.WaitAsync(TimeSpan.FromSeconds(10));
        runner.Finish.SetResult();
        var (gotResult, end) = await drain.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(gotResult);
        Assert.Null(end);

        var answer = queue.Cancel(job.Id);
        Assert.False(answer.Cancelled);
        Assert.Equal("finished", answer.PreviousState);
    }

    [Fact]
    public async Task ManyCancelsRacingResultsNeverDisagreeWithWhatTheCallerWasTold()
    {
        // Real timing, no gates: engines that return after a random few hundred microseconds, cancels at random moments.
        var runner = new FakeRunner { Steps = 1 };
        await using var queue = new JobQueue(runner, 1, NullLogger.Instance);
        var rng = new Random(11);
        int cancelledAnswers = 0, results = 0;
        // Delays from none to a few ms: short ones catch the job queued or running, long ones finished; how short is
        // short depends on the machine's load, so keep going (up to a cap) until both sides were seen often enough.
        for (int i = 0; i < 3000 && (cancelledAnswers < 20 || results < 20); i++)
        {
            var job = queue.Submit(Request(), 0, "c");
            var drain = DrainAsync(job);
            if (rng.Next(3) == 0) Thread.Sleep(rng.Next(0, 4)); else Thread.SpinWait(rng.Next(0, 20000));
            var answer = queue.Cancel(job.Id);
            var (gotResult, end) = await drain.WaitAsync(TimeSpan.FromSeconds(10));
            if (answer.Cancelled)
            {
                cancelledAnswers++;
                Assert.False(gotResult, $"job {i}: CancelJob answered cancelled ({answer.PreviousState}) but a result came");
                Assert.IsType<JobCancelledException>(end);
            }
            else
            {
                results++;
                Assert.Equal("finished", answer.PreviousState);
                Assert.True(gotResult, $"job {i}: CancelJob answered finished but no result came ({end?.Message})");
            }
        }
        Assert.True(cancelledAnswers > 0 && results > 0, $"the race was not exercised: {cancelledAnswers} cancelled, {results} finished");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition()) await Task.Delay(2, timeout.Token);
    }
}
