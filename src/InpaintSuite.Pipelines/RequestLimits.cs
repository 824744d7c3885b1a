using InpaintSuite.Imaging;

namespace InpaintSuite.Pipelines;

/// <summary>
/// The one set of request limits: the daemon validates against it at submit (before queueing), the runner before it
/// runs a request given in-process (CLI), and GetCapabilities reports it, so what a client is told is what is
/// enforced. Field names in the messages follow the wire (<c>settings.steps</c>), so a remote caller can find them.
/// </summary>
public sealed record RequestLimits
{
    /// <summary>The most batch items any engine produces in one job (memory: each is a full region).</summary>
    public const int BatchCap = 16;

    /// <summary>The runtime's scheduler names (Capabilities.schedulers): one list, so validation cannot drift from what runs.</summary>
    public static IReadOnlyList<string> KnownSchedulers => Runtime.Schedulers.NoiseScheduler.Names;

    public static RequestLimits Default { get; } = new();

    /// <summary>Pixels of an input image or an outpainted canvas.</summary>
    public long MaxPixels { get; init; } = 8192L * 8192;

    /// <summary>Largest width or height of an image.</summary>
    public int MaxSide { get; init; } = 65535;

    /// <summary>Batch items per job; at most <see cref="BatchCap"/>.</summary>
    public int MaxBatch { get; init; } = 8;

    public int MaxSteps { get; init; } = 500;

    public float MaxGuidance { get; init; } = 100f;

    public int MaxPromptChars { get; init; } = 4096;

    public int MaxGrow { get; init; } = 4096;

    /// <summary>Feather of the composite mask in px (the runner's blur radius bound).</summary>
    public float MaxFeather { get; init; } = 256f;

    public int MaxContextPadding { get; init; } = 8192;

    /// <summary>Outpaint extension per side in px.</summary>
    public int MaxExtension { get; init; } = 8192;

    public int MaxEngineNameChars { get; init; } = 256;

    /// <summary>LoRAs per request and the largest |multiplier| (docs/lora.md).</summary>
    public int MaxLoras { get; init; } = 16;

    public float MaxLoraMultiplier { get; init; } = 100f;

    /// <summary>Text-to-image output sides in px (also bounded by <see cref="MaxPixels"/>).</summary>
    public const int MinTextToImageSide = 8;

    public const int MaxTextToImageSide = 4096;

    /// <summary>These limits with a configured max pixels and batch (the batch clamped to 1..<see cref="BatchCap"/>).</summary>
    public static RequestLimits From(long maxPixels, int maxBatch) =>
        new() { MaxPixels = Math.Max(1, maxPixels), MaxBatch = Math.Clamp(maxBatch, 1, BatchCap) };

    /// <summary>Before decoding pixels: an image of this size may be accepted at all.</summary>
    public void CheckImageSize(string field, long width, long height)
    {
        if (width <= 0 || height <= 0) throw new InvalidRequestException(field, $"{field} size {width}x{height} must be positive");
        var pixels = width * height;
        if (pixels > MaxPixels || width > MaxSide || height > MaxSide)
            throw new InvalidRequestException(field, $"{field} is {width}x{height} = {pixels} pixels, more than the limit {MaxPixels}");
    }

    /// <summary>Every value check of a core request; throws <see cref="InvalidRequestException"/> naming the field.</summary>
    public void Validate(OperationRequest r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.Image is null) throw new InvalidRequestException("image", "image is required");
        CheckImageSize("image", r.Image.Width, r.Image.Height);
        if (r.Mask is { } m && (m.Width != r.Image.Width || m.Height != r.Image.Height))
            throw new InvalidRequestException("mask", $"mask is {m.Width}x{m.Height} but image is {r.Image.Width}x{r.Image.Height}");
        if (r.DepthMap is { } d && (d.Width != r.Image.Width || d.Height != r.Image.Height))
            throw new InvalidRequestException("depth_map", $"depth_map is {d.Width}x{d.Height} but image is {r.Image.Width}x{r.Image.Height}");
        if (r.Image.Depth == PixelDepth.F32)
            foreach (var v in r.Image.PixelsF)
                if (!float.IsFinite(v)) throw new InvalidRequestException("image.data", "image.data holds NaN or infinite values");

