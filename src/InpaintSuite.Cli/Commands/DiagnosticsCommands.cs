using System.CommandLine;
using InpaintSuite.Runtime.Diagnostics;
using InpaintSuite.Runtime.Schedulers;

namespace InpaintSuite.Cli.Commands;

/// <summary>`tokenize` and `schedule`: the diffusion runtime's diagnostics, printed as one JSON object on stdout.</summary>
internal static class DiagnosticsCommands
{
    public static Command Tokenize(CliIo io)
    {
        var prompt = new Argument<string>("prompt") { Description = "Prompt text." };
        var model = new Option<string?>("--model") { Description = "Model folder (or its tokenizer folder, or a model name in --models)." };
        var models = new Option<string?>("--models") { Description = "Models folder (without --model: the first model with a tokenizer)." };
        var chunks = new Option<bool>("--chunks") { Description = "Also print the A1111 75-token chunks with emphasis weights." };
        var cmd = new Command("tokenize", "Print a prompt's CLIP token ids (the 77-token row) and its token count as JSON.") { prompt, model, models, chunks };
        cmd.SetAction(parse =>
        {
            var r = Guard(() => RuntimeDiagnostics.Tokenize(parse.GetValue(prompt)!, parse.GetValue(model), parse.GetValue(models), parse.GetValue(chunks)));
            io.Out.WriteLine(RuntimeDiagnostics.ToJson(r));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    public static Command Schedule(CliIo io)
    {
        var scheduler = new Option<string>("--scheduler") { Description = "One of: " + string.Join(", ", NoiseScheduler.Names), Required = true };
        var steps = new Option<int>("--steps") { Description = "Inference steps.", DefaultValueFactory = _ => 20 };
        var config = new Option<string?>("--config") { Description = "scheduler_config.json (or a model folder); default SD1.5's." };
        var strength = new Option<double?>("--strength") { Description = "img2img strength: also print the start index and the timesteps that run." };
        var cmd = new Command("schedule", "Print a scheduler's timesteps, sigmas and init_noise_sigma as JSON.") { scheduler, steps, config, strength };
        cmd.SetAction(parse =>
        {
            var r = Guard(() => RuntimeDiagnostics.Schedule(parse.GetValue(scheduler)!, parse.GetValue(steps), parse.GetValue(config), parse.GetValue(strength)));
            io.Out.WriteLine(RuntimeDiagnostics.ToJson(r));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Bad names, counts and configs are usage errors (exit 2, one line), not crashes.</summary>
    private static T Guard<T>(Func<T> f)
    {
        try { return f(); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or FormatException or DirectoryNotFoundException or System.Text.Json.JsonException)
        {
            throw new UsageException(e.Message);
        }
    }
}
