using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using InpaintSuite.Pipelines;
using InpaintSuite.Protocol;
using Grpc.Core;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests;

/// <summary>What a load client does to one of its jobs besides waiting for the result.</summary>
public enum CancelPlan
{
    None,
    /// <summary>CancelJob(id) on the first "queued" event.</summary>
    CancelWhenQueued,
    /// <summary>CancelJob(id) on the "started" event.</summary>
    CancelWhenStarted,
    /// <summary>Reset the stream on the first "queued" event.</summary>
    DropWhenQueued,
    /// <summary>Reset the stream on the "started" event.</summary>
    DropWhenStarted,
    /// <summary>CancelJob(id) a random delay after the first event.</summary>
    CancelAfterDelay,
    /// <summary>Reset the stream a random delay after the first event.</summary>
    DropAfterDelay,
}

/// <summary>One planned job: inputs, the expected result's hash and what the client does to it.</summary>
public sealed class LoadJob
{
    public required int Client { get; init; }
    public required int Index { get; init; }
    public required string ClientName { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required byte[] Image { get; init; }
    public required byte[] Mask { get; init; }
    public required ulong Seed { get; init; }
    public required CancelPlan Cancel { get; init; }
    public required int DelayMs { get; init; }
    public bool Python { get; init; }

    /// <summary>SHA-256 (hex) of the result the same engine gives in-process (see <see cref="LoadScenario.ResultHash"/>).</summary>
    public string ExpectedHash { get; set; } = "";

    public string Key => $"{Client}/{Index}";

    public W.InpaintRequest ToWire() => new()
    {
        Image = new W.Image { Width = (uint)Width, Height = (uint)Height, Format = W.PixelFormat.Rgba8, Data = ByteString.CopyFrom(Image) },
        Mask = new W.Mask { Width = (uint)Width, Height = (uint)Height, Data = ByteString.CopyFrom(Mask) },
        Settings = new W.GenerationSettings { Engine = EngineNames.ContentAware, Seed = Seed },
        Client = ClientName,
    };
}

/// <summary>What a client saw for one job.</summary>
public sealed class LoadObservation
{
    public required int Client { get; init; }
    public required int Index { get; init; }
    public string JobId { get; set; } = "";
    /// <summary>OK, CANCELLED (status from the daemon), DROPPED (the client reset the stream), or another status name.</summary>
    public string Status { get; set; } = "";
    public string Details { get; set; } = "";
    public string? ResultHash { get; set; }
    public bool OutsideMaskUnchanged { get; set; }
    public double QueueSeconds { get; set; }
    /// <summary>previous_state of the CancelJob answer, when the plan called CancelJob.</summary>
    public string? CancelState { get; set; }
    public bool CancelAccepted { get; set; }
    public bool Python { get; init; }

    public string Key => $"{Client}/{Index}";
}

/// <summary>Daemon-side record of how each job ended (from <see cref="JobQueue.JobEnded"/>).</summary>
public sealed class DaemonJobRecord
{
    public required JobOutcome Outcome { get; init; }
    public required bool Started { get; init; }
    public required JobCancelReason? Reason { get; init; }
    public required string Client { get; init; }
    public TimeSpan? QueueWait { get; init; }
}

/// <summary>
/// The "daemon under load" scenario shared by LoadTests and the `load` bench tool: N C# clients (own channel each)
/// and M python3-grpcio clients (threads of one python process, own channel each) each submit their jobs one after
/// another to a real daemon running the content-aware engine; a planned share of jobs is cancelled
/// (CancelJob or a dropped stream, at queued / started / a random moment). <see cref="Verify"/> checks every job
/// against the in-process result and the daemon's own account.
/// </summary>
public static class LoadScenario
{
    /// <summary>Deadline of each call: a job the daemon never ends shows up as DEADLINE_EXCEEDED instead of a hang.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(60);

    public static readonly CancelPlan[] CancelKinds =
    [
        CancelPlan.CancelWhenQueued, CancelPlan.CancelWhenStarted, CancelPlan.DropWhenQueued,
        CancelPlan.DropWhenStarted, CancelPlan.CancelAfterDelay, CancelPlan.DropAfterDelay,
    ];

