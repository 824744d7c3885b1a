using System.Globalization;

namespace InpaintSuite.Runtime.Lora;

/// <summary>One LoRA file at a multiplier. Length and write time are part of its identity, so a replaced file merges afresh.</summary>
public sealed record LoraRef(string Name, string Path, float Multiplier, long Length, long WriteTimeTicks)
{
    public static LoraRef ForFile(string name, string path, float multiplier)
    {
        var info = new FileInfo(path);
        return new LoraRef(name, System.IO.Path.GetFullPath(path), multiplier, info.Exists ? info.Length : -1, info.Exists ? info.LastWriteTimeUtc.Ticks : 0);
    }
}

/// <summary>
/// The exact set of LoRAs merged into one component's session: part of the session cache key, compared by value.
/// Canonical: one entry per file (multipliers of a file named twice add up, as the merge is linear), sorted by path,
/// entries at multiplier 0 dropped (W + 0·ΔW = W), so equal requests share one merged session whatever their order.
/// </summary>
public sealed class LoraStack : IEquatable<LoraStack>
{
    public LoraStack(LoraTarget target, IEnumerable<LoraRef> loras, bool lenient = false)
    {
        Target = target;
        Lenient = lenient;
        Items = loras
            .GroupBy(l => (l.Path, l.Length, l.WriteTimeTicks))
            .Select(g => g.First() with { Multiplier = g.Sum(x => x.Multiplier) })
            .Where(l => l.Multiplier != 0f)
            .OrderBy(l => l.Path, StringComparer.Ordinal)
            .ToList();
        Key = $"{target}|{(lenient ? "lenient" : "strict")}|" + string.Join(";", Items.Select(i =>
            $"{i.Path}@{i.Length}/{i.WriteTimeTicks}*{i.Multiplier.ToString("R", CultureInfo.InvariantCulture)}"));
    }

    public LoraTarget Target { get; }

    public bool Lenient { get; }

    public IReadOnlyList<LoraRef> Items { get; }

    public bool IsEmpty => Items.Count == 0;

    /// <summary>The canonical identity (target, leniency, files with their stamps and multipliers).</summary>
    public string Key { get; }

    public bool Equals(LoraStack? other) => other is not null && other.Key == Key;

    public override bool Equals(object? obj) => Equals(obj as LoraStack);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);

    /// <summary>"style×0.7 + detail×0.3" for logs and messages.</summary>
    public override string ToString() => string.Join(" + ", Items.Select(i => $"{i.Name}×{i.Multiplier.ToString("0.###", CultureInfo.InvariantCulture)}"));
}
