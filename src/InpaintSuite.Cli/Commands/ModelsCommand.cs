using System.CommandLine;
using InpaintSuite.Daemon;

namespace InpaintSuite.Cli.Commands;

/// <summary>`models`: what engines and models this machine offers.</summary>
internal static class ModelsCommand
{
    public static Command Create(CliIo io)
    {
        var models = new Option<string?>("--models") { Description = "Models folder." };
        var cmd = new Command("models", "List engines and installed models; subcommands install and manage model sets.") { models };
        foreach (var c in ModelsInstallCommands.Create(io)) cmd.Subcommands.Add(c);
        cmd.SetAction(async (parse, ct) =>
        {
            await using var setup = EngineSetup.Create(parse.GetValue(models) ?? EngineSetup.DefaultModelsDirectory());
            io.Out.WriteLine("engines: " + string.Join(", ", setup.Catalog.Engines));
            io.Out.WriteLine(Runtime.Onnx.OnnxRuntimeInfo.Describe().ToString());
            foreach (var m in setup.Catalog.Models)
                io.Out.WriteLine($"model {m.Name}: {m.Kind}{(m.Architecture == "sdxl" ? " sdxl" : "")} {m.Dtype} {m.NativeWidth}x{m.NativeHeight} " + (m.Usable ? "usable" : "unusable: " + m.Reason));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
