using System.Text.Json;
using System.Text.Json.Serialization;
using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Runtime.Diagnostics;

/// <summary>`inpaintsuite tokenize` output: the 77-id row the text encoder gets and the prompt's token count.</summary>
public sealed record TokenizeResult(
    [property: JsonPropertyName("ids")] int[] Ids,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("max")] int Max,
    [property: JsonPropertyName("truncated")] bool Truncated,
    [property: JsonPropertyName("tokens")] string[] Tokens,
    [property: JsonPropertyName("tokenizer")] string Tokenizer,
    [property: JsonPropertyName("chunks"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ChunkResult[]? Chunks);

/// <summary>One A1111 75-token chunk (with --chunks): ids and per-token emphasis weights.</summary>
public sealed record ChunkResult(
    [property: JsonPropertyName("ids")] int[] Ids,
    [property: JsonPropertyName("weights")] float[] Weights);

/// <summary>`inpaintsuite schedule` output.</summary>
public sealed record ScheduleResult(
    [property: JsonPropertyName("scheduler")] string Scheduler,
    [property: JsonPropertyName("steps")] int Steps,
    [property: JsonPropertyName("timesteps")] float[] Timesteps,
    [property: JsonPropertyName("sigmas"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float[]? Sigmas,
    [property: JsonPropertyName("init_noise_sigma")] float InitNoiseSigma,
    [property: JsonPropertyName("timestep_spacing")] string TimestepSpacing,
    [property: JsonPropertyName("prediction_type")] string PredictionType,
    [property: JsonPropertyName("config")] string Config,
    [property: JsonPropertyName("strength"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Strength,
    [property: JsonPropertyName("start_index"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? StartIndex,
    [property: JsonPropertyName("timesteps_to_run"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float[]? TimestepsToRun);

/// <summary>The runtime's diagnostics as library calls returning JSON-ready objects (the CLI's tokenize and schedule commands).</summary>
public static class RuntimeDiagnostics
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, Json);

    /// <summary>
    /// Tokenizes <paramref name="prompt"/> with the tokenizer of <paramref name="model"/> (a model folder, its tokenizer
    /// folder, or a model name inside <paramref name="modelsDirectory"/>); without a model, the first model in
    /// <paramref name="modelsDirectory"/> that has a tokenizer. With <paramref name="chunks"/>, also the A1111
    /// 75-token chunks with emphasis weights.
    /// </summary>
    public static TokenizeResult Tokenize(string prompt, string? model = null, string? modelsDirectory = null, bool chunks = false)
    {
        string dir = ResolveTokenizerDirectory(model, modelsDirectory);
        var tok = ClipTokenizer.FromDirectory(dir);
        var ids = tok.Encode(prompt);
        int max = ClipTokenizer.DefaultContextLength - 2;
        ChunkResult[]? chunkResults = null;
        if (chunks)
            chunkResults = PromptWeighting.Chunk(tok, prompt).Chunks.Select(c => new ChunkResult(c.Ids, c.Weights)).ToArray();
        return new TokenizeResult(tok.Frame(ids), ids.Count, max, ids.Count > max, ids.Select(tok.Token).ToArray(), dir, chunkResults);
    }

    public static string ResolveTokenizerDirectory(string? model, string? modelsDirectory)
    {
        static string? TokenizerIn(string d)
        {
            if (File.Exists(Path.Combine(d, "vocab.json"))) return d;
            string t = Path.Combine(d, "tokenizer");
            return File.Exists(Path.Combine(t, "vocab.json")) ? t : null;
        }
        if (model is not null)
        {
            if (Directory.Exists(model))
                return TokenizerIn(model) ?? throw new FileNotFoundException($"no tokenizer (vocab.json) in {model} or {Path.Combine(model, "tokenizer")}");
            if (modelsDirectory is not null && Directory.Exists(Path.Combine(modelsDirectory, model)))
                return TokenizerIn(Path.Combine(modelsDirectory, model)) ?? throw new FileNotFoundException($"model '{model}' has no tokenizer/vocab.json");
            throw new DirectoryNotFoundException($"model folder '{model}' not found");
        }
        if (modelsDirectory is not null)
        {
            foreach (var e in ModelCatalogue.Scan(modelsDirectory))
                if (e.TokenizerDirectory is { } t && File.Exists(Path.Combine(t, "vocab.json")) && File.Exists(Path.Combine(t, "merges.txt"))) return t;
        }
        throw new FileNotFoundException("no tokenizer found: pass --model with a model folder (or its tokenizer folder)" +
            (modelsDirectory is null ? "" : $"; no model in {modelsDirectory} has tokenizer/vocab.json"));
    }

    /// <summary>
    /// The schedule a scheduler runs: timesteps, sigmas (sigma-based schedulers), init_noise_sigma, from
    /// <paramref name="configPath"/> (a scheduler_config.json, or a model folder containing scheduler/) or SD1.5's config.
    /// With <paramref name="strength"/>, also the img2img start index and the timesteps that run.
    /// </summary>
    public static ScheduleResult Schedule(string name, int steps, string? configPath = null, double? strength = null)
    {
        SchedulerConfig config;
        string source;
        if (configPath is null) { config = SchedulerConfig.StableDiffusion15; source = "sd15-default"; }
        else
        {
            string p = Directory.Exists(configPath) ? Path.Combine(configPath, "scheduler", "scheduler_config.json") : configPath;
            if (!File.Exists(p)) throw new FileNotFoundException($"scheduler config not found: {p}");
            config = SchedulerConfig.Load(p);
            source = p;
        }
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "steps must be at least 1");
        var s = NoiseScheduler.Create(name, config);
        int? start = null;
        float[]? toRun = null;
        if (strength is { } st)
        {
            s.SetTimestepsForStrength(steps, st);
            start = s.ActiveStart;
            toRun = s.ActiveTimesteps.ToArray();
        }
        else s.SetTimesteps(steps);
        return new ScheduleResult(name, steps, (float[])s.Timesteps.Clone(), s.Sigmas, s.InitNoiseSigma,
            s.Spacing.ToString().ToLowerInvariant(), s.Prediction switch { PredictionType.VPrediction => "v_prediction", PredictionType.Sample => "sample", _ => "epsilon" },
            source, strength, start, toRun);
    }
}
