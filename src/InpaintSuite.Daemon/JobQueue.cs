using System.Diagnostics;
using System.Threading.Channels;
using InpaintSuite.Pipelines;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon;

public enum JobState
{
    Queued,
    Running,
    Finished,
}

public enum JobCancelReason
{
    /// <summary>CancelJob(id) was called.</summary>
    Requested,
    /// <summary>The caller went away (stream reset, connection lost) or its deadline passed.</summary>
    CallEnded,
    /// <summary>The daemon is shutting down.</summary>
    Shutdown,
}

/// <summary>A job ended by cancellation; the reason decides the status the caller sees.</summary>
public sealed class JobCancelledException(string jobId, JobCancelReason reason)
    : OperationCanceledException(reason switch
    {
        JobCancelReason.Requested => $"job {jobId} was cancelled",
        JobCancelReason.Shutdown => $"job {jobId} was stopped: the daemon is shutting down",
        _ => $"job {jobId} was cancelled: the call ended",
    })
{
    public string JobId { get; } = jobId;

    public JobCancelReason Reason { get; } = reason;
}

/// <summary>A job whose engine failed unexpectedly; the inner exception has the detail (for the log, not the caller).</summary>
public sealed class JobFailedException(string jobId, Exception inner) : Exception($"job {jobId} failed: {inner.Message}", inner)
{
    public string JobId { get; } = jobId;
}

/// <summary>The daemon is stopping and takes no new jobs.</summary>
public sealed class DaemonUnavailableException(string message) : Exception(message);

/// <summary>The answer to a cancel: whether it cancelled, and the state the job was in ("queued", "running", "finished", "unknown").</summary>
public readonly record struct CancelOutcome(bool Cancelled, string PreviousState);

/// <summary>Where a job runs, decided once at submit: the concrete engine ("auto" resolved) and the device.</summary>
public readonly record struct ResolvedEngine(string Engine, string Device);

/// <summary>What a job reports, in order: queued (repeated as the position changes), started, progress..., completed.</summary>
public abstract record JobUpdate;

/// <summary>Waiting; 0 = next on its device.</summary>
public sealed record JobQueued(int Position) : JobUpdate;

public sealed record JobStarted(string Engine, string Device) : JobUpdate;

public sealed record JobProgress(OperationProgress Progress) : JobUpdate;

/// <summary>The last update of a successful job.</summary>
public sealed record JobCompleted(OperationResult Result, TimeSpan QueueTime, TimeSpan TotalTime) : JobUpdate;

/// <summary>A device and how many workers run jobs on it (one for a GPU: it is owned by one job at a time).</summary>
public sealed record JobDevice(string Name, int Workers)
{
    public const string Cpu = "cpu";
    public const string Gpu = "gpu";
}

/// <summary>One submitted operation and the stream of its events.</summary>
public sealed class Job
{
    private readonly Channel<JobUpdate> _events = Channel.CreateUnbounded<JobUpdate>(new UnboundedChannelOptions { SingleReader = true });
    private int _cancelReason = -1;

    internal Job(string id, OperationRequest request, int priority, string client, long sequence, int device, string deviceName)
    {
        DeviceIndex = device;
        Device = deviceName;
        Id = id;
        Request = request;
        Priority = priority;
        Client = client;
        Sequence = sequence;
    }

    public string Id { get; }

    /// <summary>The validated request, its engine resolved ("auto" replaced by the engine that runs it).</summary>
    public OperationRequest Request { get; }

    public string Engine => Request.Settings.Engine;

    public int Priority { get; }

    public string Client { get; }

    /// <summary>The device whose workers run this job ("cpu", "gpu").</summary>
    public string Device { get; }

    internal int DeviceIndex { get; }

    internal long Sequence { get; }

    public JobState State { get; internal set; }

    /// <summary>Events in order: queued (position, repeated as it changes), started, progress..., result. Errors end it with an exception.</summary>
    public ChannelReader<JobUpdate> Events => _events.Reader;

    internal ChannelWriter<JobUpdate> Writer => _events.Writer;

    internal CancellationTokenSource Cancellation { get; } = new();

    internal long EnqueuedAt { get; } = Stopwatch.GetTimestamp();

    internal long StartedAt { get; set; }

