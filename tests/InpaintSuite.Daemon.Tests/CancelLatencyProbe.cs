using System.Collections.Concurrent;
using System.Diagnostics;
using InpaintSuite.Protocol;
using Grpc.Core;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests;

/// <summary>How a running job is cancelled.</summary>
public enum CancelMethod
{
    /// <summary>The CancelJob RPC with the job's id.</summary>
    CancelJobRpc,
    /// <summary>The client drops the stream (HTTP/2 reset).</summary>
    DropStream,
}

/// <summary>One cancel: from the client's cancel call to the daemon's worker being free (JobQueue.JobFinished).</summary>
public sealed record CancelSample(CancelMethod Method, double DelayMs, double LatencyMs, int RunningAfter, string ClientOutcome);

/// <summary>An uncancelled run: its length and the gaps between its progress events of one stage (steps or iterations).</summary>
public sealed record BaselineRun(double TotalMs, IReadOnlyList<double> StepMs)
{
    public double MedianStepMs => CancelLatencyProbe.Percentile(StepMs, 50);

    public double MaxStepMs => StepMs.Count == 0 ? 0 : StepMs.Max();
}

/// <summary>Wraps the daemon's runner and timestamps each job's progress reports as the engine makes them.</summary>
public sealed class StepTimingRunner(Pipelines.IOperationRunner inner) : Pipelines.IOperationRunner
{
    private readonly object _gate = new();
    private (long Start, long End, List<(long At, string Stage, int Step)> Marks) _last = (0, 0, []);

    private readonly ConcurrentQueue<long> _starts = new();

    /// <summary>When each job reached the runner (Stopwatch timestamps), in order.</summary>
    public IReadOnlyCollection<long> Starts => _starts;

    public async Task<Pipelines.OperationResult> RunAsync(Pipelines.OperationRequest request, IProgress<Pipelines.OperationProgress>? progress, CancellationToken cancellationToken)
    {
        var marks = new List<(long, string, int)>();
        long start = Stopwatch.GetTimestamp();
        _starts.Enqueue(start);
        try
        {
            return await inner.RunAsync(request, new Tap(progress, marks), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _last = (start, Stopwatch.GetTimestamp(), marks);
        }
    }

    /// <summary>The last finished job: engine run length and the gaps between consecutive reports of <paramref name="stage"/>.</summary>
    public BaselineRun Last(string stage)
    {
        lock (_gate)
        {
            var at = _last.Marks.Where(m => m.Stage == stage && m.Step > 0).Select(m => m.At).ToList();
            var gaps = at.Zip(at.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds).ToList();
            return new BaselineRun(Stopwatch.GetElapsedTime(_last.Start, _last.End).TotalMilliseconds, gaps);
        }
    }

    private sealed class Tap(IProgress<Pipelines.OperationProgress>? next, List<(long, string, int)> marks) : IProgress<Pipelines.OperationProgress>
    {
        public void Report(Pipelines.OperationProgress value)
        {
            lock (marks) marks.Add((Stopwatch.GetTimestamp(), value.Stage ?? "", value.Step));
            next?.Report(value);
        }
    }
}

/// <summary>
/// Measures cancellation latency through a real daemon over gRPC (shared by the daemon tests and the
/// cancel-latency bench tool). The worker-free time is taken on the daemon side from
/// <see cref="JobQueue.JobFinished"/>, which fires after the engine returned and the worker's slot was released.
/// </summary>
public sealed class CancelLatencyProbe : IDisposable
{
    private readonly DaemonHost _daemon;
    private readonly InpainterClient _client;
    private readonly StepTimingRunner _timing;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(long At, int Running)>> _finished = new(StringComparer.Ordinal);

    /// <param name="daemon">Started with <paramref name="timing"/> as its runner.</param>
    public CancelLatencyProbe(DaemonHost daemon, StepTimingRunner timing)
    {
        _daemon = daemon;
        _timing = timing;
        _client = new InpainterClient(daemon.GrpcAddress);
        daemon.Queue.JobFinished += OnFinished;
    }

    public InpainterClient Client => _client;

    private void OnFinished(Job job)
    {
        long at = Stopwatch.GetTimestamp();
        Finished(job.Id).TrySetResult((at, _daemon.Queue.RunningCount));
    }

    /// <summary>When the daemon's worker finished job <paramref name="jobId"/> (Stopwatch timestamp) and the jobs then running.</summary>
    public Task<(long At, int Running)> FinishedAsync(string jobId) => Finished(jobId).Task;

