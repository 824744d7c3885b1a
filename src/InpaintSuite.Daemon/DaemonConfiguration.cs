using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;

namespace InpaintSuite.Daemon;

/// <summary>A configuration value that cannot be used: names the key and where it came from. The CLI exits 2 on it.</summary>
public sealed class DaemonConfigurationException(string message) : Exception(message);

/// <summary>Where one effective <see cref="DaemonOptions"/> value came from.</summary>
public sealed record ConfigEntry(string Key, string Value, string Source, bool Secret);

/// <summary>What the layers are made of; tests pass their own, the CLI uses <see cref="FromProcess"/>.</summary>
public sealed class DaemonConfigInputs
{
    /// <summary>Optional appsettings.json files, lowest precedence first (missing ones are skipped).</summary>
    public IReadOnlyList<string> OptionalFiles { get; init; } = [];

    /// <summary>A file the user named (--config): must exist.</summary>
    public string? RequiredFile { get; init; }

    /// <summary>Environment variables (name to value); only INPAINTSUITE_* are read.</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>Command-line values by option key (e.g. "GrpcPort"), each with the flag that set it (e.g. "--port").</summary>
    public IReadOnlyList<(string Key, string Value, string Flag)> CommandLine { get; init; } = [];

    /// <summary>appsettings.json beside the executable, then the user's config folder; the process environment.</summary>
    public static DaemonConfigInputs FromProcess(string? configFile, IReadOnlyList<(string Key, string Value, string Flag)> commandLine)
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            env[(string)e.Key] = e.Value as string;
        return new DaemonConfigInputs
        {
            OptionalFiles = [Path.Combine(AppContext.BaseDirectory, DaemonConfiguration.FileName), Path.Combine(DaemonAuth.ConfigDirectory(), DaemonConfiguration.FileName)],
            RequiredFile = configFile,
            Environment = env,
            CommandLine = commandLine,
        };
    }
}

/// <summary>
/// Layered settings for the daemon: defaults &lt; appsettings.json (beside the executable, then the
/// user's config folder, then --config FILE) &lt; environment (INPAINTSUITE_Daemon__Key; the older
/// INPAINTSUITE_MODELS too) &lt; command line. The "Daemon" section is bound onto every settable
/// public property of <see cref="DaemonOptions"/> of a simple type, so properties added later are
/// configurable without changes here. Values are checked here (type, [Range], unknown keys), so a
/// bad one stops the start with one line naming the key and its source.
/// </summary>
public static class DaemonConfiguration
{
    public const string FileName = "appsettings.json";
    public const string Section = "Daemon";
    public const string EnvironmentPrefix = "INPAINTSUITE_";
    private const string DefaultSource = "default";

    private sealed record Layer(string Label, IConfigurationProvider Provider, Func<string, string>? KeySource = null)
    {
        public string SourceOf(string key) => KeySource?.Invoke(key) ?? Label;
    }

    /// <summary>The bindable properties: settable, public, of a type with a text form.</summary>
    public static IReadOnlyList<PropertyInfo> Properties { get; } = typeof(DaemonOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.SetMethod!.IsPublic && p.GetIndexParameters().Length == 0 && IsSimple(p.PropertyType))
        .ToList();

