using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>
/// A diffusers <c>scheduler_config.json</c> as a key/value bag. Like diffusers' <c>Cls.from_config(config, **overrides)</c>,
/// every scheduler reads the keys it knows and falls back to its own class default for missing (or null) ones, so the
/// same SD1.5 PNDM config builds all schedulers (each with its own default <c>timestep_spacing</c>).
/// </summary>
public sealed class SchedulerConfig
{
    private readonly Dictionary<string, JsonNode?> _values;

    private SchedulerConfig(Dictionary<string, JsonNode?> values) => _values = values;

    /// <summary>SD1.5's scheduler_config.json (a PNDMScheduler config); used when a model ships none.</summary>
    public static SchedulerConfig StableDiffusion15 => Parse("""
        {"_class_name":"PNDMScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,
         "clip_sample":false,"num_train_timesteps":1000,"prediction_type":"epsilon","set_alpha_to_one":false,
         "skip_prk_steps":true,"steps_offset":1,"trained_betas":null}
        """);

    public static SchedulerConfig Parse(string json)
    {
        var node = JsonNode.Parse(QuoteNonFiniteLiterals(json)) as JsonObject ?? throw new FormatException("scheduler config is not a JSON object");
        var d = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var kv in node) d[kv.Key] = kv.Value?.DeepClone();
        return new SchedulerConfig(d);
    }

    /// <summary>
    /// Python's json.dump writes -inf as the bare token -Infinity (DPM-Solver's lambda_min_clipped); System.Text.Json
    /// rejects it, so bare NaN/Infinity/-Infinity outside strings become strings (GetDouble parses them back).
    /// </summary>
    public static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("Infinity", StringComparison.Ordinal) && !json.Contains("NaN", StringComparison.Ordinal)) return json;
        var sb = new System.Text.StringBuilder(json.Length + 16);
        bool inString = false;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            if (inString)
            {
                sb.Append(c);
                if (c == '\\' && i + 1 < json.Length) sb.Append(json[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"') { inString = true; sb.Append(c); continue; }
            string? token = null;
            foreach (var t in (ReadOnlySpan<string>)["-Infinity", "Infinity", "NaN"])
                if (string.CompareOrdinal(json, i, t, 0, t.Length) == 0) { token = t; break; }
            if (token is null) { sb.Append(c); continue; }
            sb.Append('"').Append(token).Append('"');
            i += token.Length - 1;
        }
        return sb.ToString();
    }

    public static SchedulerConfig Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>A copy with <paramref name="overrides"/> applied (values: bool, number, string or null).</summary>
    public SchedulerConfig With(IEnumerable<KeyValuePair<string, object?>> overrides)
    {
        var d = new Dictionary<string, JsonNode?>(_values.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())), StringComparer.Ordinal);
        foreach (var kv in overrides) d[kv.Key] = kv.Value is null ? null : JsonNode.Parse(JsonSerializer.Serialize(kv.Value));
        return new SchedulerConfig(d);
    }

    public SchedulerConfig With(string key, object? value) => With([KeyValuePair.Create(key, value)]);

    public bool Has(string key) => _values.TryGetValue(key, out var v) && v is not null;

    public string? ClassName => GetString("_class_name", null);

    public double GetDouble(string key, double fallback)
    {
        if (!_values.TryGetValue(key, out var v) || v is null) return fallback;
        if (v is JsonValue jv)
        {
            if (jv.TryGetValue(out double d)) return d;
            if (jv.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        }
        throw new FormatException($"scheduler config: '{key}' is not a number");
    }

    public int GetInt(string key, int fallback) => checked((int)GetDouble(key, fallback));

    public bool GetBool(string key, bool fallback)
    {
        if (!_values.TryGetValue(key, out var v) || v is null) return fallback;
        if (v is JsonValue jv && jv.TryGetValue(out bool b)) return b;
        throw new FormatException($"scheduler config: '{key}' is not a boolean");
    }

    public string? GetString(string key, string? fallback)
    {
        if (!_values.TryGetValue(key, out var v) || v is null) return fallback;
        if (v is JsonValue jv && jv.TryGetValue(out string? s)) return s;
        throw new FormatException($"scheduler config: '{key}' is not a string");
    }

    /// <summary><c>trained_betas</c> when given as a list of numbers, else null.</summary>
    public double[]? GetDoubleArray(string key)
    {
        if (!_values.TryGetValue(key, out var v) || v is not JsonArray a) return null;
        return a.Select(x => x!.GetValue<double>()).ToArray();
    }

    /// <summary>An integer list (e.g. UniPC's <c>disable_corrector</c>); empty when absent.</summary>
    public int[] GetIntArray(string key)
    {
        if (!_values.TryGetValue(key, out var v) || v is not JsonArray a) return [];
        return a.Select(x => (int)x!.GetValue<double>()).ToArray();
    }

    public string ToJson() => new JsonObject(_values.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone()))).ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