    /// <summary>Jobs for <paramref name="csharpClients"/> + <paramref name="pythonClients"/> clients; exactly round(fraction x total) get a cancel plan.</summary>
    public static List<LoadJob> CreateJobs(int csharpClients, int pythonClients, int jobsPerClient, double cancelFraction, int seed,
        int minSize = 64, int maxSize = 128, string? clientPrefix = null)
    {
        var rng = new Random(seed);
        int clients = csharpClients + pythonClients;
        int total = clients * jobsPerClient;
        int cancels = (int)Math.Round(cancelFraction * total);
        var plans = new CancelPlan[total];
        for (int i = 0; i < cancels; i++) plans[i] = CancelKinds[i % CancelKinds.Length];
        rng.Shuffle(plans);
        var jobs = new List<LoadJob>(total);
        for (int c = 0; c < clients; c++)
        {
            bool python = c >= csharpClients;
            for (int j = 0; j < jobsPerClient; j++)
            {
                int w = rng.Next(minSize, maxSize + 1), h = rng.Next(minSize, maxSize + 1);
                var (image, mask) = MakeInputs(rng, w, h);
                jobs.Add(new LoadJob
                {
                    Client = c,
                    Index = j,
                    ClientName = (clientPrefix ?? (python ? "py-" : "cs-")) + c.ToString(CultureInfo.InvariantCulture),
                    Width = w,
                    Height = h,
                    Image = image,
                    Mask = mask,
                    Seed = (ulong)rng.NextInt64(0, 1L << 40),
                    Cancel = plans[c * jobsPerClient + j],
                    DelayMs = rng.Next(0, 40),
                    Python = python,
                });
            }
        }
        return jobs;
    }

    /// <summary>A smooth gradient with stripes and noise (something PatchMatch can copy), and one or two small boxes to fill.</summary>
    private static (byte[] Image, byte[] Mask) MakeInputs(Random rng, int w, int h)
    {
        var img = new byte[w * h * 4];
        Span<int> c0 = [rng.Next(256), rng.Next(256), rng.Next(256)];
        Span<int> c1 = [rng.Next(256), rng.Next(256), rng.Next(256)];
        int period = rng.Next(5, 17);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double t = (x + 0.5 * y) / (w + 0.5 * h);
                int stripe = ((x / period + y / period) & 1) * 28;
                for (int ch = 0; ch < 3; ch++)
                    img[(y * w + x) * 4 + ch] = (byte)Math.Clamp((int)(c0[ch] * (1 - t) + c1[ch] * t) + stripe + rng.Next(-6, 7), 0, 255);
                img[(y * w + x) * 4 + 3] = 255;
            }
        var mask = new byte[w * h];
        int boxes = rng.Next(1, 3);
        for (int b = 0; b < boxes; b++)
        {
            int bw = rng.Next(w / 10, w / 5 + 1), bh = rng.Next(h / 10, h / 5 + 1);
            int bx = rng.Next(2, w - bw - 2), by = rng.Next(2, h - bh - 2);
            for (int y = by; y < by + bh; y++) mask.AsSpan(y * w + bx, bw).Fill(255);
        }
        return (img, mask);
    }

