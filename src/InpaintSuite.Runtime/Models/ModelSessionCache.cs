using System.Globalization;
using InpaintSuite.Runtime.Lora;
using InpaintSuite.Runtime.Onnx;

namespace InpaintSuite.Runtime.Models;

/// <summary>Identity of a cached session: the model file (full path), the options it was created with and the LoRAs merged in.</summary>
public readonly record struct ModelSessionKey
{
    public ModelSessionKey(string path, OrtSessionOptions? options = null, LoraStack? loras = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        Options = options ?? OrtSessionOptions.Default;
        Loras = loras is { IsEmpty: false } ? loras : null;
    }

    /// <summary>LoRAs merged into this session's weights (null = the file as it is); an empty stack is normalised to null.</summary>
    public LoraStack? Loras { get; }

    public string Path { get; }

    /// <summary>Compared by value (provider, device, threads, ...): two engines asking for the same file with equal options share one session.</summary>
    public OrtSessionOptions Options { get; }

    public override string ToString() => Loras == null ? Path : $"{Path} + LoRA {Loras}";
}

/// <summary>
/// The process-wide cache of ONNX Runtime sessions, one per component file (and session options), shared by every
/// engine. The cost of an entry is <see cref="ModelMemory.EstimateSessionBytes"/>: the bytes of its weights on disk.
/// A session with LoRAs merged (<see cref="ModelSessionKey.Loras"/>) holds a full copy of the weights, so it costs as
/// much as the plain one and both count against the same budget; the plain session stays cached beside it.
/// </summary>
public sealed class ModelSessionCache : ModelCache<ModelSessionKey, InferenceSession>
{
    /// <param name="budgetBytes">See <see cref="ModelMemory.DefaultBudget"/> for a sensible value.</param>
    public ModelSessionCache(long budgetBytes)
        : base(budgetBytes, static k => k.Loras == null ? InferenceSession.Load(k.Path, k.Options) : LoraSessions.Load(k.Path, k.Options, k.Loras),
            static k => ModelMemory.EstimateSessionBytes(k.Path))
    {
    }

    /// <summary>A cache that never evicts (tools and tests that load one model and keep it).</summary>
    public static ModelSessionCache Unbounded() => new(long.MaxValue);

    public ModelLease<InferenceSession> Acquire(string path, OrtSessionOptions? options = null, CancellationToken cancellationToken = default) =>
        Acquire(new ModelSessionKey(path, options), cancellationToken);
}

/// <summary>Memory sizes for the model cache: the cost estimate and the default budget.</summary>
public static class ModelMemory
{
    /// <summary>
    /// What a session for <paramref name="modelPath"/> is expected to hold: the .onnx file plus every external-data file
    /// its initializers name (TensorProto.external_data "location", read from the header without loading weights).
    /// ONNX Runtime copies the initializers into its own buffers (host memory on CPU, device memory on a GPU), so the
    /// weights dominate what stays resident; this is therefore close for large models and a lower bound in general:
    /// not counted are graph-optimiser pre-packed copies, the arena that keeps activation buffers between runs (it grows
    /// with image size) and transient peaks during load. A file that cannot be read counts as 0 (its load will fail).
    /// </summary>
    public static long EstimateSessionBytes(string modelPath)
    {
        long bytes = SizeOf(modelPath);
        IReadOnlyList<string> external;
        try { external = OnnxHeaderReader.Read(modelPath).ExternalDataFiles; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or FormatException or ArgumentException or EndOfStreamException) { return bytes; }
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        foreach (var name in external) bytes += SizeOf(Path.Combine(dir, name));
        return bytes;
    }

    private static long SizeOf(string path)
    {
        try { return new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException) { return 0; }
    }

    /// <summary>Physical memory (or the container's limit) as the runtime sees it.</summary>
    public static long PhysicalMemory => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Half of physical memory. On a CPU the weights live in RAM next to the editor (which holds the full-resolution
    /// canvas and its undo history) and ONNX Runtime's activation arena (not in the estimate), so half leaves room for
    /// both; on a 16 GB machine it keeps three SD 1.5 fp16 models (about 2.1 GB of weights each) or one SDXL resident.
    /// With a GPU provider the weights live in video memory instead: set the budget to fit the card.
    /// </summary>
    public static long DefaultBudget() => Math.Max(1L << 30, PhysicalMemory / 2);

    /// <summary>"1.5 GiB", "300 MiB", "12 KiB", "512 B"; long.MaxValue is "unlimited".</summary>
    public static string Format(long bytes)
    {
        if (bytes == long.MaxValue) return "unlimited";
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : v.ToString(v >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
