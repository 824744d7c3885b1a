using System.CommandLine;
using InpaintSuite.Daemon;

namespace InpaintSuite.Cli.Commands;

/// <summary>
/// `serve`: runs the daemon in the foreground until Ctrl+C / SIGTERM. Settings come from
/// <see cref="DaemonConfiguration"/> layers; the flags here are the top layer.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(CliIo io)
    {
        // Flags stay text: DaemonConfiguration parses every layer alike, so errors read the same.
        var flags = new List<(Option<string?> Option, string Key)>
        {
            (new Option<string?>("--host") { Description = "Address to bind (default 127.0.0.1); anything but 127.0.0.1/::1 requires the bearer token." }, nameof(DaemonOptions.Host)),
            (new Option<string?>("--port") { Description = $"gRPC port (default {DaemonDefaults.GrpcPort}; 0 = ephemeral)." }, nameof(DaemonOptions.GrpcPort)),
            (new Option<string?>("--bridge-port") { Description = $"JSON bridge port (default {DaemonDefaults.BridgePort}; 0 = ephemeral, -1 = off)." }, nameof(DaemonOptions.BridgePort)),
            (new Option<string?>("--models") { Description = "Models folder (default $INPAINTSUITE_MODELS or ~/.local/share/inpaintsuite/models)." }, nameof(DaemonOptions.ModelsDirectory)),
            (new Option<string?>("--workers") { Description = "CPU worker count (default 1)." }, nameof(DaemonOptions.Workers)),
            (new Option<string?>("--tls-cert") { Description = "TLS certificate: PEM (leaf first, then intermediates) or PFX. Turns on TLS for both ports." }, nameof(DaemonOptions.TlsCertificate)),
            (new Option<string?>("--tls-key") { Description = "PEM private key for --tls-cert (absent: the key is in the certificate file)." }, nameof(DaemonOptions.TlsKey)),
            (new Option<string?>("--model-memory") { Description = "Memory for loaded models, e.g. 6GiB or 512MiB (default: half of physical memory); least recently used models not in use are released past it." }, nameof(DaemonOptions.ModelMemoryBudget)),
            (new Option<string?>("--warm-up") { Description = "Model to load right after start: auto (the model auto picks for inpaint; default), a model name, or none." }, nameof(DaemonOptions.WarmUpModel)),
            (new Option<string?>("--tls-password") { Description = "Password of a PFX file or an encrypted PEM key." }, nameof(DaemonOptions.TlsPassword)),
        };
        var set = new Option<string[]>("--set") { Description = "Any Daemon setting as NAME=VALUE (repeatable), e.g. --set MaxPixels=4096x4096 --set ShutdownGrace=10s.", AllowMultipleArgumentsPerToken = false };
        var config = new Option<string?>("--config") { Description = "An appsettings.json to layer over the default ones (beside the executable, then the user's config folder)." };
        var printConfig = new Option<bool>("--print-config") { Description = "Print the effective configuration and where each value came from, then exit." };
        var portFile = new Option<string?>("--port-file") { Description = "Write the bound ports as JSON to this file once listening (for scripts using ephemeral ports)." };
        var cmd = new Command("serve", "Run the daemon (gRPC on --port, JSON bridge on --bridge-port). Settings: appsettings.json < INPAINTSUITE_Daemon__NAME < flags.");
        foreach (var (o, _) in flags) cmd.Options.Add(o);
        foreach (var o in new Option[] { set, config, printConfig, portFile }) cmd.Options.Add(o);
        cmd.SetAction(async (parse, ct) =>
        {
            var commandLine = new List<(string Key, string Value, string Flag)>();
            foreach (var pair in parse.GetValue(set) ?? [])
            {
                int eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) throw new UsageException($"--set '{pair}' is not NAME=VALUE");
                var name = pair[..eq].Trim();
                if (name.StartsWith(DaemonConfiguration.Section + ":", StringComparison.OrdinalIgnoreCase)) name = name[(DaemonConfiguration.Section.Length + 1)..];
                commandLine.Add((name, pair[(eq + 1)..], $"--set {name}"));
            }
            foreach (var (o, key) in flags)
                if (parse.GetValue(o) is { } v) commandLine.Add((key, v, o.Name));

            var inputs = DaemonConfigInputs.FromProcess(parse.GetValue(config), commandLine);
            var options = DaemonConfiguration.Load(inputs, out var entries);
            if (options.ModelsDirectory == null)
            {
                options.ModelsDirectory = EngineSetup.DefaultModelsDirectory();
                entries = entries.Select(e => e.Key.EndsWith(":" + nameof(DaemonOptions.ModelsDirectory), StringComparison.Ordinal) ? e with { Value = options.ModelsDirectory } : e).ToList();
            }
            if (parse.GetValue(printConfig))
            {
                io.Out.Write(DaemonConfiguration.Describe(entries, inputs));
                return ExitCodes.Ok;
            }

            Runtime.Onnx.OnnxRuntimeLog.Sink = message => io.Err.WriteLine("inpaintsuite: onnxruntime " + message);
            // The provider decision and any skipped GPU provider's reason, in the log before the first job.
            io.Err.WriteLine("inpaintsuite: " + Runtime.Onnx.OnnxRuntimeInfo.Describe().ToString().Replace(Environment.NewLine, Environment.NewLine + "inpaintsuite:", StringComparison.Ordinal));
            await using var engines = EngineSetup.Create(options.ModelsDirectory, options.ModelMemoryBudget);
            options.Engines = engines;
            options.Runner = engines.Runner;
            options.Catalog = engines.Catalog;
            await using var daemon = await DaemonHost.StartAsync(options, ct);
            if (parse.GetValue(portFile) is { Length: > 0 } pf)
            {
                string tmp = pf + ".tmp";
                await File.WriteAllTextAsync(tmp, $"{{\"grpc\": {daemon.GrpcPort}, \"bridge\": {daemon.BridgePort}, \"tls\": {(daemon.Tls ? "true" : "false")}}}\n", ct);
                File.Move(tmp, pf, overwrite: true);
            }
            io.Err.WriteLine($"inpaintsuite: serving gRPC on {daemon.GrpcAddress}" + (daemon.BridgePort > 0 ? $", JSON bridge on {daemon.BridgeAddress}" : ""));
            await daemon.WaitForShutdownAsync(ct);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
