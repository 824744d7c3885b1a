using InpaintSuite.Imaging;

namespace InpaintSuite.Pipelines;

/// <summary>The four user-facing operations.</summary>
public enum Operation
{
    Inpaint,
    Outpaint,
    ImageToImage,
    DepthToImage,
}

/// <summary>How the masked area is pre-filled before an engine (diffusion) repaints it.</summary>
public enum FillMode
{
    Default,
    Blur,
    Noise,
    Original,
    Border,
    ContentAware,
}

/// <summary>Engine-independent generation settings (mirrors the wire's GenerationSettings).</summary>
public sealed record GenerationSettings
{
    /// <summary>"auto", "content-aware", "fill", or an installed model's name.</summary>
    public string Engine { get; init; } = EngineNames.Auto;
    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    /// <summary>0 = engine default.</summary>
    public int Steps { get; init; }
    public float? GuidanceScale { get; init; }
    /// <summary>Null or empty = the model's default scheduler.</summary>
    public string? Scheduler { get; init; }
    /// <summary>Null = random; the seed used is reported.</summary>
    public ulong? Seed { get; init; }
    /// <summary>Null = operation default.</summary>
    public float? Strength { get; init; }
    public int BatchSize { get; init; } = 1;
}

/// <summary>Mask craft options (defaults follow A1111 / krita-ai-diffusion).</summary>
public sealed record MaskOptions
{
    /// <summary>Grow (positive) or shrink (negative) the mask in px.</summary>
    public int Grow { get; init; }
    /// <summary>
    /// Feather of the blend in px: the result is blended into the image in a band of 2 x feather px OUTSIDE the
    /// mask (inside it every fully covered pixel is replaced). Null = the engine's default: 4 for diffusion engines,
    /// 0 (no band: nothing outside the mask changes) for content-aware and fill (docs/masks-and-blending.md).
    /// </summary>
    public float? Feather { get; init; }
    public FillMode FillMode { get; init; } = FillMode.Default;
    /// <summary>Context padding around the mask box in px; null = automatic.</summary>
    public int? ContextPadding { get; init; }
    public bool WholeImageContext { get; init; }
    public bool ColorMatch { get; init; }
}

/// <summary>Canvas extension for outpainting: px per side, or a target aspect ratio.</summary>
public sealed record OutpaintExtent
{
    public int Left { get; init; }
    public int Top { get; init; }
    public int Right { get; init; }
    public int Bottom { get; init; }
    /// <summary>When set (both &gt; 0), the canvas grows to this aspect ratio instead.</summary>
    public int AspectWidth { get; init; }
    public int AspectHeight { get; init; }
    /// <summary>Width in px of the old image's border that is repainted and blended with the new area (the blend band); null = the feather's band.</summary>
    public int? BlendOverlap { get; init; }
}

/// <summary>One request to run an operation on an image.</summary>
public sealed class OperationRequest
{
    public required Operation Operation { get; init; }
    /// <summary>The layer, RGBA straight alpha, any depth (the result patch keeps it).</summary>
    public required RgbaImage Image { get; init; }
    /// <summary>Same size as Image; null = whole image (img2img/depth) or transparent pixels (inpaint).</summary>
    public Mask? Mask { get; init; }
    public GenerationSettings Settings { get; init; } = new();
    public MaskOptions MaskOptions { get; init; } = new();
    public OutpaintExtent? Outpaint { get; init; }
    /// <summary>Optional depth map for depth-to-image (first channel, larger = nearer).</summary>
    public RgbaImage? DepthMap { get; init; }
}

/// <summary>
/// One result on the result canvas: colour = generated pixels, alpha = blend weight.
/// Compositing (see Imaging's compositor): out = in*(1-w) + patch*w; where w = 0 the input is untouched.
/// </summary>
public sealed record ResultPatch(int X, int Y, RgbaImage Image, ulong Seed);

public sealed record OperationResult
{
    public required IReadOnlyList<ResultPatch> Patches { get; init; }
    public required string Engine { get; init; }
    public required int CanvasWidth { get; init; }
    public required int CanvasHeight { get; init; }
    /// <summary>Where the input's top-left sits on the result canvas (non-zero for outpaint).</summary>
    public int InputOffsetX { get; init; }
    public int InputOffsetY { get; init; }
    public TimeSpan EngineTime { get; init; }
}

/// <summary>Progress of a running operation; Preview is small and optional.</summary>
public readonly record struct OperationProgress(int Step, int Total, string Stage, RgbaImage? Preview = null);

/// <summary>
/// Runs whole operations: mask craft, crop, engine, composite. The daemon and the CLI (in-process)
/// both call this, so they behave the same.
/// </summary>
public interface IOperationRunner
{
    Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken);
}

/// <summary>
/// The engine seam: something that fills the masked pixels of a region (already cropped with context
/// by the runner). "fill", "content-aware" and each diffusion model are engines.
/// </summary>
public interface IFillEngine
{
    string Name { get; }

    bool Supports(Operation operation);

    /// <summary>
    /// Returns <c>request.BatchSize</c> images of the region's size (any depth; the runner converts),
    /// each with the masked area filled. Pixels outside the mask may differ; the runner composites.
    /// </summary>
    Task<IReadOnlyList<RgbaImage>> FillAsync(FillRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken);
}

/// <summary>Optional for engines: the depth they want their region in (the runner converts before FillAsync).</summary>
public interface IWorkingDepth
{
    PixelDepth WorkingDepth { get; }
}

/// <summary>What an engine gets: a region with context, its mask and settings.</summary>
public sealed class FillRequest
{
    public required Operation Operation { get; init; }
    public required RgbaImage Region { get; init; }
    /// <summary>Region-sized mask (255 = fill). For img2img/depth over a whole image it may be all 255.</summary>
    public required Mask Mask { get; init; }
    public GenerationSettings Settings { get; init; } = new();
    public MaskOptions MaskOptions { get; init; } = new();
    /// <summary>The seed for batch item 0; item i uses Seed + i.</summary>
    public required ulong Seed { get; init; }
    public int BatchSize { get; init; } = 1;
    public RgbaImage? DepthMap { get; init; }
}

public static class EngineNames
{
    public const string Auto = "auto";
    public const string ContentAware = "content-aware";
    public const string Fill = "fill";
}

/// <summary>Thrown for a request that can never succeed as given (maps to INVALID_ARGUMENT / exit 2).</summary>
public class InvalidRequestException(string field, string message) : ArgumentException(message, field)
{
    public string Field { get; } = field;
}

/// <summary>Thrown when a named engine or model is not installed (maps to NOT_FOUND).</summary>
public sealed class EngineNotFoundException(string engine, string? message = null) : Exception(message ?? $"engine '{engine}' is not installed")
{
    public string Engine { get; } = engine;
}
