using System.Diagnostics;
using System.Text.Json;
using InpaintSuite.Protocol;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>`inpaintsuite serve` as a real process: appsettings.json &lt; environment &lt; flags, --print-config, exit 2 on bad values.</summary>
public sealed class ServeConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-serve-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "inpaintsuite.dll");

    private static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";

    /// <summary>A user config folder with appsettings.json, an empty models folder, and the environment pointing at them.</summary>
    private Dictionary<string, string> Environment_()
    {
        var config = Path.Combine(_dir, "xdg", "inpaintsuite");
        Directory.CreateDirectory(config);
        File.WriteAllText(Path.Combine(config, "appsettings.json"), """
            {"Daemon": {"GrpcPort": 0, "BridgePort": 0, "MaxBatch": 3, "MaxPixels": "100x100", "ShutdownGrace": "1s"},
             "Logging": {"ignored": true}}
            """);
        Directory.CreateDirectory(Path.Combine(_dir, "models"));
        return new Dictionary<string, string>
        {
            ["XDG_CONFIG_HOME"] = Path.Combine(_dir, "xdg"),
            ["INPAINTSUITE_MODELS"] = Path.Combine(_dir, "models"),
            ["INPAINTSUITE_Daemon__MaxPixels"] = "64x64",
            ["INPAINTSUITE_Daemon__MaxBatch"] = "4",
        };
    }

    private static ProcessStartInfo Start(Dictionary<string, string> env, params IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(DotnetHost) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        return psi;
    }

    [Fact]
    public async Task ServeTakesSettingsFromAppsettingsEnvAndFlagsInThatOrder()
    {
        var env = Environment_();
        var portFile = Path.Combine(_dir, "ports.json");

        using (var print = Process.Start(Start(env, "serve", "--print-config", "--set", "MaxBatch=5"))!)
        {
            var text = await print.StandardOutput.ReadToEndAsync();
            await print.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(print.ExitCode == 0, await print.StandardError.ReadToEndAsync());
            Assert.Matches(@"Daemon:MaxBatch = 5\s+# command line --set MaxBatch", text);
            Assert.Matches(@"Daemon:MaxPixels = 4096\s+# env INPAINTSUITE_Daemon__MaxPixels", text);
            Assert.Matches(@"Daemon:GrpcPort = 0\s+# file .*xdg/inpaintsuite/appsettings.json", text);
            Assert.Matches(@"Daemon:ModelsDirectory = .*models\s+# env INPAINTSUITE_MODELS", text);
            Assert.Matches(@"Daemon:Host = 127.0.0.1\s+# default", text);
        }

        using var serve = Process.Start(Start(env, "serve", "--set", "MaxBatch=5", "--port-file", portFile))!;
        var stderr = new System.Text.StringBuilder();
        serve.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        serve.BeginErrorReadLine();
        try
        {
            var sw = Stopwatch.StartNew();
            while (!File.Exists(portFile))
            {
                Assert.False(serve.HasExited, "serve exited early: " + stderr);
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "serve did not write its port file: " + stderr);
                await Task.Delay(50);
            }
            using var ports = JsonDocument.Parse(await File.ReadAllTextAsync(portFile));
            int grpc = ports.RootElement.GetProperty("grpc").GetInt32();
            Assert.NotEqual(50151, grpc);
            using var client = new InpainterClient(new Uri($"http://127.0.0.1:{grpc}"));
            var caps = await client.GetCapabilitiesAsync(deadline: TimeSpan.FromSeconds(30));
            Assert.Equal(64UL * 64, caps.MaxPixels);
            Assert.Equal(5U, caps.MaxBatch);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports.RootElement.GetProperty("bridge").GetInt32()}") };
            Assert.True((await http.GetAsync("/v1/health")).IsSuccessStatusCode);

            // SIGTERM: a graceful stop with exit 0.
            using (var kill = Process.Start("kill", ["-TERM", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(serve.ExitCode == 0, $"exit {serve.ExitCode}: {stderr}");
        }
        finally
        {
            if (!serve.HasExited) serve.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task NonLoopbackHostWarnsWithoutTlsAndServesTlsFromAppsettings()
    {
        using var certs = new TestSupport.TestCertificates();
        var env = Environment_();
        // Without TLS: works (token auth) but warns that the token travels in clear.
        var (plainOut, plainPorts) = await RunUntilListening(env, "plain", "--host", "127.0.0.2");
        Assert.Contains("listening on 127.0.0.2 without TLS: the bearer token and images travel in clear", plainOut);
        Assert.False(plainPorts.GetProperty("tls").GetBoolean());
        Assert.True(File.Exists(Path.Combine(_dir, "xdg", "inpaintsuite", "token")));

        // TLS named in a --config file: no warning, https on both ports, the CA from INPAINTSUITE_TLS_CA.
        var tlsConfig = Path.Combine(_dir, "tls.json");
        File.WriteAllText(tlsConfig, JsonSerializer.Serialize(new { Daemon = new { Host = "127.0.0.2", TlsCertificate = certs.CertPem, TlsKey = certs.KeyPem } }));
        env["INPAINTSUITE_TLS_CA"] = certs.CaPem;
        var (tlsOut, tlsPorts) = await RunUntilListening(env, "tls", "--config", tlsConfig, "--health-check");
        Assert.DoesNotContain("without TLS", tlsOut);
        Assert.True(tlsPorts.GetProperty("tls").GetBoolean());
        Assert.Contains($"serving gRPC on https://127.0.0.2:{tlsPorts.GetProperty("grpc").GetInt32()}/", tlsOut);
        Assert.True(tlsOut.Contains("health: SERVING"), tlsOut[Math.Max(0, tlsOut.IndexOf("health:"))..]);
    }

    /// <summary>Starts serve, waits for its port file (with "--health-check": also runs `health` against it), stops it with SIGTERM; returns its output.</summary>
    private async Task<(string Output, JsonElement Ports)> RunUntilListening(Dictionary<string, string> env, string name, params string[] args)
    {
        var portFile = Path.Combine(_dir, name + "-ports.json");
        bool check = args.Contains("--health-check");
        using var serve = Process.Start(Start(env, ["serve", "--port-file", portFile, .. args.Where(a => a != "--health-check")]))!;
        var output = new System.Text.StringBuilder();
        serve.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        serve.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        serve.BeginOutputReadLine();
        serve.BeginErrorReadLine();
        try
        {
            var sw = Stopwatch.StartNew();
            while (!File.Exists(portFile))
            {
                Assert.False(serve.HasExited, "serve exited early: " + output);
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "serve did not write its port file: " + output);
                await Task.Delay(50);
            }
            var ports = JsonDocument.Parse(await File.ReadAllTextAsync(portFile)).RootElement.Clone();
            if (check)
            {
                using var health = Process.Start(Start(env, "health", "--daemon", $"https://127.0.0.2:{ports.GetProperty("grpc").GetInt32()}"))!;
                var text = await health.StandardOutput.ReadToEndAsync() + await health.StandardError.ReadToEndAsync();
                await health.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                lock (output) output.AppendLine("health: " + text.Trim());
            }
            using (var kill = Process.Start("kill", ["-TERM", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            lock (output) return (output.ToString(), ports);
        }
        finally
        {
            if (!serve.HasExited) serve.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task ABadValueInAppsettingsStopsServeWithExit2NamingKeyAndFile()
    {
        var env = Environment_();
        var bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, """{"Daemon": {"ShutdownGrace": "whenever"}}""");
        using var p = Process.Start(Start(env, "serve", "--config", bad))!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, p.ExitCode);
        Assert.Equal($"inpaintsuite: configuration: Daemon:ShutdownGrace = 'whenever' (--config {bad}) is not a duration (e.g. 5s, 250ms, 2m, 1h or 00:00:05)", err.Trim());
    }

    [Theory]
    [InlineData("--port", "http", "Daemon:GrpcPort = 'http' (command line --port) is not an integer")]
    [InlineData("--workers", "0", "Daemon:Workers = '0' (command line --workers) is out of range: must be 1..1024")]
    [InlineData("--host", "my-box", "Daemon:Host = 'my-box' (command line --host) is not an IP address")]
    [InlineData("--set", "Colour=blue", "Daemon:Colour (command line --set Colour) is not a known setting")]
    [InlineData("--tls-cert", "/nonexistent/cert.pem", "Daemon:TlsCertificate (command line --tls-cert) file not found")]
    public async Task BadFlagsExit2WithOneLine(string flag, string value, string expected)
    {
        var empty = Path.Combine(_dir, "empty.json");
        File.WriteAllText(empty, "{}");
        var o = new StringWriter();
        var e = new StringWriter();
        int code = await Program.RunAsync(["serve", flag, value, "--config", empty], o, e, CancellationToken.None);
        Assert.Equal(2, code);
        Assert.Contains(expected, e.ToString());
        Assert.DoesNotContain("\n", e.ToString().Trim());
    }
}
