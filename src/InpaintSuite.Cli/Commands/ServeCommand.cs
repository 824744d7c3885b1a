using System.CommandLine;
using InpaintSuite.Daemon;
using InpaintSuite.Pipelines;
using InpaintSuite.Runtime.Models;

namespace InpaintSuite.Cli.Commands;

/// <summary>`serve`: runs the daemon in the foreground until Ctrl+C / SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create(CliIo io)
    {
        var host = new Option<string>("--host") { Description = "Address to bind; anything but 127.0.0.1/::1 requires the bearer token.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "gRPC port (0 = ephemeral).", DefaultValueFactory = _ => DaemonDefaults.GrpcPort };
        var bridgePort = new Option<int>("--bridge-port") { Description = "JSON bridge (HTTP/1.1) port (0 = ephemeral, -1 = off).", DefaultValueFactory = _ => DaemonDefaults.BridgePort };
        var models = new Option<string?>("--models") { Description = "Models folder." };
        var workers = new Option<int>("--workers") { Description = "CPU worker count.", DefaultValueFactory = _ => 1 };
        var portFile = new Option<string?>("--port-file") { Description = "Write the bound ports as JSON to this file once listening (for scripts using ephemeral ports)." };
        var modelMemory = new Option<string?>("--model-memory") { Description = "Memory for loaded models (e.g. 6GiB, 512MiB, bytes, 50%, unlimited); least recently used models are released past it. Default: half of physical memory." };
        var warmUp = new Option<string>("--warm-up") { Description = "Model to load right after start: auto (the default inpaint model), a model name, or none.", DefaultValueFactory = _ => EngineNames.Auto };
        var cmd = new Command("serve", "Run the daemon (gRPC on --port, JSON bridge on --bridge-port).") { host, port, bridgePort, models, workers, portFile, modelMemory, warmUp };
        cmd.SetAction(async (parse, ct) =>
        {
            var options = new DaemonOptions
            {
                Host = parse.GetValue(host)!,
                GrpcPort = parse.GetValue(port),
                BridgePort = parse.GetValue(bridgePort),
                ModelsDirectory = parse.GetValue(models) ?? EngineSetup.DefaultModelsDirectory(),
                Workers = Math.Max(1, parse.GetValue(workers)),
                WarmUpModel = parse.GetValue(warmUp)!,
            };
            if (parse.GetValue(modelMemory) is { } mm)
            {
                try { options.ModelMemoryBudget = ModelMemory.ParseSize(mm); }
                catch (FormatException e) { throw new UsageException("--model-memory: " + e.Message); }
            }
            if (options.GrpcPort is < 0 or > 65535) throw new UsageException("--port must be 0..65535");
            if (options.BridgePort is < -1 or > 65535) throw new UsageException("--bridge-port must be -1..65535");
            Runtime.Onnx.OnnxRuntimeLog.Sink = message => io.Err.WriteLine("inpaintsuite: onnxruntime " + message);
            await using var engines = EngineSetup.Create(options.ModelsDirectory, options.ModelMemoryBudget);
            options.Engines = engines;
            options.Runner = engines.Runner;
            options.Catalog = engines.Catalog;
            await using var daemon = await DaemonHost.StartAsync(options, ct);
            if (parse.GetValue(portFile) is { Length: > 0 } pf)
            {
                string tmp = pf + ".tmp";
                await File.WriteAllTextAsync(tmp, $"{{\"grpc\": {daemon.GrpcPort}, \"bridge\": {daemon.BridgePort}}}\n", ct);
                File.Move(tmp, pf, overwrite: true);
            }
            io.Err.WriteLine($"inpaintsuite: serving gRPC on {daemon.GrpcAddress}" + (daemon.BridgePort > 0 ? $", JSON bridge on {daemon.BridgeAddress}" : ""));
            await daemon.WaitForShutdownAsync(ct);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