    /// <summary>Time from submission to a worker taking the job (null while queued, and for a job cancelled while queued).</summary>
    public TimeSpan? QueueWait { get; internal set; }

    internal int LastPosition { get; set; } = -1;

    /// <summary>Set when a cancellation was asked for; the first reason wins.</summary>
    public JobCancelReason? CancelReason => _cancelReason < 0 ? null : (JobCancelReason)_cancelReason;

    internal bool TrySetCancelReason(JobCancelReason reason) => Interlocked.CompareExchange(ref _cancelReason, (int)reason, -1) == -1;

    // Who ends a running job: the worker delivering a finished result, or a cancel. Exactly one wins, so a CancelJob
    // that answers "cancelled" is never followed by a result, and one that comes too late answers "finished".
    private const int Open = 0, SettledByResult = 1, SettledByCancel = 2;
    private int _settled;

    /// <summary>The worker has a result: true if it may deliver it (no cancel came first).</summary>
    internal bool TrySettleByResult() => Interlocked.CompareExchange(ref _settled, SettledByResult, Open) == Open;

    /// <summary>A cancel for a running job: false if the result was already being delivered.</summary>
    internal bool TrySettleByCancel() => Interlocked.CompareExchange(ref _settled, SettledByCancel, Open) != SettledByResult;

    internal void Emit(JobUpdate e) => _events.Writer.TryWrite(e);
}

/// <summary>
/// Jobs wait here and run on a fixed set of workers (one per device: the GPU is owned by one worker).
/// Order: higher priority first; within a priority round-robin across clients (the client whose last job started
/// longest ago, or never, goes first), then FIFO. Only the order of last starts counts, not how many jobs a client
/// ran, so a client's past use does not put it behind newcomers later.
/// A cancelled queued job leaves the queue; a running one has its token cancelled and frees the
/// worker when the runner returns.
/// </summary>
public sealed partial class JobQueue : IAsyncDisposable
{
    private readonly IOperationRunner _runner;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly List<Job> _waiting = [];
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    // Per client: the start counter at its last start (absent = never, or forgotten; see PruneClientsLocked).
    private readonly Dictionary<string, long> _lastStartPerClient = new(StringComparer.Ordinal);
    private long _startCounter;
    private readonly JobDevice[] _devices;
    private readonly Func<OperationRequest, ResolvedEngine>? _resolve;
    // Per device: a signal per waiting job, and how many of its workers are running a job.
    private readonly SemaphoreSlim[] _available;
    private readonly int[] _waitingOn, _runningOn;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly Queue<string> _finishedIds = new();
    private long _sequence;
    private int _running;
    private volatile bool _closed;

    /// <summary>One device ("cpu") with <paramref name="workers"/> workers.</summary>
    public JobQueue(IOperationRunner runner, int workers, ILogger logger)
        : this(runner, [new JobDevice(JobDevice.Cpu, workers)], null, RequestLimits.Default, logger)
    {
    }

    /// <summary>Devices chosen by name per request (the engine as given).</summary>
    public JobQueue(IOperationRunner runner, IReadOnlyList<JobDevice> devices, Func<OperationRequest, string>? deviceOf, ILogger logger)
        : this(runner, devices, deviceOf == null ? null : r => new ResolvedEngine(r.Settings.Engine, deviceOf(r)), RequestLimits.Default, logger)
    {
    }

