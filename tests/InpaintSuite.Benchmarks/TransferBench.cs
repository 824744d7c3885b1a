using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using InpaintSuite.Protocol;
using InpaintSuite.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Benchmarks;

/// <summary>
/// Loopback gRPC transfer: a SIZExSIZE RGBA8 layer sent and a same-size patch returned, engine doing
/// no work. Rows: our C# client -> our daemon; python3-grpcio client -> python3-grpcio echo server
/// (the baseline); and the two crossings. MB/s counts bytes both ways (2 x layer) per second.
/// With --tls also the C# daemon over TLS (HTTP/2, ALPN h2; a per-run certificate) for both clients.
/// `dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- transfer [--size 4096] [--runs 7] [--tls]`
/// </summary>
public sealed class TransferBench : IBenchTool
{
    public string Name => "transfer";

    public string Description => "loopback gRPC layer round trip (C# daemon/client vs python3-grpcio), MB/s";

    public int Run(string[] args)
    {
        int size = 4096, runs = 7;
        bool tls = args.Contains("--tls");
        args = args.Where(a => a != "--tls").ToArray();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--size") size = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else if (args[i] == "--runs") runs = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }
        return RunAsync(size, runs, tls).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int size, int runs, bool tls)
    {
        var root = FindRoot();
        var script = Path.Combine(root, "tests", "interop", "grpc_peer.py");
        long layerBytes = (long)size * size * 4;
        Console.WriteLine($"transfer: {size}x{size} RGBA8 layer = {layerBytes / 1048576.0:F0} MiB each way, {runs} timed runs after 1 warm-up, median");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; shared with other work while measured");

        var rows = new List<(string Name, double Median)>();
        await using (var host = await DaemonHost.StartAsync(new DaemonOptions
        {
            GrpcPort = 0, BridgePort = -1, Runner = new EchoRunner(), MinimumLogLevel = LogLevel.Warning,
        }))
        {
            var layer = new byte[layerBytes];
            new Random(1).NextBytes(layer);
            var request = new InpaintRequest
            {
                Image = new Image { Width = (uint)size, Height = (uint)size, Format = PixelFormat.Rgba8, Data = UnsafeByteOperations.UnsafeWrap(layer) },
                Settings = new InpaintSuite.Protocol.V1.GenerationSettings { Engine = "fill" },
            };
            using var client = new InpainterClient(host.GrpcAddress);
            rows.Add(("C# client -> C# daemon", Median(await TimeAsync(client, request, runs, layerBytes))));
            rows.Add(("python3-grpcio client -> C# daemon", Median(PythonClient(script, host.GrpcAddress, size, runs))));
        }
        if (tls)
        {
            using var certs = new InpaintSuite.TestSupport.TestCertificates();
            await using var host = await DaemonHost.StartAsync(new DaemonOptions
            {
                GrpcPort = 0, BridgePort = -1, Runner = new EchoRunner(), MinimumLogLevel = LogLevel.Warning,
                TlsCertificate = certs.CertPem, TlsKey = certs.KeyPem,
            });
            var layer = new byte[layerBytes];
            new Random(1).NextBytes(layer);
            var request = new InpaintRequest
            {
                Image = new Image { Width = (uint)size, Height = (uint)size, Format = PixelFormat.Rgba8, Data = UnsafeByteOperations.UnsafeWrap(layer) },
                Settings = new InpaintSuite.Protocol.V1.GenerationSettings { Engine = "fill" },
            };
            using var client = new InpainterClient(host.GrpcAddress, new DaemonClientOptions { TrustedCertificates = ServerTrust.LoadCertificates(certs.CaPem) });
            rows.Add(("C# client -> C# daemon, TLS", Median(await TimeAsync(client, request, runs, layerBytes))));
            rows.Add(("python3-grpcio client -> C# daemon, TLS", Median(PythonClient(script, host.GrpcAddress, size, runs, certs.CaPem))));
        }

        using (var py = StartPythonServer(script, out var port))
        {
            var address = new Uri($"http://127.0.0.1:{port}");
            rows.Add(("python3-grpcio client -> python3-grpcio server (baseline)", Median(PythonClient(script, address, size, runs))));
            var layer = new byte[layerBytes];
            new Random(2).NextBytes(layer);
            var request = new InpaintRequest { Image = new Image { Width = (uint)size, Height = (uint)size, Format = PixelFormat.Rgba8, Data = UnsafeByteOperations.UnsafeWrap(layer) } };
            using var client = new InpainterClient(address);
            rows.Add(("C# client -> python3-grpcio server", Median(await TimeAsync(client, request, runs, layerBytes))));
            py.StandardInput.Close();
            if (!py.WaitForExit(5000)) py.Kill(true);
        }

        var baseline = rows.Single(r => r.Name.EndsWith("(baseline)", StringComparison.Ordinal)).Median;
        Console.WriteLine();
        Console.WriteLine($"{"path",-58} {"median s",9} {"MB/s",8} {"vs baseline",12}");
        foreach (var (name, median) in rows)
            Console.WriteLine($"{name,-58} {median,9:F3} {2 * layerBytes / median / 1e6,8:F0} {baseline / median,11:F2}x");
        if (tls)
        {
            double Row(string n) => rows.Single(r => r.Name == n).Median;
            Console.WriteLine($"TLS time / plaintext time: C# client {Row("C# client -> C# daemon, TLS") / Row("C# client -> C# daemon"):F2}x, " +
                $"python3-grpcio client {Row("python3-grpcio client -> C# daemon, TLS") / Row("python3-grpcio client -> C# daemon"):F2}x");
        }
        return 0;
    }

    private static async Task<List<double>> TimeAsync(InpainterClient client, InpaintRequest request, int runs, long layerBytes)
    {
        var times = new List<double>();
        for (int i = 0; i <= runs; i++)
        {
            var sw = Stopwatch.StartNew();
            var (_, result) = await InpainterClient.RunToResultAsync(client.Inpaint(request));
            sw.Stop();
            if (result.Patches[0].Image.Data.Length != layerBytes) throw new InvalidOperationException("wrong patch size");
            if (i > 0) times.Add(sw.Elapsed.TotalSeconds);
        }
        return times;
    }

    private static List<double> PythonClient(string script, Uri address, int size, int runs, string? caPem = null)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (caPem != null) psi.Environment["INPAINTSUITE_PEER_CA"] = caPem;
        foreach (var a in new[] { script, "bench-client", $"127.0.0.1:{address.Port}", size.ToString(CultureInfo.InvariantCulture), runs.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException("python bench client failed: " + stderr);
        var json = JsonDocument.Parse(stdout.Trim().Split('\n').Last()).RootElement;
        return json.GetProperty("seconds").EnumerateArray().Select(e => e.GetDouble()).ToList();
    }

    private static Process StartPythonServer(string script, out int port)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("server");
        var p = Process.Start(psi)!;
        var line = p.StandardOutput.ReadLine() ?? throw new InvalidOperationException("python server did not start");
        port = int.Parse(line.AsSpan(5), CultureInfo.InvariantCulture);
        return p;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("InpaintSuite.sln not found");
    }

    /// <summary>The engine doing no work: the patch is the input layer itself.</summary>
    private sealed class EchoRunner : IOperationRunner
    {
        public Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken) =>
            Task.FromResult(new OperationResult
            {
                Patches = [new ResultPatch(0, 0, request.Image, 0)],
                Engine = "fill",
                CanvasWidth = request.Image.Width,
                CanvasHeight = request.Image.Height,
            });
    }
}