        var s = r.Settings;
        if (s.Steps < 0 || s.Steps > MaxSteps) throw new InvalidRequestException("settings.steps", $"settings.steps = {s.Steps} is outside 0..{MaxSteps}");
        if (s.GuidanceScale is { } g && (!float.IsFinite(g) || g < 0 || g > MaxGuidance))
            throw new InvalidRequestException("settings.guidance_scale", $"settings.guidance_scale = {g} is outside 0..{MaxGuidance}");
        if (s.Strength is { } st && (!float.IsFinite(st) || st < 0 || st > 1))
            throw new InvalidRequestException("settings.strength", $"settings.strength = {st} is outside 0..1");
        if (s.BatchSize < 1 || s.BatchSize > MaxBatch)
            throw new InvalidRequestException("settings.batch_size", $"settings.batch_size = {s.BatchSize} is outside 1..{MaxBatch}");
        if (s.Prompt.Length > MaxPromptChars) throw new InvalidRequestException("settings.prompt", $"settings.prompt has {s.Prompt.Length} characters, more than {MaxPromptChars}");
        if (s.NegativePrompt.Length > MaxPromptChars) throw new InvalidRequestException("settings.negative_prompt", $"settings.negative_prompt has {s.NegativePrompt.Length} characters, more than {MaxPromptChars}");
        if (!string.IsNullOrEmpty(s.Scheduler) && !KnownSchedulers.Contains(s.Scheduler))
            throw new InvalidRequestException("settings.scheduler", $"settings.scheduler '{s.Scheduler}' is unknown; known: {string.Join(", ", KnownSchedulers)}");
        if (s.Engine.Length > MaxEngineNameChars) throw new InvalidRequestException("settings.engine", $"settings.engine is longer than {MaxEngineNameChars} characters");
        if (s.Loras.Count > MaxLoras) throw new InvalidRequestException("settings.loras", $"settings.loras has {s.Loras.Count} entries, more than {MaxLoras}");
        foreach (var l in s.Loras)
        {
            if (l.Name.Length == 0 || l.Name.Length > 256) throw new InvalidRequestException("settings.loras", "settings.loras: every LoRA needs a name of 1..256 characters");
            if (!float.IsFinite(l.Multiplier) || Math.Abs(l.Multiplier) > MaxLoraMultiplier)
                throw new InvalidRequestException("settings.loras", $"settings.loras: multiplier {l.Multiplier} of '{l.Name}' is outside ±{MaxLoraMultiplier}");
        }

        var o = r.MaskOptions;
        if (Math.Abs((long)o.Grow) > MaxGrow) throw new InvalidRequestException("mask_options.grow", $"mask_options.grow = {o.Grow} is outside ±{MaxGrow}");
        if (o.Feather is { } f && (!float.IsFinite(f) || f < 0 || f > MaxFeather))
            throw new InvalidRequestException("mask_options.feather", $"mask_options.feather = {f} is outside 0..{MaxFeather}");
        if (o.ContextPadding is { } p && (p < 0 || p > MaxContextPadding))
            throw new InvalidRequestException("mask_options.context_padding", $"mask_options.context_padding = {p} is outside 0..{MaxContextPadding}");

        if (r.Operation == Operation.Outpaint) ValidateOutpaint(r);
    }

    private void ValidateOutpaint(OperationRequest r)
    {
        if (r.Outpaint is not { } e) throw new InvalidRequestException("size", "give either extend (px per side) or aspect");
        bool aspect = e.AspectWidth != 0 || e.AspectHeight != 0;
        if (aspect)
        {
            if (e.AspectWidth <= 0 || e.AspectHeight <= 0) throw new InvalidRequestException("aspect", "aspect width and height must both be positive");
            if ((long)e.AspectWidth > 100L * e.AspectHeight || (long)e.AspectHeight > 100L * e.AspectWidth)
                throw new InvalidRequestException("aspect", $"aspect {e.AspectWidth}:{e.AspectHeight} is beyond 100:1");
        }
        else
        {
            foreach (var (v, name) in new[] { (e.Left, "left"), (e.Top, "top"), (e.Right, "right"), (e.Bottom, "bottom") })
                if (v < 0 || v > MaxExtension) throw new InvalidRequestException("extend." + name, $"extend.{name} = {v} is outside 0..{MaxExtension} px");
            if (e.Left + e.Top + e.Right + e.Bottom == 0) throw new InvalidRequestException("extend", "extend is zero on every side: nothing to outpaint");
            var canvas = (long)(r.Image.Width + e.Left + e.Right) * (r.Image.Height + e.Top + e.Bottom);
            if (canvas > MaxPixels) throw new InvalidRequestException("extend", $"the extended canvas has {canvas} pixels, more than the limit {MaxPixels}");
        }
        if (e.BlendOverlap is < 0) throw new InvalidRequestException("outpaint", "blend overlap must be >= 0");
    }
}