    /// <summary>
    /// Workers per device: a job runs only on a worker of the device <paramref name="deviceOf"/> names for it (unknown
    /// names and null mean the first device). A GPU is one device with one worker, so it is owned by one job at a time,
    /// while CPU jobs (content-aware, fill) run beside it on the CPU device's workers instead of waiting behind it.
    /// </summary>
    /// <param name="runner">Runs a job's request.</param>
    /// <param name="devices">Devices and their worker counts; the first is the default.</param>
    /// <param name="resolve">Engine and device of a request, asked once at submit (null = the engine as given, the first device).
    /// It throws <see cref="EngineNotFoundException"/> / <see cref="InvalidRequestException"/> for a request no engine takes.</param>
    /// <param name="limits">What a request may ask for; checked at submit, so a bad request never queues.</param>
    /// <param name="logger">Job log.</param>
    public JobQueue(IOperationRunner runner, IReadOnlyList<JobDevice> devices, Func<OperationRequest, ResolvedEngine>? resolve, RequestLimits limits, ILogger logger)
    {
        Limits = limits;
        ArgumentOutOfRangeException.ThrowIfZero(devices.Count);
        _runner = runner;
        _logger = logger;
        _devices = [.. devices.Select(d => d with { Workers = Math.Max(1, d.Workers) })];
        _resolve = resolve;
        _available = [.. _devices.Select(_ => new SemaphoreSlim(0))];
        _waitingOn = new int[_devices.Length];
        _runningOn = new int[_devices.Length];
        var workers = new List<Task>();
        for (int d = 0; d < _devices.Length; d++)
            for (int i = 0; i < _devices[d].Workers; i++)
            {
                int device = d, worker = workers.Count;
                workers.Add(WorkerLoopAsync(worker, device));
            }
        _workers = [.. workers];
    }

    public IReadOnlyList<JobDevice> Devices => _devices;

    public RequestLimits Limits { get; }

