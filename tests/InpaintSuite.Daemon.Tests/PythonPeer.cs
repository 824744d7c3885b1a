using System.Diagnostics;
using System.Text.Json;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>Drives tests/interop/grpc_peer.py (Debian's python3-grpcio) as a client or an echo server.</summary>
public static class PythonPeer
{
    public static string Script => Path.Combine(TestPaths.RepoRoot, "tests", "interop", "grpc_peer.py");

    /// <summary>Fails (never skips) when Debian's python cannot run grpcio and grpc_tools.</summary>
    public static void Require()
    {
        var missing = TestPaths.PythonModulesMissing("grpc", "grpc_tools");
        Assert.True(missing == null, missing + " — install python3-grpcio python3-grpc-tools protobuf-compiler (.ci/install-deps.sh)");
        Assert.True(File.Exists("/usr/bin/protoc") || File.Exists("/usr/local/bin/protoc"), "protoc not found: apt-get install protobuf-compiler");
    }

    public static JsonElement Client(Uri address, string scenario, params string[] args) => TlsClient(address, null, scenario, args);

    /// <summary>With <paramref name="caPem"/>: over TLS trusting those roots (grpc.ssl_channel_credentials).</summary>
    public static JsonElement TlsClient(Uri address, string? caPem, string scenario, params string[] args)
    {
        Require();
        var env = caPem == null ? null : new Dictionary<string, string> { ["INPAINTSUITE_PEER_CA"] = caPem };
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython,
            [Script, "client", $"{address.Host}:{address.Port}", scenario, .. args], TimeSpan.FromSeconds(120), env: env);
        Assert.True(code == 0, $"grpc_peer.py client {scenario} exited {code}: {stderr}");
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    /// <summary>A python3-grpcio echo server on an ephemeral port; disposing closes its stdin, which stops it.</summary>
    public sealed class Server : IDisposable
    {
        private readonly Process _process;

        public Server()
        {
            Require();
            var psi = new ProcessStartInfo(TestPaths.DebianPython)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(Script);
            psi.ArgumentList.Add("server");
            _process = Process.Start(psi)!;
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginErrorReadLine();
            var first = _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
            Assert.True(first != null && first.StartsWith("PORT ", StringComparison.Ordinal), "python server did not start: " + first);
            Port = int.Parse(first!.AsSpan(5), System.Globalization.CultureInfo.InvariantCulture);
        }

        public int Port { get; }

        public Uri Address => new($"http://127.0.0.1:{Port}");

        public void Dispose()
        {
            try
            {
                _process.StandardInput.Close();
                if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException) { }
            _process.Dispose();
        }
    }
}