    private TaskCompletionSource<(long At, int Running)> Finished(string jobId) =>
        _finished.GetOrAdd(jobId, _ => new TaskCompletionSource<(long, int)>(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>
    /// Runs a job to its result; its length and the gaps between its <paramref name="stage"/> progress reports are
    /// taken on the engine's thread (client-side arrival times bunch up when the engine keeps both cores busy).
    /// </summary>
    public async Task<BaselineRun> RunToEndAsync(Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> start, string stage)
    {
        await InpainterClient.RunToResultAsync(start(_client, CancellationToken.None));
        return _timing.Last(stage);
    }

    /// <summary>
    /// Starts a job, waits until it runs, waits <paramref name="delay"/>, cancels it and times until the worker is free.
    /// Null when the job finished before the cancel reached it.
    /// </summary>
    public async Task<CancelSample?> CancelOnceAsync(Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> start, CancelMethod method, TimeSpan delay)
    {
        using var drop = new CancellationTokenSource();
        var id = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in start(_client, drop.Token).WithCancellation(drop.Token))
                {
                    if (e.JobId.Length > 0) id.TrySetResult(e.JobId);
                    if (e.EventCase == JobEvent.EventOneofCase.Started) running.TrySetResult();
                    if (e.EventCase == JobEvent.EventOneofCase.Result) return "result";
                }
                return "ended without result";
            }
            catch (RpcException g) { return g.StatusCode.ToString(); }
            catch (OperationCanceledException) { return "dropped"; }
            finally { id.TrySetException(new InvalidOperationException("the stream ended before a job id")); running.TrySetResult(); }
        });
        string jobId = await id.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await running.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var finished = Finished(jobId);
        await Task.Delay(delay);
        if (finished.Task.IsCompleted) { await reader; return null; }

        long t0 = Stopwatch.GetTimestamp();
        if (method == CancelMethod.CancelJobRpc)
        {
            var answer = await _client.CancelJobAsync(jobId);
            if (!answer.Cancelled) { await reader; return null; }
        }
        else drop.Cancel();
        var (at, runningAfter) = await finished.Task.WaitAsync(TimeSpan.FromSeconds(60));
        string outcome = await reader.WaitAsync(TimeSpan.FromSeconds(60));
        if (at < t0 || outcome == "result") return null; // finished on its own just before the cancel
        return new CancelSample(method, delay.TotalMilliseconds, Stopwatch.GetElapsedTime(t0, at).TotalMilliseconds, runningAfter, outcome);
    }

    /// <summary>
    /// Submits a long job and a short one behind it, cancels the first while it runs and returns the time from the
    /// worker being free to the second job reaching the runner (both daemon side), with the second job's outcome.
    /// </summary>
    public async Task<(double NextStartMs, string NextOutcome)> CancelThenNextAsync(
        Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> first,
        Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> second, TimeSpan delay)
    {
        var firstId = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstReader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in first(_client, CancellationToken.None))
                {
                    if (e.JobId.Length > 0) firstId.TrySetResult(e.JobId);
                    if (e.EventCase == JobEvent.EventOneofCase.Started) firstRunning.TrySetResult();
                }
                return "result";
            }
            catch (RpcException g) { return g.StatusCode.ToString(); }
        });
        string jobId = await firstId.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await firstRunning.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var secondQueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondReader = Task.Run(async () =>
        {
            try
            {
                await InpainterClient.RunToResultAsync(second(_client, CancellationToken.None), e =>
                {
                    if (e.EventCase == JobEvent.EventOneofCase.Queued) secondQueued.TrySetResult();
                });
                return "result";
            }
            catch (RpcException g) { return g.StatusCode.ToString(); }
        });
        await secondQueued.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Task.Delay(delay);
        var answer = await _client.CancelJobAsync(jobId);
        if (!answer.Cancelled) throw new InvalidOperationException($"the first job was {answer.PreviousState} before the cancel: make it longer");
        var (freeAt, _) = await Finished(jobId).Task.WaitAsync(TimeSpan.FromSeconds(60));
        string firstOutcome = await firstReader.WaitAsync(TimeSpan.FromSeconds(60));
        if (firstOutcome != nameof(StatusCode.Cancelled)) throw new InvalidOperationException($"the cancelled job ended with {firstOutcome}");
        string nextOutcome = await secondReader.WaitAsync(TimeSpan.FromSeconds(60));
        long secondStarted = _timing.Starts.Where(t => t >= freeAt).DefaultIfEmpty(long.MaxValue).Min();
        if (secondStarted == long.MaxValue) throw new InvalidOperationException("the queued job never reached the runner after the cancel");
        return (Stopwatch.GetElapsedTime(freeAt, secondStarted).TotalMilliseconds, nextOutcome);
    }

    /// <summary>Nearest-rank percentile (p in 0..100).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        int rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public void Dispose()
    {
        _daemon.Queue.JobFinished -= OnFinished;
        _client.Dispose();
    }
}

