using System.CommandLine;
using InpaintSuite.Daemon;
using InpaintSuite.Protocol;
using Grpc.Core;

namespace InpaintSuite.Cli.Commands;

/// <summary>`health`: asks a daemon's grpc.health.v1 service; exit 0 only when SERVING.</summary>
internal static class HealthCommand
{
    public static Command Create(CliIo io)
    {
        var daemon = new Option<string>("--daemon") { Description = "Daemon URL.", DefaultValueFactory = _ => $"http://127.0.0.1:{DaemonDefaults.GrpcPort}" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait.", DefaultValueFactory = _ => 5 };
        var tlsCa = new Option<string?>("--tls-ca") { Description = "For an https:// daemon: trust this CA or certificate instead of the system store (default: $INPAINTSUITE_TLS_CA)." };
        var cmd = new Command("health", "Check that a daemon is up and serving.") { daemon, timeout, tlsCa };
        cmd.SetAction(async (parse, ct) =>
        {
            var url = parse.GetValue(daemon)!;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) throw new UsageException($"--daemon '{url}' is not a URL");
            using var client = new InpainterClient(uri, new DaemonClientOptions { BearerToken = ClientCredentials.DefaultToken(), TrustedCertificates = CliTls.Trusted(parse.GetValue(tlsCa)) });
            try
            {
                var r = await client.CheckHealthAsync(deadline: TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken: ct);
                bool serving = r.Status == global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving;
                io.Out.WriteLine(serving ? "SERVING" : r.Status.ToString().ToUpperInvariant());
                return serving ? ExitCodes.Ok : ExitCodes.Failed;
            }
            catch (RpcException e)
            {
                io.Out.WriteLine("UNAVAILABLE");
                io.Err.WriteLine($"inpaintsuite: daemon at {url} did not answer: {e.StatusCode}: {e.Status.Detail}{CliTls.Hint(e)}");
                return ExitCodes.Failed;
            }
        });
        return cmd;
    }
}