    /// <summary>Binds the layers onto a new <see cref="DaemonOptions"/>; <paramref name="entries"/> says where each value came from.</summary>
    public static DaemonOptions Load(DaemonConfigInputs inputs, out IReadOnlyList<ConfigEntry> entries)
    {
        var layers = BuildLayers(inputs);
        var options = new DaemonOptions();
        var byName = Properties.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        var allProperties = typeof(DaemonOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

        // Unknown keys (and nested sections under a value) fail with the layer that has them.
        foreach (var layer in layers)
        {
            foreach (var child in layer.Provider.GetChildKeys([], Section).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                string key = $"{Section}:{child}";
                if (!byName.TryGetValue(child, out var prop))
                {
                    var why = allProperties.ContainsKey(child) ? "cannot be set from configuration"
                        : ClosestName(child) is { } near ? $"is not a known setting (did you mean {near}?)"
                        : "is not a known setting (known: " + string.Join(", ", Properties.Select(p => p.Name)) + ")";
                    throw new DaemonConfigurationException($"configuration: {key} ({layer.SourceOf(key)}) {why}");
                }
                if (layer.Provider.GetChildKeys([], key).Any())
                    throw new DaemonConfigurationException($"configuration: {key} ({layer.SourceOf(key)}) must be a single value, not a section");
            }
        }

        var list = new List<ConfigEntry>();
        foreach (var prop in Properties)
        {
            string key = $"{Section}:{prop.Name}";
            string source = DefaultSource;
            for (int i = layers.Count - 1; i >= 0; i--)
            {
                if (!layers[i].Provider.TryGet(key, out var raw) || raw == null) continue;
                source = layers[i].SourceOf(key);
                object? value;
                try
                {
                    value = ConfigValueParser.Parse(raw, prop.PropertyType);
                }
                catch (FormatException e)
                {
                    throw new DaemonConfigurationException($"configuration: {key} = '{raw}' ({source}) {e.Message}");
                }
                CheckRange(prop, value, key, raw, source);
                prop.SetValue(options, value);
                break;
            }
            list.Add(new ConfigEntry(key, ConfigValueParser.Format(prop.GetValue(options)), source, IsSecret(prop.Name)));
        }
        entries = list;
        Validate(options, list);
        return options;
    }

    /// <summary>Checks that depend on more than one value's type (address form, TLS files), naming the key and its source.</summary>
    private static void Validate(DaemonOptions options, IReadOnlyList<ConfigEntry> entries)
    {
        string SourceOf(string name) => entries.FirstOrDefault(e => e.Key == $"{Section}:{name}")?.Source ?? DefaultSource;
        try
        {
            DaemonHost.ParseHost(options.Host);
        }
        catch (ArgumentException)
        {
            throw new DaemonConfigurationException($"configuration: {Section}:Host = '{options.Host}' ({SourceOf(nameof(DaemonOptions.Host))}) is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)");
        }
        foreach (var (name, problem) in DaemonOptionsCheck.Problems(options))
            throw new DaemonConfigurationException($"configuration: {Section}:{name} ({SourceOf(name)}) {problem}");
    }

    private static void CheckRange(PropertyInfo prop, object? value, string key, string raw, string source)
    {
        if (value == null) return;
        foreach (var range in prop.GetCustomAttributes<RangeAttribute>())
        {
            if (!range.IsValid(value))
                throw new DaemonConfigurationException($"configuration: {key} = '{raw}' ({source}) is out of range: must be {range.Minimum}..{range.Maximum}");
        }
    }

    /// <summary>Secrets are shown as "(set)" by --print-config.</summary>
    public static bool IsSecret(string name) =>
        name.EndsWith("Token", StringComparison.Ordinal) || name.Contains("Password", StringComparison.Ordinal) || name.Contains("Secret", StringComparison.Ordinal);

    /// <summary>The effective configuration, one "key = value  (source)" line each, secrets redacted.</summary>
    public static string Describe(IReadOnlyList<ConfigEntry> entries, DaemonConfigInputs inputs)
    {
        var sb = new StringBuilder();
        sb.Append("# configuration files (lowest precedence first):\n");
        foreach (var f in inputs.OptionalFiles) sb.Append("#   ").Append(f).Append(File.Exists(f) ? "" : "  (absent)").Append('\n');
        if (inputs.RequiredFile != null) sb.Append("#   ").Append(Path.GetFullPath(inputs.RequiredFile)).Append("  (--config)\n");
        int width = entries.Max(e => e.Key.Length + 3 + Shown(e).Length);
        foreach (var e in entries)
        {
            string line = $"{e.Key} = {Shown(e)}";
            sb.Append(line.PadRight(width)).Append("  # ").Append(e.Source).Append(e.Secret ? "" : Readable(e)).Append('\n');
        }
        return sb.ToString();

        static string Shown(ConfigEntry e) => e.Secret && e.Value.Length > 0 ? "(set, redacted)" : e.Value.Length == 0 ? "(none)" : e.Value;

        // Byte counts also in binary units (in the comment, so the value stays what a file would hold).
        static string Readable(ConfigEntry e)
        {
            if (!(e.Key.Contains("Bytes", StringComparison.Ordinal) || e.Key.Contains("Memory", StringComparison.Ordinal) || e.Key.Contains("Budget", StringComparison.Ordinal))
                || !long.TryParse(e.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1024 * 1024) return "";
            return n >= 1L << 30 ? $"; = {(n / (double)(1L << 30)).ToString("0.##", CultureInfo.InvariantCulture)} GiB" : $"; = {(n / (double)(1 << 20)).ToString("0.##", CultureInfo.InvariantCulture)} MiB";
        }
    }

    private static List<Layer> BuildLayers(DaemonConfigInputs inputs)
    {
        var builder = new ConfigurationBuilder();
        var labels = new List<(string Label, Func<string, string>? KeySource)>();
        foreach (var f in inputs.OptionalFiles)
        {
            builder.AddJsonFile(Path.GetFullPath(f), optional: true, reloadOnChange: false);
            labels.Add(($"file {Path.GetFullPath(f)}", null));
        }
        if (inputs.RequiredFile != null)
        {
            var full = Path.GetFullPath(inputs.RequiredFile);
            if (!File.Exists(full)) throw new DaemonConfigurationException($"configuration: --config file not found: {full}");
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
            labels.Add(($"--config {full}", null));
        }

        // The environment by hand (not the stock provider) so each key knows its variable's exact name.
        var legacy = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (inputs.Environment.TryGetValue(EnvironmentPrefix + "MODELS", out var models) && !string.IsNullOrEmpty(models))
            legacy[$"{Section}:{nameof(DaemonOptions.ModelsDirectory)}"] = models;
        builder.Add(new MemoryConfigurationSource { InitialData = legacy });
        labels.Add(($"env {EnvironmentPrefix}MODELS", null));

        var env = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var envNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in inputs.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) || value == null) continue;
            var key = name[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal);
            if (!key.StartsWith(Section + ":", StringComparison.OrdinalIgnoreCase)) continue;
            env[key] = value;
            envNames[key] = name;
        }
        builder.Add(new MemoryConfigurationSource { InitialData = env });
        labels.Add(("env", k => "env " + (envNames.TryGetValue(k, out var n) ? n
            : envNames.FirstOrDefault(kv => kv.Key.StartsWith(k + ":", StringComparison.OrdinalIgnoreCase)).Value ?? k)));