/// <summary>The jobs cancelled in the latency test and bench: tiny diffusion models and the content-aware engine.</summary>
public static class CancelScenarios
{
    public const string TinyInpaintModel = "tiny-sd-inpaint";
    public const string TinyBaseModel = "tiny-sd-base";

    /// <summary>A centred box covering <paramref name="fraction"/> of the image.</summary>
    public static Mask CentredHole(int width, int height, double fraction)
    {
        int bw = (int)Math.Round(width * Math.Sqrt(fraction)), bh = (int)Math.Round(height * Math.Sqrt(fraction));
        int x0 = (width - bw) / 2, y0 = (height - bh) / 2;
        var m = new byte[width * height];
        for (int y = y0; y < y0 + bh; y++) m.AsSpan(y * width + x0, bw).Fill(255);
        return new Mask { Width = (uint)width, Height = (uint)height, Data = Google.Protobuf.ByteString.CopyFrom(m) };
    }

    private static Image Wire(Imaging.RgbaImage photo, int width, int height) =>
        WireMapping.ToWire(Imaging.Resampler.Resize(photo, width, height, Imaging.ResampleFilter.Lanczos3));

    /// <summary>9-channel tiny inpainting model, <paramref name="steps"/> denoising steps with guidance (UNet batch 2).</summary>
    public static Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> TinyInpaint(Imaging.RgbaImage photo, int steps)
    {
        var r = new InpaintRequest
        {
            Image = Wire(photo, 160, 120),
            Mask = CentredHole(160, 120, 0.1),
            Settings = new GenerationSettings { Engine = TinyInpaintModel, Steps = (uint)steps, Seed = 3, Scheduler = "euler" },
            Client = "cancel-latency",
        };
        return (c, ct) => c.Inpaint(r, cancellationToken: ct);
    }

    /// <summary>4-channel tiny base model, img2img at strength 1 (every step denoises).</summary>
    public static Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> TinyImageToImage(Imaging.RgbaImage photo, int steps)
    {
        var r = new ImageToImageRequest
        {
            Image = Wire(photo, 160, 120),
            Settings = new GenerationSettings { Engine = TinyBaseModel, Steps = (uint)steps, Seed = 5, Strength = 1f, Scheduler = "euler" },
            Client = "cancel-latency",
        };
        return (c, ct) => c.ImageToImage(r, cancellationToken: ct);
    }

    /// <summary>Content-aware fill of a centred hole covering <paramref name="holeFraction"/> of a <paramref name="size"/>² photo.</summary>
    public static Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> ContentAware(Imaging.RgbaImage photo, int size, double holeFraction)
    {
        var r = ContentAwareRequest(photo, size, holeFraction);
        return (c, ct) => c.Inpaint(r, cancellationToken: ct);
    }

    public static InpaintRequest ContentAwareRequest(Imaging.RgbaImage photo, int size, double holeFraction) => new()
    {
        Image = Wire(photo, size, size),
        Mask = CentredHole(size, size, holeFraction),
        Settings = new GenerationSettings { Engine = "content-aware", Seed = 11 },
        Client = "cancel-latency",
    };

    /// <summary>
    /// The tiny base model inpainting with a content-aware pre-fill of a <paramref name="size"/>² region: the pre-fill
    /// (PatchMatch on the full-resolution region) is most of the job, so cancels land in it.
    /// </summary>
    public static Func<InpainterClient, CancellationToken, IAsyncEnumerable<JobEvent>> TinyBaseContentAwarePreFill(Imaging.RgbaImage photo, int size, int steps)
    {
        var r = new InpaintRequest
        {
            Image = Wire(photo, size, size),
            Mask = CentredHole(size, size, 0.1),
            Settings = new GenerationSettings { Engine = TinyBaseModel, Steps = (uint)steps, Seed = 13, Scheduler = "euler" },
            MaskOptions = new MaskOptions { FillMode = FillMode.ContentAware },
            Client = "cancel-latency",
        };
        return (c, ct) => c.Inpaint(r, cancellationToken: ct);
    }
}
