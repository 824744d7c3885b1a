using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace InpaintSuite.Runtime.Models.Install;

/// <summary>
/// models/manifest.json: the model sets InpaintSuite knows how to install. Each set is one folder in
/// the standard diffusers ONNX layout (model_index.json, unet/model.onnx, ...).
/// </summary>
public sealed record ModelManifest
{
    public int Version { get; init; } = 1;

    /// <summary>
    /// Default download location. An http(s) URL is a Hugging Face-style mirror, files at
    /// <c>{base}/{repo}/resolve/{revision}/{path}</c>, or a template with those placeholders (and
    /// <c>{name}</c>); a local folder (or file:// URL) holds <c>{folder}/{name}/{path}</c>.
    /// </summary>
    public string? BaseUrl { get; init; }

    public IReadOnlyList<ModelSet> Models { get; init; } = [];

    public ModelSet? Find(string name) => Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static ModelManifest Parse(string json)
    {
        ModelManifest? m;
        try { m = JsonSerializer.Deserialize<ModelManifest>(json, Json); }
        catch (JsonException e) { throw new ModelInstallException($"model manifest is not valid: {OneLine(e.Message)}", e); }
        if (m == null) throw new ModelInstallException("model manifest is empty");
        foreach (var set in m.Models) set.Validate();
        var dup = m.Models.GroupBy(s => s.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ModelInstallException($"model manifest lists '{dup.Key}' twice");
        return m;
    }

    public static ModelManifest Load(string path)
    {
        try { return Parse(File.ReadAllText(path)); }
        catch (IOException e) { throw new ModelInstallException($"cannot read model manifest {path}: {OneLine(e.Message)}", e); }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// A manifest entry for a model folder on disk (e.g. one exported with Optimum): every file with
    /// its size and SHA-256. Paste it into a manifest to make the folder installable elsewhere.
    /// </summary>
    public static ModelSet Describe(string folder, string name, string kind, string dtype, string license = "", string repo = "", string revision = "")
    {
        if (!Directory.Exists(folder)) throw new ModelInstallException($"{folder} is not a folder");
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/'))
            .Where(p => !p.StartsWith('.') && !p.Contains("/.", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(p => new ModelFile { Path = p, Size = new FileInfo(Path.Combine(folder, p)).Length, Sha256 = HashFile(Path.Combine(folder, p)) })
            .ToList();
        return new ModelSet { Name = name, Kind = kind, Dtype = dtype, License = license, Source = new ModelSource { Repo = repo, Revision = revision }, Files = files };
    }

    public static string HashFile(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    internal static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}

public sealed record ModelSet
{
    public required string Name { get; init; }
    /// <summary>inpaint, img2img, depth or depth-estimator.</summary>
    public required string Kind { get; init; }
    /// <summary>fp16 or fp32.</summary>
    public string Dtype { get; init; } = "fp32";
    public string License { get; init; } = "";
    public string? Description { get; init; }
    public ModelSource Source { get; init; } = new();
    /// <summary>How the ONNX files were made from the source repository (for entries still to be filled).</summary>
    public string? Export { get; init; }
    public IReadOnlyList<ModelFile> Files { get; init; } = [];

    public long? TotalSize => Files.All(f => f.Size.HasValue) ? Files.Sum(f => f.Size!.Value) : null;

    /// <summary>Files whose size or SHA-256 the manifest does not know yet.</summary>
    public IEnumerable<ModelFile> Unverified => Files.Where(f => f.Sha256 is null || f.Size is null);

    public static readonly string[] Kinds = ["inpaint", "img2img", "depth", "depth-estimator"];

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name) || Name.StartsWith('.') || Name.IndexOfAny(['/', '\\', ':']) >= 0 || Name.Contains("..", StringComparison.Ordinal))
            throw new ModelInstallException($"model name '{Name}' is not a plain folder name");
        if (!Kinds.Contains(Kind)) throw new ModelInstallException($"model '{Name}': kind '{Kind}' is not one of {string.Join(", ", Kinds)}");
        if (Dtype is not ("fp16" or "fp32")) throw new ModelInstallException($"model '{Name}': dtype '{Dtype}' is not fp16 or fp32");
        if (Files.Count == 0) throw new ModelInstallException($"model '{Name}' lists no files");
        foreach (var f in Files)
        {
            if (string.IsNullOrWhiteSpace(f.Path) || Path.IsPathRooted(f.Path) || f.Path.Contains('\\') || f.Path.Split('/').Any(p => p is "" or "." or ".." || p.StartsWith('.')))
                throw new ModelInstallException($"model '{Name}': file path '{f.Path}' must be relative, with '/' and no '.'/'..' parts");
            if (f.Sha256 is { } h && (h.Length != 64 || !h.All(Uri.IsHexDigit)))
                throw new ModelInstallException($"model '{Name}': sha256 of {f.Path} is not 64 hex digits");
            if (f.Size is < 0) throw new ModelInstallException($"model '{Name}': size of {f.Path} is negative");
        }
        if (Files.Select(f => f.Path).Distinct(StringComparer.Ordinal).Count() != Files.Count)
            throw new ModelInstallException($"model '{Name}' lists a file twice");
    }
}

public sealed record ModelSource
{
    /// <summary>Source repository id, e.g. "stabilityai/stable-diffusion-2-inpainting".</summary>
    public string Repo { get; init; } = "";
    /// <summary>Commit or branch the files come from.</summary>
    public string Revision { get; init; } = "main";
}

public sealed record ModelFile
{
    public required string Path { get; init; }
    /// <summary>Bytes; null = not known yet (the entry is then refused unless unverified installs are allowed).</summary>
    public long? Size { get; init; }
    /// <summary>Lower-case hex; null = not known yet.</summary>
    public string? Sha256 { get; init; }
}

/// <summary>An install/verify/remove failure. <see cref="Exception.Message"/> is one line, fit for the CLI as it is.</summary>
public sealed class ModelInstallException(string message, Exception? inner = null) : Exception(ModelManifest.OneLine(message), inner);
