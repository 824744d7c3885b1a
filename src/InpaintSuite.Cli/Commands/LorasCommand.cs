using System.CommandLine;
using InpaintSuite.Daemon;
using InpaintSuite.Runtime.Lora;

namespace InpaintSuite.Cli.Commands;

/// <summary>`loras`: the LoRA files a run can name, with the base architecture each was made for (docs/lora.md).</summary>
internal static class LorasCommand
{
    public static Command Create(CliIo io)
    {
        var models = new Option<string?>("--models") { Description = "Models folder (the default LoRA folder is loras/ beside it)." };
        var loras = new Option<string?>("--loras") { Description = "LoRA folder (default: $INPAINTSUITE_LORAS or loras/ beside the models folder)." };
        var cmd = new Command("loras", "List the LoRA files (.safetensors) in the LoRA folder: name, base architecture, format, modules, rank.") { models, loras };
        cmd.SetAction(parse =>
        {
            var library = new LoraLibrary(parse.GetValue(loras) ?? LoraLibrary.DefaultDirectory(parse.GetValue(models) ?? EngineSetup.DefaultModelsDirectory()));
            var list = library.List();
            io.Out.WriteLine($"LoRA folder: {library.Directory}" + (list.Count == 0 ? " (no .safetensors files)" : ""));
            foreach (var l in list)
            {
                if (l.Error != null) { io.Out.WriteLine($"lora {l.Name}: unusable: {l.Error}"); continue; }
                string te = l.TextEncoderModules > 0 ? $", {l.TextEncoderModules} text-encoder" : "";
                io.Out.WriteLine($"lora {l.Name}: {l.ArchitectureName} ({l.ArchitectureSource}), {l.Format}, {l.Modules} modules{te}, rank {l.Rank}, {l.Bytes} bytes");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
