using System.Text.Json.Nodes;

namespace InpaintSuite.Daemon.A1111;

/// <summary>
/// A txt2img or img2img body read with A1111's defaults (StableDiffusionProcessing* and the API models in
/// modules/api/models.py). Fields we do not use (restore_faces, tiling, enable_hr, styles, ...) are accepted and
/// ignored, as A1111 ignores what a model lacks.
/// </summary>
public sealed class A1111Request
{
    public const int MaxSide = 4096;
    public const int MaxSteps = 500;
    public const int MaxIterations = 100;

    public bool IsImageToImage { get; init; }
    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    public long Seed { get; init; } = -1;
    public long Subseed { get; init; } = -1;
    public double SubseedStrength { get; init; }
    /// <summary>sampler_name, else the legacy sampler_index, else A1111's default "Euler".</summary>
    public string? SamplerName { get; init; }
    /// <summary>The field the sampler came from (for error messages).</summary>
    public string SamplerField { get; init; } = "sampler_name";
    public string? Scheduler { get; init; }
    public int BatchSize { get; init; } = 1;
    public int Iterations { get; init; } = 1;
    public int Steps { get; init; } = 50;
    public double CfgScale { get; init; } = 7.0;
    public int Width { get; init; } = 512;
    public int Height { get; init; } = 512;
    public bool SendImages { get; init; } = true;
    public string? Checkpoint { get; init; }
    public IReadOnlyList<string>? InitImages { get; init; }
    public string? Mask { get; init; }
    public double MaskBlur { get; init; } = 4;
    /// <summary>0 fill, 1 original, 2 latent noise, 3 latent nothing.</summary>
    public int InpaintingFill { get; init; }
    public bool InpaintFullRes { get; init; } = true;
    public int InpaintFullResPadding { get; init; }
    public bool InpaintingMaskInvert { get; init; }
    /// <summary>0 just resize, 1 crop and resize, 2 resize and fill, 3 just resize (latent upscale).</summary>
    public int ResizeMode { get; init; }
    public double DenoisingStrength { get; init; } = 0.75;
    public bool IncludeInitImages { get; init; }
    public JsonObject Body { get; init; } = [];

    /// <summary>Parses and range-checks a body; <paramref name="maxBatch"/> is the daemon's batch limit.</summary>
    public static A1111Request Parse(A1111Json j, bool imageToImage, int maxBatch)
    {
        var samplerName = j.String("sampler_name");
        var samplerIndex = j.String("sampler_index");
        var overrides = j.Object("override_settings");
        string? checkpoint = null;
        if (overrides != null && overrides.TryGetPropertyValue("sd_model_checkpoint", out var ck) && ck is JsonValue cv && cv.TryGetValue(out string? cks))
            checkpoint = cks;
        var scriptName = j.String("script_name");
        if (!string.IsNullOrEmpty(scriptName)) throw A1111Exception.Unprocessable("script_name", $"Script '{scriptName}' not found");
        if (j.Object("alwayson_scripts") is { Count: > 0 } always)
            throw A1111Exception.Unprocessable("alwayson_scripts", $"always on script {always.First().Key} not found");
        var r = new A1111Request
        {
            IsImageToImage = imageToImage,
            Prompt = j.String("prompt") ?? "",
            NegativePrompt = j.String("negative_prompt") ?? "",
            Seed = j.Long("seed", -1),
            Subseed = j.Long("subseed", -1),
            SubseedStrength = j.Double("subseed_strength", 0),
            SamplerName = !string.IsNullOrEmpty(samplerName) ? samplerName : samplerIndex,
            SamplerField = !string.IsNullOrEmpty(samplerName) ? "sampler_name" : samplerIndex != null ? "sampler_index" : "sampler_name",
            Scheduler = j.String("scheduler"),
            BatchSize = j.Int("batch_size", 1, 1, maxBatch),
            Iterations = j.Int("n_iter", 1, 1, MaxIterations),
            Steps = j.Int("steps", 50, 1, MaxSteps),
            CfgScale = Range(j, "cfg_scale", 7.0, 0, 100),
            // A1111 floors sizes to multiples of 8.
            Width = j.Int("width", 512, 8, MaxSide) / 8 * 8,
            Height = j.Int("height", 512, 8, MaxSide) / 8 * 8,
            SendImages = j.Bool("send_images", true),
            Checkpoint = checkpoint,
            InitImages = imageToImage ? j.StringList("init_images") : null,
            Mask = imageToImage ? j.String("mask") : null,
            MaskBlur = imageToImage ? MaskBlurOf(j) : 4,
            InpaintingFill = imageToImage ? j.Int("inpainting_fill", 0, 0, 3) : 0,
            InpaintFullRes = imageToImage && j.Bool("inpaint_full_res", true),
            InpaintFullResPadding = imageToImage ? j.Int("inpaint_full_res_padding", 0, 0, 8192) : 0,
            InpaintingMaskInvert = imageToImage && j.Int("inpainting_mask_invert", 0, 0, 1) == 1,
            ResizeMode = imageToImage ? j.Int("resize_mode", 0, 0, 3) : 0,
            DenoisingStrength = imageToImage ? Range(j, "denoising_strength", 0.75, 0, 1) : 1,
            IncludeInitImages = imageToImage && j.Bool("include_init_images", false),
            Body = j.Body,
        };
        if (imageToImage && (r.InitImages == null || r.InitImages.Count == 0))
            throw A1111Exception.Http(404, "Init image not found");
        return r;
    }

    private static double MaskBlurOf(A1111Json j)
    {
        // mask_blur sets both axes; A1111's mask_blur_x/_y override it (we blur isotropically: the larger wins).
        double blur = Range(j, "mask_blur", 4, 0, 256);
        if (j.Has("mask_blur_x") || j.Has("mask_blur_y"))
            blur = Math.Max(Range(j, "mask_blur_x", blur, 0, 256), Range(j, "mask_blur_y", blur, 0, 256));
        return blur;
    }

    private static double Range(A1111Json j, string name, double fallback, double min, double max)
    {
        var v = j.Double(name, fallback);
        if (v < min || v > max) throw A1111Exception.Validation(name, $"Input should be between {min} and {max}, got {v}", "value_error");
        return v;
    }
}
