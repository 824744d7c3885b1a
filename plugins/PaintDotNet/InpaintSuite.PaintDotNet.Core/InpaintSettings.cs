using System.Globalization;
using System.Text;
using System.Text.Json;

namespace InpaintSuite.PaintDotNet.Core;

/// <summary>
/// What the user set in the effect dialog. Paint.NET keeps the effect's token for Repeat (Ctrl+F) and
/// between sessions; <see cref="Serialize"/>/<see cref="Parse"/> turn it into a string and back exactly.
/// </summary>
public sealed record InpaintSettings
{
    /// <summary>Bumped when a field changes meaning; unknown fields are ignored, so adding one is not a bump.</summary>
    public const int FormatVersion = 1;

    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    /// <summary>"auto", "content-aware", "fill" or an installed model's name.</summary>
    public string Engine { get; init; } = "auto";
    /// <summary>0..1; 1 = repaint the selection completely.</summary>
    public float Strength { get; init; } = 1f;
    /// <summary>0 = the engine's default.</summary>
    public int Steps { get; init; }
    /// <summary>"" = the model's default (its scheduler_config.json), else one of <see cref="Schedulers"/>.</summary>
    public string Scheduler { get; init; } = "";

    /// <summary>The daemon's scheduler names (Capabilities.schedulers), offered in the dialog.</summary>
    public static IReadOnlyList<string> Schedulers { get; } =
        ["ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "lcm", "pndm", "unipc", "ddpm"];
    /// <summary>Null = a new random seed each run (the seed used is reported).</summary>
    public ulong? Seed { get; init; }
    /// <summary>Grow (+) or shrink (-) the selection in px before filling.</summary>
    public int Grow { get; init; }
    /// <summary>Feather of the blend edge in px.</summary>
    public float Feather { get; init; } = 4f;
    /// <summary>Context around the hole sent to the daemon, px; null = automatic (see <see cref="InpaintPlanner"/>).</summary>
    public int? ContextPadding { get; init; }
    /// <summary>Daemon address: http://127.0.0.1:50151 (h2c, loopback) or https://host:port for a daemon serving TLS.</summary>
    public string DaemonAddress { get; init; } = DefaultDaemonAddress;

    public const string DefaultDaemonAddress = "http://127.0.0.1:50151";

    /// <summary>Checks ranges; returns the first problem in words, or null.</summary>
    public string? Validate()
    {
        if (!(Strength >= 0f && Strength <= 1f)) return $"strength must be between 0 and 1 (got {Strength.ToString(CultureInfo.InvariantCulture)})";
        if (Steps < 0 || Steps > 1000) return $"steps must be between 0 and 1000 (got {Steps})";
        if (!(Feather >= 0f && Feather <= 256f)) return $"feather must be between 0 and 256 px (got {Feather.ToString(CultureInfo.InvariantCulture)})";
        if (Grow < -256 || Grow > 256) return $"grow must be between -256 and 256 px (got {Grow})";
        if (ContextPadding is < 0 or > 4096) return $"context padding must be between 0 and 4096 px (got {ContextPadding})";
        if (string.IsNullOrWhiteSpace(Engine)) return "engine must not be empty";
        if (Scheduler.Length > 0 && !Schedulers.Contains(Scheduler)) return $"scheduler '{Scheduler}' is unknown (known: {string.Join(", ", Schedulers)})";
        if (!Uri.TryCreate(DaemonAddress, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https"))
            return $"daemon address must be an http:// or https:// URL (got '{DaemonAddress}')";
        return null;
    }

    public string Serialize() => Encoding.UTF8.GetString(ToBytes());

    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("v", FormatVersion);
            w.WriteString("prompt", Prompt);
            w.WriteString("negativePrompt", NegativePrompt);
            w.WriteString("engine", Engine);
            w.WriteNumber("strength", Strength);
            w.WriteNumber("steps", Steps);
            if (Scheduler.Length > 0) w.WriteString("scheduler", Scheduler);
            // As a string: a ulong seed does not survive a JSON reader that goes through double.
            if (Seed is { } s) w.WriteString("seed", s.ToString(CultureInfo.InvariantCulture));
            w.WriteNumber("grow", Grow);
            w.WriteNumber("feather", Feather);
            if (ContextPadding is { } p) w.WriteNumber("contextPadding", p);
            w.WriteString("daemon", DaemonAddress);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    public static InpaintSettings Parse(string text) => FromBytes(Encoding.UTF8.GetBytes(text));

    /// <summary>Reads a token; missing fields keep their defaults, so older tokens still load.</summary>
    public static InpaintSettings FromBytes(ReadOnlySpan<byte> utf8)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(utf8.ToArray()); }
        catch (JsonException e) { throw new FormatException("InpaintSuite settings are not valid JSON: " + e.Message, e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("InpaintSuite settings must be a JSON object");
            if (root.TryGetProperty("v", out var v) && v.GetInt32() > FormatVersion)
                throw new FormatException($"InpaintSuite settings format {v.GetInt32()} is newer than this plugin ({FormatVersion})");
            var s = new InpaintSettings();
            try
            {
                if (root.TryGetProperty("prompt", out var e)) s = s with { Prompt = e.GetString() ?? "" };
                if (root.TryGetProperty("negativePrompt", out e)) s = s with { NegativePrompt = e.GetString() ?? "" };
                if (root.TryGetProperty("engine", out e)) s = s with { Engine = e.GetString() ?? "auto" };
                if (root.TryGetProperty("strength", out e)) s = s with { Strength = e.GetSingle() };
                if (root.TryGetProperty("steps", out e)) s = s with { Steps = e.GetInt32() };
                if (root.TryGetProperty("scheduler", out e)) s = s with { Scheduler = e.GetString() ?? "" };
                if (root.TryGetProperty("seed", out e))
                    s = s with { Seed = e.ValueKind == JsonValueKind.Null ? null : ulong.Parse(e.GetString() ?? "", NumberStyles.None, CultureInfo.InvariantCulture) };
                if (root.TryGetProperty("grow", out e)) s = s with { Grow = e.GetInt32() };
                if (root.TryGetProperty("feather", out e)) s = s with { Feather = e.GetSingle() };
                if (root.TryGetProperty("contextPadding", out e)) s = s with { ContextPadding = e.ValueKind == JsonValueKind.Null ? null : e.GetInt32() };
                if (root.TryGetProperty("daemon", out e)) s = s with { DaemonAddress = e.GetString() ?? DefaultDaemonAddress };
            }
            catch (Exception ex) when (ex is InvalidOperationException or FormatException or OverflowException)
            {
                throw new FormatException("InpaintSuite settings have a field of the wrong type: " + ex.Message, ex);
            }
            return s;
        }
    }
}