        var cli = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var flags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value, flag) in inputs.CommandLine)
        {
            cli[$"{Section}:{key}"] = value;
            flags[$"{Section}:{key}"] = flag;
        }
        builder.Add(new MemoryConfigurationSource { InitialData = cli });
        labels.Add(("command line", k => "command line " + (flags.TryGetValue(k, out var f) ? f : k)));

        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            throw new DaemonConfigurationException("configuration: " + OneLine(e));
        }
        return root.Providers.Select((p, i) => new Layer(labels[i].Label, p, labels[i].KeySource)).ToList();
    }

    /// <summary>A known name within a few edits of a misspelt one (MaxPixel, Workres, grpc_port).</summary>
    private static string? ClosestName(string name)
    {
        static string Norm(string s) => s.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).ToLowerInvariant();
        var (best, distance) = Properties.Select(p => (p.Name, Distance: Levenshtein(Norm(name), Norm(p.Name)))).MinBy(x => x.Distance);
        return distance <= Math.Max(1, Math.Min(3, name.Length / 4)) ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    private static string OneLine(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x != null; x = x.InnerException) parts.Add(x.Message.ReplaceLineEndings(" ").Trim());
        return string.Join(": ", parts.Distinct());
    }

    private static bool IsSimple(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(decimal);
    }
}

