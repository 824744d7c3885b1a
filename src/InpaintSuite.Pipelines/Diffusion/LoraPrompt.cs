using System.Globalization;
using System.Text.RegularExpressions;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>
/// A1111's extra-network prompt syntax for LoRAs: <c>&lt;lora:name&gt;</c> (multiplier 1) or <c>&lt;lora:name:0.8&gt;</c>
/// (<c>lyco</c> is accepted as a synonym). The tags are removed from the prompt before tokenizing and become LoRA
/// requests. Separate text-encoder/UNet multipliers (<c>&lt;lora:name:0.8:0.5&gt;</c>) are refused rather than half-applied.
/// </summary>
public static partial class LoraPrompt
{
    [GeneratedRegex(@"<(?:lora|lyco):([^:<>]+)(?::([^<>]*))?>", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Tag();

    /// <summary>The prompt without its LoRA tags, and the tags' LoRAs in prompt order.</summary>
    public static (string Prompt, IReadOnlyList<LoraWeight> Loras) Extract(string prompt, string field = "settings.prompt")
    {
        if (string.IsNullOrEmpty(prompt) || !prompt.Contains('<', StringComparison.Ordinal)) return (prompt ?? "", []);
        var loras = new List<LoraWeight>();
        var stripped = Tag().Replace(prompt, m =>
        {
            string name = m.Groups[1].Value.Trim();
            float multiplier = 1f;
            if (m.Groups[2].Success)
            {
                var args = m.Groups[2].Value.Split(':');
                if (args.Length > 1)
                    throw new InvalidRequestException(field, $"{m.Value}: separate text-encoder and UNet multipliers are not supported; give one multiplier, e.g. <lora:{name}:0.8>");
                if (!float.TryParse(args[0].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out multiplier) || !float.IsFinite(multiplier))
                    throw new InvalidRequestException(field, $"{m.Value}: '{args[0]}' is not a multiplier (a number such as 0.8)");
            }
            if (name.Length == 0) throw new InvalidRequestException(field, $"{m.Value}: the LoRA name is empty");
            loras.Add(new LoraWeight(name, multiplier));
            return "";
        });
        return (loras.Count == 0 ? prompt : MultipleSpaces().Replace(stripped, " ").Trim(), loras);
    }

    [GeneratedRegex(@"[ \t]{2,}")]
    private static partial Regex MultipleSpaces();
}