    /// <summary>
    /// SHA-256 over each patch's x, y, width, height, format (little-endian 32-bit) and pixel bytes; the python client
    /// computes the same (tests/interop/load_peer.py).
    /// </summary>
    public static string ResultHash(W.Result result)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> head = stackalloc byte[20];
        foreach (var p in result.Patches)
        {
            BitConverter.TryWriteBytes(head[0..], p.X);
            BitConverter.TryWriteBytes(head[4..], p.Y);
            BitConverter.TryWriteBytes(head[8..], p.Image.Width);
            BitConverter.TryWriteBytes(head[12..], p.Image.Height);
            BitConverter.TryWriteBytes(head[16..], (uint)p.Image.Format);
            sha.AppendData(head);
            sha.AppendData(p.Image.Data.Span);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// True when compositing the patches over the input leaves every unmasked pixel byte-identical: each patch
    /// is RGBA8, inside the canvas, and its blend weight (alpha) is 0 wherever the mask is 0. Also requires some change.
    /// </summary>
    public static bool OutsideMaskUnchanged(W.Result result, LoadJob job)
    {
        bool changed = false;
        foreach (var p in result.Patches)
        {
            int pw = (int)p.Image.Width, ph = (int)p.Image.Height;
            if (p.Image.Format != W.PixelFormat.Rgba8 || p.X < 0 || p.Y < 0 || p.X + pw > job.Width || p.Y + ph > job.Height) return false;
            var data = p.Image.Data.Span;
            if (data.Length != pw * ph * 4) return false;
            for (int y = 0; y < ph; y++)
                for (int x = 0; x < pw; x++)
                {
                    byte a = data[(y * pw + x) * 4 + 3];
                    if (a != 0) changed = true;
                    if (a != 0 && job.Mask[(p.Y + y) * job.Width + p.X + x] == 0) return false;
                }
        }
        return changed;
    }

    /// <summary>Runs every job in-process through <paramref name="runner"/> (same conversions as the daemon), sets <see cref="LoadJob.ExpectedHash"/>; returns the time spent in the runner.</summary>
    public static async Task<TimeSpan> ComputeExpectedAsync(IReadOnlyList<LoadJob> jobs, IOperationRunner runner)
    {
        var limits = RequestLimits.From(8192L * 8192, 8);
        var engine = TimeSpan.Zero;
        foreach (var job in jobs)
        {
            var request = WireMapping.ToRequest(job.ToWire(), limits);
            long t0 = Stopwatch.GetTimestamp();
            var result = await runner.RunAsync(request, null, CancellationToken.None);
            engine += Stopwatch.GetElapsedTime(t0);
            var wire = WireMapping.ToWire(result, W.PixelFormat.Rgba8, TimeSpan.Zero, TimeSpan.Zero);
            if (!OutsideMaskUnchanged(wire, job)) throw new InvalidOperationException($"in-process result of job {job.Key} changes pixels outside its mask");
            job.ExpectedHash = ResultHash(wire);
        }
        return engine;
    }

    /// <summary>One C# client: its own channel, its jobs one after another.</summary>
    public static async Task<List<LoadObservation>> RunCsharpClientAsync(Uri address, IReadOnlyList<LoadJob> jobs)
    {
        using var client = new InpainterClient(address);
        var list = new List<LoadObservation>(jobs.Count);
        foreach (var job in jobs) list.Add(await RunCsharpJobAsync(client, job));
        return list;
    }

    private static async Task<LoadObservation> RunCsharpJobAsync(InpainterClient client, LoadJob job)
    {
        var obs = new LoadObservation { Client = job.Client, Index = job.Index };
        using var drop = new CancellationTokenSource();
        Task? delayed = null;
        bool acted = false;

        async Task CancelByIdAsync()
        {
            var r = await client.CancelJobAsync(obs.JobId);
            obs.CancelState = r.PreviousState;
            obs.CancelAccepted = r.Cancelled;
        }

        try
        {
            await foreach (var e in client.Inpaint(job.ToWire(), CallDeadline, drop.Token))
            {
                if (obs.JobId.Length == 0)
                {
                    obs.JobId = e.JobId;
                    if (job.Cancel == CancelPlan.CancelAfterDelay)
                        delayed = Task.Run(async () => { await Task.Delay(job.DelayMs); await CancelByIdAsync(); });
                    else if (job.Cancel == CancelPlan.DropAfterDelay)
                        delayed = Task.Run(async () => { await Task.Delay(job.DelayMs); drop.Cancel(); });
                }
                switch (e.EventCase)
                {
                    case W.JobEvent.EventOneofCase.Queued when !acted && job.Cancel == CancelPlan.CancelWhenQueued:
                    case W.JobEvent.EventOneofCase.Started when !acted && job.Cancel == CancelPlan.CancelWhenStarted:
                        acted = true;
                        await CancelByIdAsync();
                        break;
                    case W.JobEvent.EventOneofCase.Queued when !acted && job.Cancel == CancelPlan.DropWhenQueued:
                    case W.JobEvent.EventOneofCase.Started when !acted && job.Cancel == CancelPlan.DropWhenStarted:
                        acted = true;
                        drop.Cancel();
                        break;
                    case W.JobEvent.EventOneofCase.Result:
                        obs.ResultHash = ResultHash(e.Result);
                        obs.OutsideMaskUnchanged = OutsideMaskUnchanged(e.Result, job);
                        obs.QueueSeconds = e.Result.Timings?.QueueSeconds ?? 0;
                        break;
                }
            }
            obs.Status = obs.ResultHash != null ? "OK" : "NO_RESULT";
        }
        catch (OperationCanceledException) when (drop.IsCancellationRequested)
        {
            obs.Status = "DROPPED";
        }
        catch (RpcException g)
        {
            obs.Status = StatusName(g.StatusCode);
            obs.Details = g.Status.Detail;
        }
        if (delayed != null) await delayed;
        return obs;
    }

    private static string StatusName(StatusCode code)
    {
        var name = code.ToString();
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i])) sb.Append('_');
            sb.Append(char.ToUpperInvariant(name[i]));
        }
        return sb.ToString();
    }

    /// <summary>
    /// The python3-grpcio clients: one process, one thread and one channel per client. Starts it, waits until every
    /// channel is connected (so the clients start together), and returns a handle whose <see cref="PythonClients.Go"/> releases them.
    /// </summary>
    public static PythonClients StartPython(string python, string script, Uri address, IReadOnlyList<LoadJob> jobs)
    {
        var spec = Path.Combine(Path.GetTempPath(), $"inpaintsuite-load-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        var clients = jobs.GroupBy(j => j.Client).Select(g => new
        {
            client = g.Key,
            name = g.First().ClientName,
            jobs = g.OrderBy(j => j.Index).Select(j => new
            {
                index = j.Index,
                width = j.Width,
                height = j.Height,
                image = Convert.ToBase64String(j.Image),
                mask = Convert.ToBase64String(j.Mask),
                seed = j.Seed,
                cancel = j.Cancel.ToString(),
                delay_ms = j.DelayMs,
            }).ToArray(),
        }).ToArray();
        File.WriteAllText(spec, JsonSerializer.Serialize(new { address = $"{address.Host}:{address.Port}", clients }));
        return new PythonClients(python, script, spec);
    }

    public sealed class PythonClients : IDisposable
    {
        private readonly Process _process;
        private readonly string _spec;
        private readonly Task<string> _stdout;
        private readonly StringBuilder _stderr = new();

        internal PythonClients(string python, string script, string spec)
        {
            _spec = spec;
            var psi = new ProcessStartInfo(python)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(spec);
            _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + python);
            _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
            _process.BeginErrorReadLine();
            var first = _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
            if (first != "READY") throw new InvalidOperationException($"load_peer.py did not get ready: '{first}' {Stderr}");
            _stdout = _process.StandardOutput.ReadToEndAsync();
        }

        public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

        /// <summary>Starts the python clients.</summary>
        public void Go()
        {
            _process.StandardInput.WriteLine("GO");
            _process.StandardInput.Flush();
        }

        /// <summary>Waits for the python clients to finish; their observations.</summary>
        public async Task<List<LoadObservation>> ResultsAsync(TimeSpan timeout)
        {
            var text = await _stdout.WaitAsync(timeout);
            await _process.WaitForExitAsync().WaitAsync(timeout);
            if (_process.ExitCode != 0) throw new InvalidOperationException($"load_peer.py exited {_process.ExitCode}: {Stderr}");
            var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
            var list = new List<LoadObservation>();
            foreach (var e in JsonDocument.Parse(line).RootElement.GetProperty("jobs").EnumerateArray())
            {
                list.Add(new LoadObservation
                {
                    Client = e.GetProperty("client").GetInt32(),
                    Index = e.GetProperty("index").GetInt32(),
                    JobId = e.GetProperty("job_id").GetString() ?? "",
                    Status = e.GetProperty("status").GetString() ?? "",
                    Details = e.GetProperty("details").GetString() ?? "",
                    ResultHash = e.GetProperty("sha").GetString(),
                    OutsideMaskUnchanged = e.GetProperty("outside_ok").GetBoolean(),
                    QueueSeconds = e.GetProperty("queue_seconds").GetDouble(),
                    CancelState = e.GetProperty("cancel_state").GetString(),
                    CancelAccepted = e.GetProperty("cancel_ok").GetBoolean(),
                    Python = true,
                });
            }
            return list;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException) { }
            _process.Dispose();
            try { File.Delete(_spec); } catch (IOException) { }
        }
    }

    /// <summary>Records every job's end on the daemon side; a second end of the same job is kept as a duplicate.</summary>
    public sealed class DaemonRecorder
    {
        public ConcurrentDictionary<string, DaemonJobRecord> Ended { get; } = new(StringComparer.Ordinal);
        public ConcurrentBag<string> Duplicates { get; } = [];

        public void Attach(JobQueue queue) => queue.JobEnded += (job, outcome) =>
        {
            var record = new DaemonJobRecord { Outcome = outcome, Started = job.QueueWait != null, Reason = job.CancelReason, Client = job.Client, QueueWait = job.QueueWait };
            if (!Ended.TryAdd(job.Id, record)) Duplicates.Add(job.Id);
        };
    }

    /// <summary>The figures and the problems found in one run.</summary>
    public sealed class Report
    {
        public List<string> Problems { get; } = [];
        public int Jobs { get; set; }
        public int Completed { get; set; }
        public int CancelledQueued { get; set; }
        public int CancelledRunning { get; set; }
        /// <summary>Planned cancels whose job had already finished (the client got its correct result or had dropped it).</summary>
        public int CancelTooLate { get; set; }
        /// <summary>CancelJob answered cancelled=true for a job whose engine had already finished (the result was delivered).</summary>
        public int CancelAcceptedButCompleted { get; set; }
        public int DroppedAfterResult { get; set; }
        public TimeSpan Wall { get; set; }
        public JobQueueStatistics? Statistics { get; set; }
        /// <summary>The warm-up run before the measured window (cold JIT).</summary>
        public JobQueueStatistics? WarmUp { get; set; }
        public List<double> ClientQueueSeconds { get; } = [];
        public DaemonRecorder? Daemon { get; set; }
        public IReadOnlyList<LoadObservation> Observations { get; set; } = [];

        public double JobsPerSecond => Jobs / Wall.TotalSeconds;
        public double CompletedPerSecond => Completed / Wall.TotalSeconds;

        public string Summary(string label)
        {
            var s = Statistics;
            return string.Create(CultureInfo.InvariantCulture,
                $"{label}: {Jobs} jobs in {Wall.TotalSeconds:F2} s = {JobsPerSecond:F1} jobs/s ({Completed} completed = {CompletedPerSecond:F1}/s); "
                + $"queue wait p50 {s?.QueueWaitPercentile(50).TotalMilliseconds:F1} ms, p99 {s?.QueueWaitPercentile(99).TotalMilliseconds:F1} ms (daemon, {s?.RecentQueueWaits.Count} started jobs); "
                + $"idle while jobs waited {s?.IdleWhileWaiting.TotalMilliseconds:F2} ms total over {s?.IdleWhileWaitingIntervals} intervals, longest {s?.LongestIdleWhileWaiting.TotalMilliseconds:F2} ms; "
                + $"worker busy {s?.WorkerBusy.TotalSeconds / Wall.TotalSeconds * 100:F0}% of wall; "
                + $"cancels: {CancelledQueued} while queued, {CancelledRunning} while running, {CancelTooLate} too late (job already done; {CancelAcceptedButCompleted} of them acknowledged as cancelled), {DroppedAfterResult} dropped after the result");
        }
    }

    /// <summary>Checks every observation against the plan, the in-process results and the daemon's records.</summary>
    public static Report Verify(IReadOnlyList<LoadJob> jobs, IReadOnlyList<LoadObservation> observed, DaemonRecorder daemon, JobQueueStatistics stats, TimeSpan wall)
    {
        var report = new Report { Jobs = jobs.Count, Wall = wall, Statistics = stats, Daemon = daemon, Observations = observed };
        var p = report.Problems;
        var byKey = observed.GroupBy(o => o.Key).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var job in jobs)
        {
            if (!byKey.TryGetValue(job.Key, out var list)) { p.Add($"job {job.Key}: no client observation (lost)"); continue; }
            if (list.Count != 1) { p.Add($"job {job.Key}: {list.Count} observations"); continue; }
            var o = list[0];
            if (o.JobId.Length == 0) { p.Add($"job {job.Key}: no job id seen ({o.Status} {o.Details})"); continue; }
            if (!daemon.Ended.TryGetValue(o.JobId, out var d)) { p.Add($"job {job.Key} ({o.JobId}): the daemon never ended it"); continue; }
            switch (o.Status)
            {
                case "OK":
                    if (o.ResultHash != job.ExpectedHash) p.Add($"job {job.Key} ({o.JobId}): result differs from the in-process result");
                    if (!o.OutsideMaskUnchanged) p.Add($"job {job.Key} ({o.JobId}): result changes pixels outside the mask");
                    if (d.Outcome != JobOutcome.Completed) p.Add($"job {job.Key} ({o.JobId}): client got a result, daemon says {d.Outcome}");
                    report.Completed++;
                    report.ClientQueueSeconds.Add(o.QueueSeconds);
                    if (job.Cancel != CancelPlan.None)
                    {
                        report.CancelTooLate++;
                        if (o.CancelAccepted)
                        {
                            report.CancelAcceptedButCompleted++;
                            p.Add($"job {job.Key} ({o.JobId}): CancelJob answered cancelled ({o.CancelState}) but the result was delivered");
                        }
                    }
                    break;
                case "CANCELLED":
                    if (job.Cancel is not (CancelPlan.CancelWhenQueued or CancelPlan.CancelWhenStarted or CancelPlan.CancelAfterDelay))
                        p.Add($"job {job.Key} ({o.JobId}): CANCELLED without a CancelJob ({job.Cancel})");
                    if (!o.CancelAccepted) p.Add($"job {job.Key} ({o.JobId}): CANCELLED but CancelJob said {o.CancelState}");
                    if (d.Outcome != JobOutcome.Cancelled || d.Reason != JobCancelReason.Requested)
                        p.Add($"job {job.Key} ({o.JobId}): client saw CANCELLED, daemon says {d.Outcome} ({d.Reason})");
                    if (o.CancelState == "queued" && d.Started) p.Add($"job {job.Key} ({o.JobId}): cancelled while queued but it started");
                    if (d.Started) report.CancelledRunning++; else report.CancelledQueued++;
                    break;
                case "DROPPED":
                    if (job.Cancel is not (CancelPlan.DropWhenQueued or CancelPlan.DropWhenStarted or CancelPlan.DropAfterDelay))
                        p.Add($"job {job.Key} ({o.JobId}): dropped without a plan to ({job.Cancel})");
                    if (d.Outcome == JobOutcome.Cancelled)
                    {
                        if (d.Reason != JobCancelReason.CallEnded) p.Add($"job {job.Key} ({o.JobId}): dropped stream, daemon cancelled it for {d.Reason}");
                        if (d.Started) report.CancelledRunning++; else report.CancelledQueued++;
                    }
                    else if (d.Outcome == JobOutcome.Completed)
                    {
                        report.CancelTooLate++;
                        report.DroppedAfterResult++;
                    }
                    else p.Add($"job {job.Key} ({o.JobId}): dropped stream, daemon says {d.Outcome}");
                    break;
                default:
                    p.Add($"job {job.Key} ({o.JobId}): status {o.Status} {o.Details}");
                    break;
            }
            if (job.Cancel == CancelPlan.None && o.Status != "OK") p.Add($"job {job.Key} ({o.JobId}): not cancelled by its client but ended {o.Status}");
        }
        foreach (var extra in observed.Where(o => !jobs.Any(j => j.Key == o.Key))) p.Add($"observation {extra.Key} matches no planned job");
        var ids = observed.Where(o => o.JobId.Length > 0).GroupBy(o => o.JobId).Where(g => g.Count() > 1).ToList();
        foreach (var g in ids) p.Add($"job id {g.Key} seen by {g.Count()} calls (duplicated)");
        var seen = observed.Select(o => o.JobId).ToHashSet(StringComparer.Ordinal);
        foreach (var id in daemon.Ended.Keys.Where(id => !seen.Contains(id))) p.Add($"daemon ran job {id} that no client submitted");
        foreach (var id in daemon.Duplicates) p.Add($"daemon ended job {id} more than once");

        if (stats.Submitted != jobs.Count) p.Add($"daemon counted {stats.Submitted} submissions for {jobs.Count} jobs");
        if (stats.Ended != stats.Submitted || stats.Waiting != 0 || stats.Running != 0)
            p.Add($"daemon statistics do not add up: submitted {stats.Submitted}, ended {stats.Ended}, waiting {stats.Waiting}, running {stats.Running}");
        if (stats.Completed != daemon.Ended.Values.Count(r => r.Outcome == JobOutcome.Completed)
            || stats.CancelledQueued + stats.CancelledRunning != daemon.Ended.Values.Count(r => r.Outcome == JobOutcome.Cancelled)
            || stats.Failed != 0)
            p.Add($"daemon statistics disagree with its JobEnded events: {stats}");
        return report;
    }

    /// <summary>Runs the whole scenario against <paramref name="host"/>: C# clients and the python process together.</summary>
    public static async Task<Report> RunAsync(DaemonHost host, IReadOnlyList<LoadJob> jobs, string python, string script, TimeSpan timeout)
    {
        if (host.Queue.Statistics.Submitted != 0) throw new InvalidOperationException("run the load scenario on a fresh daemon");
        // Warm-up: the first jobs through a fresh process pay for JIT compilation of every path (run, cancel, drop,
        // completion), which shows as tens of ms of "idle while waiting" once. The measured window starts after it.
        var warmJobs = CreateJobs(2, 0, CancelKinds.Length, 0.5, seed: 1, clientPrefix: "warm-up-");
        await Task.WhenAll(warmJobs.GroupBy(j => j.Client).Select(g => RunCsharpClientAsync(host.GrpcAddress, g.ToList())));
        var quiet = Stopwatch.StartNew();
        while ((host.Queue.RunningCount != 0 || host.Queue.WaitingCount != 0) && quiet.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5);
        var warmUp = host.Queue.Statistics;
        host.Queue.ResetStatistics();

        var recorder = new DaemonRecorder();
        recorder.Attach(host.Queue);
        var pyJobs = jobs.Where(j => j.Python).ToList();
        using var py = pyJobs.Count > 0 ? StartPython(python, script, host.GrpcAddress, pyJobs) : null;
        var sw = Stopwatch.StartNew();
        py?.Go();
        var cs = jobs.Where(j => !j.Python).GroupBy(j => j.Client)
            .Select(g => Task.Run(() => RunCsharpClientAsync(host.GrpcAddress, g.OrderBy(j => j.Index).ToList())))
            .ToList();
        var observed = new List<LoadObservation>();
        foreach (var t in cs) observed.AddRange(await t.WaitAsync(timeout));
        if (py != null) observed.AddRange(await py.ResultsAsync(timeout));
        sw.Stop();
        // JobEnded for a run job is raised just after its stream completes: give the last ones a moment.
        var settle = Stopwatch.StartNew();
        while ((host.Queue.RunningCount != 0 || recorder.Ended.Count < host.Queue.Statistics.Submitted) && settle.Elapsed < TimeSpan.FromSeconds(5))
            await Task.Delay(5);
        var report = Verify(jobs, observed, recorder, host.Queue.Statistics, sw.Elapsed);
        report.WarmUp = warmUp;
        return report;
    }
}
