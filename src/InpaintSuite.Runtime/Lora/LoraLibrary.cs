namespace InpaintSuite.Runtime.Lora;

/// <summary>One LoRA file in the folder, described from its header.</summary>
/// <param name="Name">The file name without .safetensors: what requests and <c>&lt;lora:name:m&gt;</c> use.</param>
/// <param name="Error">Why the file cannot be used (corrupt header); null when it can.</param>
public sealed record LoraInfo(string Name, string Path, long Bytes, string Format, LoraArchitecture Architecture, string ArchitectureSource, int Modules, int TextEncoderModules, int Rank, string? Error)
{
    public string ArchitectureName => LoraFile.Describe(Architecture);
}

/// <summary>
/// The LoRA folder (by default <c>loras/</c> beside the models folder): every <c>*.safetensors</c> in it (sub-folders
/// included, named by their relative path with '/'), looked up by name case-insensitively. It is read again whenever
/// it is listed or a name is not found, so a file copied in is usable by the next request without a restart; a file
/// replaced in place gets a new identity (size and write time are in <see cref="LoraRef"/>).
/// </summary>
public sealed class LoraLibrary(string directory)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (long Length, long Ticks, LoraInfo Info)> _headers = new(StringComparer.Ordinal);

    public string Directory { get; } = System.IO.Path.GetFullPath(directory);

    /// <summary>The default folder: INPAINTSUITE_LORAS, else <c>loras</c> beside <paramref name="modelsDirectory"/>.</summary>
    public static string DefaultDirectory(string modelsDirectory) =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_LORAS") is { Length: > 0 } d
            ? d
            : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(modelsDirectory))) ?? ".", "loras");

    /// <summary>Every LoRA file now in the folder, by name.</summary>
    public IReadOnlyList<LoraInfo> List()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var result = new List<LoraInfo>();
        IEnumerable<string> files;
        try { files = System.IO.Directory.EnumerateFiles(Directory, "*.safetensors", SearchOption.AllDirectories).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
        foreach (var path in files.Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(path);
            if (!info.Exists) continue;
            lock (_lock)
                if (_headers.TryGetValue(path, out var c) && c.Length == info.Length && c.Ticks == info.LastWriteTimeUtc.Ticks) { result.Add(c.Info); continue; }
            var described = Describe(path, NameOf(path), info.Length);
            lock (_lock) _headers[path] = (info.Length, info.LastWriteTimeUtc.Ticks, described);
            result.Add(described);
        }
        return result;
    }

    private string NameOf(string path)
    {
        var rel = System.IO.Path.GetRelativePath(Directory, path).Replace('\\', '/');
        return rel.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? rel[..^".safetensors".Length] : rel;
    }

    private static LoraInfo Describe(string path, string name, long bytes)
    {
        try
        {
            var s = LoraFile.Summarize(path);
            return new LoraInfo(name, path, bytes, s.Format, s.Architecture, s.ArchitectureSource, s.Modules, s.TextEncoderModules, s.Rank, s.Modules == 0 ? "no LoRA modules (lora_down/lora_up or lora_A/lora_B keys) in the file" : null);
        }
        catch (Exception e) when (e is SafetensorsFormatException or IOException or UnauthorizedAccessException)
        {
            return new LoraInfo(name, path, bytes, "", LoraArchitecture.Unknown, "", 0, 0, 0, e.Message);
        }
    }

    /// <summary>The file for <paramref name="name"/> (case-insensitive, ".safetensors" optional), or null.</summary>
    public LoraInfo? Find(string name)
    {
        var n = name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? name[..^".safetensors".Length] : name;
        return List().FirstOrDefault(i => string.Equals(i.Name, n, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Resolves requested names to files; throws <see cref="LoraNotFoundException"/> naming what is installed.</summary>
    public IReadOnlyList<(LoraInfo Info, LoraRef Ref)> Resolve(IEnumerable<(string Name, float Multiplier)> requested)
    {
        var result = new List<(LoraInfo, LoraRef)>();
        foreach (var (name, multiplier) in requested)
        {
            var info = Find(name);
            if (info == null)
            {
                var installed = List().Select(i => i.Name).ToList();
                throw new LoraNotFoundException(name, $"LoRA '{name}' is not in {Directory} (installed: {(installed.Count > 0 ? string.Join(", ", installed) : "none")})");
            }
            if (info.Error != null) throw new LoraException($"LoRA '{info.Name}' cannot be used: {info.Error}");
            result.Add((info, LoraRef.ForFile(info.Name, info.Path, multiplier)));
        }
        return result;
    }
}

/// <summary>A requested LoRA name that is not in the folder.</summary>
public sealed class LoraNotFoundException(string name, string message) : LoraException(message)
{
    public string Name { get; } = name;
}