/// <summary>Text to a property's type, with friendly sizes ("512MiB", "8192x8192") and durations ("5s", "250ms").</summary>
public static class ConfigValueParser
{
    public static object? Parse(string raw, Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        var s = raw.Trim();
        if (underlying != null)
        {
            if (s.Length == 0 || s.Equals("null", StringComparison.OrdinalIgnoreCase) || s.Equals("none", StringComparison.OrdinalIgnoreCase)) return null;
            type = underlying;
        }
        if (type == typeof(string)) return raw.Length == 0 ? null : raw;
        if (type == typeof(bool))
        {
            return s.ToLowerInvariant() switch
            {
                "true" or "yes" or "on" or "1" => true,
                "false" or "no" or "off" or "0" => false,
                _ => throw new FormatException("is not a boolean (true/false)"),
            };
        }
        if (type == typeof(TimeSpan)) return ParseDuration(s);
        if (type.IsEnum)
        {
            if (Enum.TryParse(type, s, ignoreCase: true, out var e) && Enum.IsDefined(type, e!) && !s.All(char.IsAsciiDigit)) return e;
            throw new FormatException("is not one of " + string.Join(", ", Enum.GetNames(type)));
        }
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !double.IsFinite(d))
                throw new FormatException("is not a finite number");
            return Convert.ChangeType(d, type, CultureInfo.InvariantCulture);
        }
        // Integers: plain, sizes (K/M/G, KiB/MiB/GiB = 1024ⁿ, KB/MB/GB = 1000ⁿ) or WxH products.
        var n = ParseInteger(s);
        try
        {
            return Convert.ChangeType(n, type, CultureInfo.InvariantCulture);
        }
        catch (OverflowException)
        {
            throw new FormatException($"does not fit a {type.Name}");
        }
    }

    internal static decimal ParseInteger(string s)
    {
        var x = s.IndexOfAny(['x', 'X', '×']);
        if (x > 0)
        {
            if (!long.TryParse(s.AsSpan(0, x).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var w)
                || !long.TryParse(s.AsSpan(x + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var h))
                throw new FormatException("is not an integer, a size (512MiB) or WxH (8192x8192)");
            return (decimal)w * h;
        }
        int end = s.Length;
        while (end > 0 && char.IsAsciiLetter(s[end - 1])) end--;
        var number = s[..end].Trim().Replace("_", "", StringComparison.Ordinal);
        var unit = s[end..];
        if (!decimal.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            throw new FormatException("is not an integer, a size (512MiB) or WxH (8192x8192)");
        decimal scale = unit.ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KIB" => 1024m,
            "M" or "MIB" => 1024m * 1024,
            "G" or "GIB" => 1024m * 1024 * 1024,
            "T" or "TIB" => 1024m * 1024 * 1024 * 1024,
            "KB" => 1000m,
            "MB" => 1000m * 1000,
            "GB" => 1000m * 1000 * 1000,
            "TB" => 1000m * 1000 * 1000 * 1000,
            _ => throw new FormatException($"has an unknown unit '{unit}' (K, M, G, KiB, MiB, GiB, KB, MB, GB)"),
        };
        var result = value * scale;
        if (result != decimal.Truncate(result)) throw new FormatException("is not a whole number");
        return result;
    }

    public static TimeSpan ParseDuration(string s)
    {
        if (TimeSpan.TryParseExact(s, "c", CultureInfo.InvariantCulture, out var ts) && s.Contains(':', StringComparison.Ordinal)) return ts;
        int end = s.Length;
        while (end > 0 && char.IsAsciiLetter(s[end - 1])) end--;
        if (!double.TryParse(s[..end].Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new FormatException("is not a duration (e.g. 5s, 250ms, 2m, 1h or 00:00:05)");
        return s[end..].ToLowerInvariant() switch
        {
            "ms" => TimeSpan.FromMilliseconds(v),
            "s" or "" => TimeSpan.FromSeconds(v),
            "m" or "min" => TimeSpan.FromMinutes(v),
            "h" => TimeSpan.FromHours(v),
            var u => throw new FormatException($"has an unknown unit '{u}' (ms, s, m, h)"),
        };
    }

    public static string Format(object? value) => value switch
    {
        null => "",
        TimeSpan t when t.TotalMilliseconds % 1000 != 0 || t == TimeSpan.Zero => $"{t.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms",
        TimeSpan t => $"{t.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
