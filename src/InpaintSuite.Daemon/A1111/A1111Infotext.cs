using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace InpaintSuite.Daemon.A1111;

/// <summary>What one A1111 generation ran with: the source of its infotexts and of the "info" JSON string.</summary>
public sealed record A1111RunInfo
{
    public required A1111Request Request { get; init; }
    public required string SamplerName { get; init; }
    /// <summary>"Karras" or null (A1111's "Schedule type" line).</summary>
    public string? ScheduleType { get; init; }
    public required string Model { get; init; }
    public required long Seed { get; init; }
    public required long Subseed { get; init; }
    /// <summary>Seeds of the images returned, in order (seed + i for every image asked for, as A1111).</summary>
    public required IReadOnlyList<long> AllSeeds { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    public string Version { get; init; } = "";
    public string JobTimestamp { get; init; } = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
}

/// <summary>
/// A1111's infotext (create_infotext) and Processed.js(): the "info" string clients parse for seed, all_seeds, infotexts.
/// </summary>
public static class A1111Infotext
{
    public static string Create(A1111RunInfo run, int index)
    {
        var r = run.Request;
        var sb = new StringBuilder(r.Prompt);
        if (r.NegativePrompt.Length > 0) sb.Append("\nNegative prompt: ").Append(r.NegativePrompt);
        var parts = new List<(string Key, string Value)>
        {
            ("Steps", r.Steps.ToString(CultureInfo.InvariantCulture)),
            ("Sampler", run.SamplerName),
        };
        if (run.ScheduleType != null) parts.Add(("Schedule type", run.ScheduleType));
        parts.Add(("CFG scale", Num(r.CfgScale)));
        parts.Add(("Seed", (index < run.AllSeeds.Count ? run.AllSeeds[index] : run.Seed).ToString(CultureInfo.InvariantCulture)));
        parts.Add(("Size", $"{run.Width}x{run.Height}"));
        parts.Add(("Model", run.Model));
        if (r.IsImageToImage)
        {
            parts.Add(("Denoising strength", Num(r.DenoisingStrength)));
            if (r.Mask != null) parts.Add(("Mask blur", Num(r.MaskBlur)));
        }
        if (run.Version.Length > 0) parts.Add(("Version", run.Version));
        sb.Append('\n').AppendJoin(", ", parts.Select(p => $"{p.Key}: {Quote(p.Value)}"));
        return sb.ToString();
    }

    /// <summary>The "info" value: a JSON document serialised to a string, with A1111's keys.</summary>
    public static string InfoJson(A1111RunInfo run)
    {
        var r = run.Request;
        int n = run.AllSeeds.Count;
        var infotexts = new JsonArray();
        for (int i = 0; i < n; i++) infotexts.Add(Create(run, i));
        var o = new JsonObject
        {
            ["prompt"] = r.Prompt,
            ["all_prompts"] = Repeat(r.Prompt, n),
            ["negative_prompt"] = r.NegativePrompt,
            ["all_negative_prompts"] = Repeat(r.NegativePrompt, n),
            ["seed"] = run.Seed,
            ["all_seeds"] = new JsonArray([.. run.AllSeeds.Select(s => (JsonNode)s)]),
            ["subseed"] = run.Subseed,
            ["all_subseeds"] = new JsonArray([.. Enumerable.Range(0, n).Select(i => (JsonNode)(run.Subseed + i))]),
            ["subseed_strength"] = r.SubseedStrength,
            ["width"] = run.Width,
            ["height"] = run.Height,
            ["sampler_name"] = run.SamplerName,
            ["cfg_scale"] = r.CfgScale,
            ["steps"] = r.Steps,
            ["batch_size"] = r.BatchSize,
            ["restore_faces"] = false,
            ["face_restoration_model"] = null,
            ["sd_model_name"] = run.Model,
            ["sd_model_hash"] = null,
            ["sd_vae_name"] = null,
            ["sd_vae_hash"] = null,
            ["seed_resize_from_w"] = -1,
            ["seed_resize_from_h"] = -1,
            ["denoising_strength"] = r.IsImageToImage ? r.DenoisingStrength : null,
            ["extra_generation_params"] = r.IsImageToImage && r.Mask != null ? new JsonObject { ["Mask blur"] = r.MaskBlur } : new JsonObject(),
            // No grid image is returned (opts.return_grid is false here), so the first image is at 0.
            ["index_of_first_image"] = 0,
            ["infotexts"] = infotexts,
            ["styles"] = new JsonArray(),
            ["job_timestamp"] = run.JobTimestamp,
            ["clip_skip"] = 1,
            ["is_using_inpainting_conditioning"] = false,
            ["version"] = run.Version,
        };
        return o.ToJsonString();
    }

    /// <summary>A1111's parse_generation_parameters, for png-info: prompt, negative prompt and "Key: value" pairs.</summary>
    public static JsonObject Parse(string infotext)
    {
        var result = new JsonObject();
        if (string.IsNullOrEmpty(infotext)) return result;
        var lines = infotext.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        string last = lines.Count > 0 ? lines[^1] : "";
        bool hasParams = last.Contains(": ", StringComparison.Ordinal) && (last.StartsWith("Steps: ", StringComparison.Ordinal) || last.Contains(", ", StringComparison.Ordinal));
        if (hasParams) lines.RemoveAt(lines.Count - 1); else last = "";
        var prompt = new StringBuilder();
        var negative = new StringBuilder();
        bool inNegative = false;
        foreach (var line in lines)
        {
            if (line.StartsWith("Negative prompt:", StringComparison.Ordinal)) { inNegative = true; negative.Append(line["Negative prompt:".Length..].TrimStart()); continue; }
            var target = inNegative ? negative : prompt;
            if (target.Length > 0) target.Append('\n');
            target.Append(line);
        }
        result["Prompt"] = prompt.ToString();
        result["Negative prompt"] = negative.ToString();
        foreach (var (k, v) in SplitParameters(last))
        {
            if (k == "Size" && v.Split('x') is [var w, var h])
            {
                result["Size-1"] = w;
                result["Size-2"] = h;
            }
            else result[k] = v;
        }
        return result;
    }

    private static IEnumerable<(string Key, string Value)> SplitParameters(string line)
    {
        int i = 0;
        while (i < line.Length)
        {
            int colon = line.IndexOf(": ", i, StringComparison.Ordinal);
            if (colon < 0) yield break;
            var key = line[i..colon].Trim();
            int start = colon + 2;
            string value;
            if (start < line.Length && line[start] == '"')
            {
                int end = start + 1;
                var sb = new StringBuilder();
                while (end < line.Length && line[end] != '"') { if (line[end] == '\\' && end + 1 < line.Length) end++; sb.Append(line[end]); end++; }
                value = sb.ToString();
                int comma = line.IndexOf(", ", end, StringComparison.Ordinal);
                i = comma < 0 ? line.Length : comma + 2;
            }
            else
            {
                int comma = line.IndexOf(", ", start, StringComparison.Ordinal);
                value = comma < 0 ? line[start..] : line[start..comma];
                i = comma < 0 ? line.Length : comma + 2;
            }
            yield return (key, value);
        }
    }

    private static JsonArray Repeat(string s, int n) => new([.. Enumerable.Repeat(s, n).Select(x => (JsonNode)x)]);

    private static string Num(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>A1111 quotes values that contain a comma, colon or quote.</summary>
    private static string Quote(string v) =>
        v.IndexOfAny([',', ':', '"', '\n']) < 0 ? v : "\"" + v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