    private int DeviceIndexOf(string name)
    {
        int i = Array.FindIndex(_devices, d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));
        return i < 0 ? 0 : i;
    }

    /// <summary>The request with its engine resolved (the only copy the job keeps).</summary>
    private static OperationRequest WithEngine(OperationRequest r, string engine) =>
        string.Equals(r.Settings.Engine, engine, StringComparison.Ordinal) ? r : new OperationRequest
        {
            Operation = r.Operation,
            Image = r.Image,
            Mask = r.Mask,
            Settings = r.Settings with { Engine = engine },
            MaskOptions = r.MaskOptions,
            Outpaint = r.Outpaint,
            DepthMap = r.DepthMap,
        };

    public int WaitingCount { get { lock (_gate) return _waiting.Count; } }

    public int RunningCount => Volatile.Read(ref _running);

    /// <summary>Raised when a worker becomes free (tests check the worker is never idle while jobs wait).</summary>
    public event Action<Job>? JobFinished;

    /// <summary>
    /// Validates <paramref name="request"/> against <see cref="Limits"/>, resolves its engine and device once and queues
    /// it. Throws <see cref="InvalidRequestException"/>, <see cref="EngineNotFoundException"/> or, while stopping,
    /// <see cref="DaemonUnavailableException"/>; read the job's updates with <see cref="WatchAsync"/>.
    /// </summary>
    public Job Submit(OperationRequest request, int priority = 0, string client = "")
    {
        if (_closed) throw new DaemonUnavailableException("the daemon is shutting down");
        Limits.Validate(request);
        var resolved = _resolve?.Invoke(request) ?? new ResolvedEngine(request.Settings.Engine, _devices[0].Name);
        request = WithEngine(request, resolved.Engine);
        Job job;
        int device = DeviceIndexOf(resolved.Device);
        lock (_gate)
        {
            var seq = ++_sequence;
            job = new Job(Guid.NewGuid().ToString("N")[..16], request, priority, client ?? "", seq, device, _devices[device].Name);
            _jobs[job.Id] = job;
            _waiting.Add(job);
            _waitingOn[device]++;
            OnSubmittedLocked();
            PublishPositionsLocked();
        }
        LogQueued(job.Id, request.Operation, job.Client, job.Priority);
        _available[device].Release();
        return job;
    }

    /// <summary>Cancels a queued or running job. Unknown and finished jobs are reported as such.</summary>
    public CancelOutcome Cancel(string jobId, JobCancelReason reason = JobCancelReason.Requested)
    {
        Job? job;
        bool leftQueue = false;
        lock (_gate)
        {
            if (!_jobs.TryGetValue(jobId ?? "", out job)) return new CancelOutcome(false, "unknown");
            if (job.State == JobState.Finished) return new CancelOutcome(false, "finished");
            if (job.State == JobState.Queued)
            {
                job.TrySetCancelReason(reason);
                _waiting.Remove(job);
                _waitingOn[job.DeviceIndex]--;
                OnCancelledQueuedLocked();
                job.State = JobState.Finished;
                RememberFinishedLocked(job);
                PublishPositionsLocked();
                job.Writer.TryComplete(new JobCancelledException(job.Id, job.CancelReason!.Value));
                leftQueue = true;
            }
        }
        if (leftQueue)
        {
            LogCancelled(job.Id, "queued", reason);
            RaiseJobEnded(job, JobOutcome.Cancelled);
            return new CancelOutcome(true, "queued");
        }
        // Running: the runner sees the token; the worker completes the stream when it returns.
        if (!job.TrySettleByCancel()) return new CancelOutcome(false, "finished");
        job.TrySetCancelReason(reason);
        try { job.Cancellation.Cancel(); } catch (ObjectDisposedException) { }
        LogCancelled(job.Id, "running", reason);
        return new CancelOutcome(true, "running");
    }

    private async Task WorkerLoopAsync(int worker, int device)
    {
        while (true)
        {
            try { await _available[device].WaitAsync(_stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            Job? job;
            lock (_gate)
            {
                job = NextLocked(device);
                if (job == null) continue;
                _waiting.Remove(job);
                _waitingOn[device]--;
                _runningOn[device]++;
                job.State = JobState.Running;
                job.StartedAt = Stopwatch.GetTimestamp();
                job.QueueWait = Stopwatch.GetElapsedTime(job.EnqueuedAt, job.StartedAt);
                _lastStartPerClient[job.Client] = ++_startCounter;
                if (_lastStartPerClient.Count > MaxRememberedClients) PruneClientsLocked();
                _running++;
                OnStartedLocked(job);
                PublishPositionsLocked();
            }
            await RunJobAsync(job, worker).ConfigureAwait(false);
        }
    }

    private async Task RunJobAsync(Job job, int worker)
    {
        LogStarted(job.Id, worker);
        job.Emit(new JobStarted(job.Engine, job.Device));
        Exception? failure = null;
        try
        {
            job.Cancellation.Token.ThrowIfCancellationRequested();
            var progress = new EventProgress(job);
            var result = await _runner.RunAsync(job.Request, progress, job.Cancellation.Token).ConfigureAwait(false);
            if (!job.TrySettleByResult())
            {
                // A cancel won the race with the engine's last step: the caller was told "cancelled", so it is.
                SpinWait.SpinUntil(() => job.CancelReason != null);
                throw new OperationCanceledException(job.Cancellation.Token);
            }
            var now = Stopwatch.GetTimestamp();
            job.Emit(new JobCompleted(result, job.QueueWait ?? TimeSpan.Zero, Stopwatch.GetElapsedTime(job.EnqueuedAt, now)));
        }
        catch (OperationCanceledException) when (job.CancelReason is { } reason)
        {
            failure = new JobCancelledException(job.Id, reason);
        }
        catch (Exception e) when (e is InvalidRequestException or EngineNotFoundException)
        {
            failure = e;
        }
        catch (Exception e)
        {
            failure = new JobFailedException(job.Id, e);
            LogFailed(job.Id, e);
        }
        var outcome = failure == null ? JobOutcome.Completed : failure is JobCancelledException ? JobOutcome.Cancelled : JobOutcome.Failed;
        lock (_gate)
        {
            job.State = JobState.Finished;
            _running--;
            _runningOn[job.DeviceIndex]--;
            RememberFinishedLocked(job);
            OnRunEndedLocked(job, outcome);
        }
        job.Writer.TryComplete(failure);
        job.Cancellation.Dispose();
        LogFinished(job.Id, failure == null ? "ok" : failure.GetType().Name, Stopwatch.GetElapsedTime(job.StartedAt).TotalMilliseconds);
        JobFinished?.Invoke(job);
        RaiseJobEnded(job, outcome);
    }

    private const int MaxRememberedClients = 1024;

    /// <summary>Client names are free-form: forget those with nothing waiting (they come back as never served, once).</summary>
    private void PruneClientsLocked()
    {
        var waiting = _waiting.Select(j => j.Client).ToHashSet(StringComparer.Ordinal);
        foreach (var name in _lastStartPerClient.Keys.Where(k => !waiting.Contains(k)).ToList()) _lastStartPerClient.Remove(name);
    }

    private Job? NextLocked(int device)
    {
        Job? best = null;
        long bestServed = 0;
        foreach (var j in _waiting)
        {
            if (j.DeviceIndex != device) continue;
            var served = _lastStartPerClient.GetValueOrDefault(j.Client);
            if (best == null || j.Priority > best.Priority
                || (j.Priority == best.Priority && (served < bestServed || (served == bestServed && j.Sequence < best.Sequence))))
            {
                best = j;
                bestServed = served;
            }
        }
        return best;
    }

    /// <summary>Sends each waiting job its position on its device (0 = next) when it changed.</summary>
    private void PublishPositionsLocked()
    {
        for (int d = 0; d < _devices.Length; d++)
        {
            if (_waitingOn[d] == 0) continue;
            int device = d;
            var ordered = _waiting
                .Where(j => j.DeviceIndex == device)
                .OrderByDescending(j => j.Priority)
                .ThenBy(j => _lastStartPerClient.GetValueOrDefault(j.Client))
                .ThenBy(j => j.Sequence)
                .ToList();
            for (int i = 0; i < ordered.Count; i++)
            {
                var j = ordered[i];
                if (j.LastPosition == i) continue;
                j.LastPosition = i;
                j.Emit(new JobQueued(i));
            }
        }
    }

    private void RememberFinishedLocked(Job job)
    {
        // Finished ids stay answerable ("finished") for a while; older ones are forgotten.
        _finishedIds.Enqueue(job.Id);
        while (_finishedIds.Count > 10_000) _jobs.Remove(_finishedIds.Dequeue());
    }

    /// <summary>Stops accepting jobs, cancels queued ones, gives running ones <paramref name="grace"/> to finish, then cancels them.</summary>
    public async Task ShutdownAsync(TimeSpan grace)
    {
        _closed = true;
        List<Job> queued, running;
        lock (_gate)
        {
            queued = [.. _waiting];
            running = _jobs.Values.Where(j => j.State == JobState.Running).ToList();
        }
        foreach (var j in queued) Cancel(j.Id, JobCancelReason.Shutdown);
        var done = Task.WhenAll(running.Select(j => j.Events.Completion.ContinueWith(_ => { }, TaskScheduler.Default)));
        if (await Task.WhenAny(done, Task.Delay(grace)).ConfigureAwait(false) != done)
        {
            foreach (var j in running) Cancel(j.Id, JobCancelReason.Shutdown);
            await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
        }
        LogStatistics(Statistics);
    }

    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _stop.Cancel();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        _stop.Dispose();
    }

    private sealed class EventProgress(Job job) : IProgress<OperationProgress>
    {
        public void Report(OperationProgress value) => job.Emit(new JobProgress(value));
    }

    /// <summary>
    /// The job's updates until it completes (then the sequence ends) or fails (then it throws: <see cref="JobCancelledException"/>,
    /// <see cref="JobFailedException"/>, <see cref="InvalidRequestException"/>...). <paramref name="callEnded"/> firing, or the
    /// consumer stopping early, cancels the job (reason CallEnded): a caller that goes away never leaves its job running.
    /// </summary>
    public async IAsyncEnumerable<JobUpdate> WatchAsync(Job job, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken callEnded = default)
    {
        var completed = false;
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await job.Events.WaitToReadAsync(callEnded).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (callEnded.IsCancellationRequested)
                {
                    Cancel(job.Id, JobCancelReason.CallEnded);
                    throw;
                }
                if (!more) break;
                while (job.Events.TryRead(out var e)) yield return e;
            }
            completed = true;
        }
        finally
        {
            if (!completed && job.State != JobState.Finished) Cancel(job.Id, JobCancelReason.CallEnded);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "job {JobId} queued: {Operation} from '{Client}' priority {Priority}")]
    private partial void LogQueued(string jobId, Operation operation, string client, int priority);

    [LoggerMessage(Level = LogLevel.Information, Message = "job {JobId} started on worker {Worker}")]
    private partial void LogStarted(string jobId, int worker);

    [LoggerMessage(Level = LogLevel.Information, Message = "job {JobId} finished ({Outcome}) after {Milliseconds:F0} ms")]
    private partial void LogFinished(string jobId, string outcome, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "job {JobId} cancelled while {State} ({Reason})")]
    private partial void LogCancelled(string jobId, string state, JobCancelReason reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "job {JobId} failed")]
    private partial void LogFailed(string jobId, Exception exception);
}
