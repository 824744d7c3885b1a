using System.Globalization;
using InpaintSuite.Daemon;
using InpaintSuite.Daemon.Tests;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Benchmarks;

/// <summary>
/// The daemon under load (issue 8), the LoadTests scenario at a larger count: C# clients and python3-grpcio clients
/// (half each) submit content-aware jobs one after another to a fresh loopback daemon, a share of them cancelled.
/// Side by side, with the same jobs: the engine in-process one after another (raw engine throughput), one sequential
/// C# client through the daemon (the baseline), and all clients without cancellations. Every run is verified like the
/// test (right result, nothing lost or duplicated). Medians over the runs.
/// `dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- load [--clients 40] [--jobs 25] [--cancel 0.2] [--runs 3] [--workers 1]`
/// </summary>
public sealed class LoadBench : IBenchTool
{
    public string Name => "load";

    public string Description => "daemon under load: C# + python3-grpcio clients, cancellations; jobs/s, queue wait, idle vs one sequential client";

    public int Run(string[] args)
    {
        int clients = 40, jobsPerClient = 25, runs = 3, workers = 1, minSize = 64, maxSize = 128;
        double cancel = 0.2;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            var v = args[i + 1];
            switch (args[i])
            {
                case "--clients": clients = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--jobs": jobsPerClient = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--cancel": cancel = double.Parse(v, CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--workers": workers = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--min-size": minSize = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--max-size": maxSize = int.Parse(v, CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine("unknown option " + args[i]); return 2;
            }
        }
        return RunAsync(clients, jobsPerClient, cancel, runs, workers, minSize, maxSize).GetAwaiter().GetResult();
    }

    private sealed record Row(string Name, double JobsPerSecond, double CompletedPerSecond, double P50Ms, double P99Ms,
        double IdleMs, double LongestIdleMs, double BusyPercent, string Cancels);

    private static async Task<int> RunAsync(int clients, int jobsPerClient, double cancel, int runs, int workers, int minSize, int maxSize)
    {
        var root = FindRoot();
        var script = Path.Combine(root, "tests", "interop", "load_peer.py");
        var python = Environment.GetEnvironmentVariable("INPAINTSUITE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        int csharp = clients - clients / 2, py = clients / 2;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load: {csharp} C# + {py} python3-grpcio clients x {jobsPerClient} jobs = {clients * jobsPerClient} content-aware jobs ({minSize}..{maxSize} px, 1-2 small boxes), {cancel:P0} cancelled, {workers} worker(s), {runs} runs, median"));
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; shared with other work while measured");

        await using var engines = EngineSetup.Create(null);
        var rows = new Dictionary<string, List<Row>>();
        var failures = 0;
        for (int run = 0; run < runs; run++)
        {
            int seed = 1000 + run;
            var jobs = LoadScenario.CreateJobs(csharp, py, jobsPerClient, cancel, seed, minSize, maxSize);
            // Twice: the first pass pays for JIT and sets the expected hashes, the second is timed.
            await LoadScenario.ComputeExpectedAsync(jobs, engines.Runner);
            var inProcess = await LoadScenario.ComputeExpectedAsync(jobs, engines.Runner);
            Add(rows, new Row("engine in-process, one job after another", jobs.Count / inProcess.TotalSeconds, jobs.Count / inProcess.TotalSeconds, 0, 0, 0, 0, 100, ""));

            var sequential = jobs.Select((j, i) => Copy(j, client: 0, index: i, python: false, plan: CancelPlan.None)).ToList();
            var uncancelled = jobs.Select(j => Copy(j, j.Client, j.Index, j.Python, CancelPlan.None)).ToList();
            foreach (var (name, set) in new[]
            {
                ("one C# client, sequential (baseline)", sequential),
                ($"{clients} clients, no cancellations", uncancelled),
                ($"{clients} clients, {cancel:P0} cancelled", jobs),
            })
            {
                var report = await RunOnceAsync(engines, workers, set, python, script);
                if (report.Problems.Count > 0)
                {
                    failures++;
                    Console.WriteLine($"run {run + 1} '{name}': {report.Problems.Count} problems, first: {report.Problems[0]}");
                }
                var s = report.Statistics!;
                Add(rows, new Row(name, report.JobsPerSecond, report.CompletedPerSecond,
                    s.QueueWaitPercentile(50).TotalMilliseconds, s.QueueWaitPercentile(99).TotalMilliseconds,
                    s.IdleWhileWaiting.TotalMilliseconds, s.LongestIdleWhileWaiting.TotalMilliseconds,
                    s.WorkerBusy.TotalSeconds / report.Wall.TotalSeconds / workers * 100,
                    report.CancelledQueued + report.CancelledRunning + report.CancelTooLate == 0 ? "" :
                        $"{report.CancelledQueued} queued / {report.CancelledRunning} running / {report.CancelTooLate} too late"));
                Console.WriteLine($"run {run + 1}: {report.Summary(name)}");
            }
        }

        var baseline = rows["one C# client, sequential (baseline)"].Select(r => r.JobsPerSecond).ToList();
        double baseMedian = Median(baseline);
        Console.WriteLine();
        Console.WriteLine($"{"scenario",-42} {"jobs/s",7} {"done/s",7} {"vs base",8} {"wait p50",9} {"wait p99",9} {"idle ms",8} {"longest",8} {"busy",5}  cancels (last run)");
        foreach (var (name, list) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-42} {Median(list.Select(r => r.JobsPerSecond)),7:F1} {Median(list.Select(r => r.CompletedPerSecond)),7:F1} {Median(list.Select(r => r.JobsPerSecond)) / baseMedian,7:F2}x "
                + $"{Median(list.Select(r => r.P50Ms)),7:F1}ms {Median(list.Select(r => r.P99Ms)),7:F1}ms {Median(list.Select(r => r.IdleMs)),8:F2} {Median(list.Select(r => r.LongestIdleMs)),8:F2} {Median(list.Select(r => r.BusyPercent)),4:F0}%  {list[^1].Cancels}"));
        }
        Console.WriteLine("wait = queue wait (submitted to a worker taking the job), from the daemon's statistics; idle = time a worker was free while jobs waited (measured window, after a warm-up); busy = worker time on jobs / wall.");
        if (failures > 0) Console.WriteLine($"{failures} run(s) had verification problems (see above)");
        return failures == 0 ? 0 : 1;
    }

    private static async Task<LoadScenario.Report> RunOnceAsync(EngineSetup engines, int workers, List<LoadJob> jobs, string python, string script)
    {
        await using var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            GrpcPort = 0,
            BridgePort = -1,
            Runner = engines.Runner,
            Catalog = engines.Catalog,
            Workers = workers,
            MinimumLogLevel = LogLevel.Warning,
        });
        return await LoadScenario.RunAsync(host, jobs, python, script, TimeSpan.FromMinutes(10));
    }

    private static LoadJob Copy(LoadJob j, int client, int index, bool python, CancelPlan plan) => new()
    {
        Client = client,
        Index = index,
        ClientName = client == j.Client ? j.ClientName : "seq",
        Width = j.Width,
        Height = j.Height,
        Image = j.Image,
        Mask = j.Mask,
        Seed = j.Seed,
        Cancel = plan,
        DelayMs = j.DelayMs,
        Python = python,
        ExpectedHash = j.ExpectedHash,
    };

    private static void Add(Dictionary<string, List<Row>> rows, Row row)
    {
        if (!rows.TryGetValue(row.Name, out var list)) rows[row.Name] = list = [];
        list.Add(row);
    }

    private static double Median(IEnumerable<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s.Count == 0 ? 0 : s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("InpaintSuite.sln not found");
    }
}
