using System.Text.Json;
using InpaintSuite.Imaging;
using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Noise;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>
/// One installed Stable-Diffusion-class model as an engine. It receives the region the runner cropped (mask box +
/// context), scales it to the model's native resolution (area ~ native², sides multiples of 64), runs the denoising
/// loop, and scales the result back; the runner composites it so pixels outside the mask stay byte-identical.
/// Canvases larger than the native resolution are therefore generated at native resolution and upscaled (the only-masked
/// crop keeps the upscale small for small masks); tiling is not used because it repeats content across tiles.
/// </summary>
public sealed class DiffusionEngine : IFillEngine, IDisposable
{
    /// <summary>Defaults a user expects from SD front-ends.</summary>
    public const int DefaultSteps = 20;
    public const float DefaultGuidance = 7.5f;
    public const float DefaultImageToImageStrength = 0.75f;
    /// <summary>Generation size snaps to this (SD UNets downsample latents 3 times).</summary>
    public const int SizeMultiple = 64;

    private readonly DiffusionModel _model;
    private readonly Lazy<TextConditioner> _text;
    private readonly Lazy<SdxlTextConditioner> _sdxlText;
    private readonly SchedulerConfig _schedulerConfig;
    private readonly string _defaultScheduler;
    private readonly Func<RgbaImage, Mask, CancellationToken, RgbaImage>? _contentAwarePreFill;

    /// <param name="sessionCache">The process's shared session cache; null = a private one without a budget.</param>
    public DiffusionEngine(ModelEntry entry, Func<RgbaImage, Mask, CancellationToken, RgbaImage>? contentAwarePreFill = null, Runtime.Onnx.OrtSessionOptions? sessionOptions = null, ModelSessionCache? sessionCache = null)
    {
        _model = new DiffusionModel(entry, sessionOptions, sessionCache);
        _text = new Lazy<TextConditioner>(() => new TextConditioner(_model, ClipTokenizer.FromDirectory(entry.TokenizerDirectory!)));
        _sdxlText = new Lazy<SdxlTextConditioner>(() => new SdxlTextConditioner(_model,
            ClipTokenizer.FromDirectory(entry.TokenizerDirectory!), ClipTokenizer.FromDirectory(entry.Tokenizer2Directory!)));
        _schedulerConfig = entry.SchedulerConfigPath != null ? SchedulerConfig.Load(entry.SchedulerConfigPath) : SchedulerConfig.StableDiffusion15;
        _defaultScheduler = DefaultSchedulerName(entry.SchedulerConfigPath);
        _contentAwarePreFill = contentAwarePreFill;
        var options = sessionOptions ?? Runtime.Onnx.OrtSessionOptions.Default;
        _executionProvider = new Lazy<string>(() =>
        {
            try { return options.ResolveProvider(); }
            catch (Exception) { return "CPU"; } // a routing hint only: the job itself reports why ONNX Runtime failed
        });
    }

    private readonly Lazy<string> _executionProvider;

    /// <summary>
    /// The execution provider this engine's sessions use ("CPU", "CUDA", "DirectML"): decides which device's worker
    /// runs its jobs. "CPU" when ONNX Runtime cannot say (it then cannot run a GPU either).
    /// </summary>
    public string ExecutionProvider => _executionProvider.Value;

    public string Name => _model.Name;

    public ModelEntry Entry => _model.Entry;

    public DiffusionModel Model => _model;

    public bool Supports(Operation operation) => (Entry.Kind, operation) switch
    {
        (ModelKind.Inpaint, Operation.Inpaint or Operation.Outpaint) => true,
        // Base models inpaint by latent blending, and do img2img.
        (ModelKind.Img2Img, Operation.Inpaint or Operation.Outpaint or Operation.ImageToImage) => true,
        (ModelKind.Depth, Operation.DepthToImage) => true,
        _ => false,
    };

    /// <summary>Loads the model's sessions into the cache (a job arriving meanwhile waits for these loads) and its tokenizer.</summary>
    public void WarmUp(CancellationToken ct = default)
    {
        _model.WarmUp(ct);
        if (_model.IsSdxl) _ = _sdxlText.Value;
        else _ = _text.Value;
    }

    /// <summary>True when the model's sessions are resident (a job would not load anything).</summary>
    public bool IsLoaded => _model.IsLoaded;

    /// <summary>The scheduler named in the model's scheduler_config.json (diffusers' default), mapped to our names.</summary>
    internal static string DefaultSchedulerName(string? configPath)
    {
        string cls = "";
        if (configPath != null && File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(SchedulerConfig.QuoteNonFiniteLiterals(File.ReadAllText(configPath)));
                if (doc.RootElement.TryGetProperty("_class_name", out var c)) cls = c.GetString() ?? "";
            }
            catch (JsonException) { }
        }
        return cls switch
        {
            "DDIMScheduler" => "ddim",
            "EulerDiscreteScheduler" => "euler",
            "EulerAncestralDiscreteScheduler" => "euler_ancestral",
            "DPMSolverMultistepScheduler" => "dpmpp_2m",
            "LCMScheduler" => "lcm",
            "UniPCMultistepScheduler" => "unipc",
            "DDPMScheduler" => "ddpm",
            _ => "pndm", // SD 1.x/2.x ship PNDMScheduler
        };
    }

    public Task<IReadOnlyList<RgbaImage>> FillAsync(FillRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
        => Task.Run(() => Fill(request, progress, cancellationToken), cancellationToken);

    private IReadOnlyList<RgbaImage> Fill(FillRequest req, IProgress<OperationProgress>? progress, CancellationToken ct)
    {
        var s = req.Settings;
        int steps = s.Steps > 0 ? s.Steps : DefaultSteps;
        float guidance = s.GuidanceScale ?? DefaultGuidance;
        float strength = s.Strength ?? (req.Operation is Operation.ImageToImage or Operation.DepthToImage ? DefaultImageToImageStrength : 1f);
        if (!(strength > 0f && strength <= 1f)) throw new InvalidRequestException("strength", $"strength {strength} is outside (0, 1]");
        string schedulerName = string.IsNullOrEmpty(s.Scheduler) ? _defaultScheduler : s.Scheduler!;
        if (!NoiseScheduler.Names.Contains(schedulerName))
            throw new InvalidRequestException("scheduler", $"unknown scheduler '{schedulerName}' (known: {string.Join(", ", NoiseScheduler.Names)})");
        if ((int)(steps * strength) < 1)
            throw new InvalidRequestException("strength", $"strength {strength} with {steps} steps leaves no denoising step");
        try
        {
            // Each scheduler has its own limits (PNDM needs 2 steps, ...): check before any work starts.
            NoiseScheduler.Create(schedulerName, _schedulerConfig).SetTimestepsForStrength(steps, strength);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidRequestException("steps", $"{schedulerName} cannot run {steps} steps at strength {strength}: {e.Message}");
        }

        var region = req.Region;
        var (gw, gh) = _model.IsSdxl
            ? SdxlConditioning.BucketSize(region.Width, region.Height, Entry.NativeWidth > 0 ? Entry.NativeWidth : 1024)
            : GenerationSize(region.Width, region.Height, Entry.NativeWidth > 0 ? Entry.NativeWidth : 512, Entry.NativeHeight > 0 ? Entry.NativeHeight : 512);
        var mode = req.Operation switch
        {
            Operation.DepthToImage => SamplerMode.Depth,
            Operation.ImageToImage when req.Mask.IsFull => SamplerMode.ImageToImage,
            _ when Entry.Kind == ModelKind.Inpaint => SamplerMode.Inpaint,
            _ => SamplerMode.InpaintLatentBlend,
        };

        // Held for the whole job: an eviction half-way (another model loading under a tight budget) would reload.
        bool estimateDepth = mode == SamplerMode.Depth && req.DepthMap == null && _model.HasDepthEstimator;
        using var sessions = _model.LeaseSessions(estimateDepth, ct);

        // Pre-fill the hole before encoding (matters for latent blending and strength < 1; the 9-channel
        // UNet sees the masked area as grey anyway). Outpaint defaults to content-aware, inpaint to blur.
        var work = PixelConversions.ConvertDepth(region, PixelDepth.F32);
        // Also for a 9-channel UNet at strength 1: its masked image is zero inside the mask at generation size, but
        // resampling to that size spreads the hole's pixels into the known ring beside it, and the UNet would see
        // the removed object there (the result must not depend on what the hole held: docs/masks-and-blending.md).
        // Depth with a mask at strength 1: the depth estimate must not see the removed object either (below strength 1
        // the job starts from the image by definition, hole included).
        bool prefill = mode is SamplerMode.InpaintLatentBlend or SamplerMode.Inpaint
            || (mode == SamplerMode.Depth && !req.Mask.IsFull && strength >= 1f);
        if (prefill)
        {
            work = PreFillRegion(work, req.Mask, req.MaskOptions.FillMode, req.Operation, req.Seed, ct);
            ct.ThrowIfCancellationRequested();
        }

        progress?.Report(new OperationProgress(0, steps, "encode"));
        var scaled = Resampler.Resize(work, gw, gh, ResampleFilter.Lanczos3);
        var initImage = ToModelImage(scaled);
        float[]? maskPlane = null;
        if (mode is SamplerMode.Inpaint or SamplerMode.InpaintLatentBlend)
            maskPlane = ResizeMask(req.Mask, gw, gh);

        float[]? depth = null;
        int dh = 0, dw = 0;
        if (mode == SamplerMode.Depth)
        {
            if (req.DepthMap is { } given)
            {
                var g = PixelConversions.ConvertDepth(given, PixelDepth.F32);
                (depth, dh, dw) = (FirstChannel(g), g.Height, g.Width);
            }
            else if (_model.HasDepthEstimator)
            {
                (depth, dh, dw) = _model.EstimateDepth(initImage, gh, gw, ct);
            }
            else throw new InvalidRequestException("depth_map", $"model '{Name}' has no depth estimator: send a depth map");
        }

        float[] pe, ne;
        int seq;
        SdxlEmbeddings? xl = null;
        if (_model.IsSdxl)
        {
            xl = _sdxlText.Value.Encode(s.Prompt ?? "", s.NegativePrompt ?? "", ct);
            (pe, ne, seq) = (xl.Prompt, xl.Negative, xl.SequenceLength);
        }
        else (pe, ne, seq) = _text.Value.Encode(s.Prompt ?? "", s.NegativePrompt ?? "", ct);
        // SDXL size conditioning: diffusers' defaults (original = target = generation size, crop (0, 0)): the region is
        // generated whole, not cropped out of a larger image.
        var timeIds = xl != null ? SdxlConditioning.DefaultTimeIds(gw, gh) : null;
        int latentLen = 4 * (gh / _model.VaeScaleFactor) * (gw / _model.VaeScaleFactor);
        int batch = Math.Max(1, req.BatchSize);
        var results = new List<RgbaImage>(batch);
        int activeSteps = Math.Min((int)(steps * strength), steps);
        // Only the mask's box of the scaled-back result reaches the output (the runner composites through a mask that
        // is zero outside it), so only that window is resampled; the rest keeps the region's pixels. Colour matching
        // samples a ring outside the mask, so it gets the whole region.
        var keep = req.MaskOptions.ColorMatch ? default : MaskOps.BoundingBox(req.Mask, 1);
        for (int b = 0; b < batch; b++)
        {
            ct.ThrowIfCancellationRequested();
            // One noise stream per item: initial latents, then the VAE posterior draw, then scheduler steps.
            var noise = new GaussianNoise(req.Seed + (ulong)b);
            var initial = new float[latentLen];
            noise.NextGaussian(initial);
            var eps = new float[latentLen];
            noise.NextGaussian(eps);
            // SDXL inpaint below strength 1 encodes the image and the masked image, each with its own posterior draw
            // (as diffusers does); SD 1.x keeps its one draw so its seeds give the same pictures as before.
            float[]? maskedEps = null;
            if (xl != null && mode == SamplerMode.Inpaint && strength < 1f) { maskedEps = new float[latentLen]; noise.NextGaussian(maskedEps); }
            var scheduler = NoiseScheduler.Create(schedulerName, _schedulerConfig);
            var sampler = new DiffusionSampler(_model, scheduler);
            int item = b;
            var decoded = sampler.Run(new SamplerInputs
            {
                Mode = mode,
                InitImage = initImage,
                Height = gh,
                Width = gw,
                Mask = maskPlane,
                Depth = depth,
                DepthHeight = dh,
                DepthWidth = dw,
                PromptEmbeds = pe,
                NegativeEmbeds = ne,
                SequenceLength = seq,
                GuidanceScale = guidance,
                Steps = steps,
                Strength = strength,
                InitialNoise = initial,
                VaeEps = eps,
                MaskedImageVaeEps = maskedEps,
                PooledEmbeds = xl?.Pooled,
                NegativePooledEmbeds = xl?.NegativePooled,
                TimeIds = timeIds,
                StepNoise = noise,
            }, null, (step, total, latents, lh, lw) =>
            {
                progress?.Report(new OperationProgress(item * activeSteps + step, batch * activeSteps, "denoise", LatentPreview.Render(latents, lh, lw, _model.IsSdxl)));
            }, ct);
            progress?.Report(new OperationProgress((item + 1) * activeSteps, batch * activeSteps, "decode"));
            var image = FromModelImage(decoded, gw, gh);
            results.Add(gw == region.Width && gh == region.Height ? image : ScaleBack(image, region, keep));
        }
        return results;
    }

    /// <summary>
    /// The generated image at the region's size. With a <paramref name="keep"/> window smaller than the region, only
    /// that window is resampled (same bytes as resizing all and cropping) and converted to the region's depth; the
    /// pixels outside it are the region's own (the engine contract lets pixels outside the mask differ).
    /// </summary>
    private static RgbaImage ScaleBack(RgbaImage generated, RgbaImage region, PixelRect keep)
    {
        if (keep.IsEmpty || (keep.Width == region.Width && keep.Height == region.Height))
            return Resampler.Resize(generated, region.Width, region.Height, ResampleFilter.Lanczos3);
        var part = Resampler.Resize(generated, region.Width, region.Height, keep, ResampleFilter.Lanczos3);
        var result = region.Clone();
        result.Paste(PixelConversions.ConvertDepth(part, region.Depth), keep.X, keep.Y);
        return result;
    }

    /// <summary>Generation size: the region's aspect at about the native area, sides multiples of 64 (at least 64).</summary>
    public static (int Width, int Height) GenerationSize(int width, int height, int nativeWidth, int nativeHeight)
    {
        double scale = Math.Sqrt((double)nativeWidth * nativeHeight / ((double)width * height));
        int w = Math.Max(SizeMultiple, (int)Math.Round(width * scale / SizeMultiple) * SizeMultiple);
        int h = Math.Max(SizeMultiple, (int)Math.Round(height * scale / SizeMultiple) * SizeMultiple);
        return (w, h);
    }

    private RgbaImage PreFillRegion(RgbaImage work, Mask mask, FillMode mode, Operation op, ulong seed, CancellationToken ct)
    {
        var effective = mode == FillMode.Default ? (op == Operation.Outpaint ? FillMode.ContentAware : FillMode.Blur) : mode;
        if (effective == FillMode.ContentAware)
        {
            if (_contentAwarePreFill != null && !mask.IsFull)
                // A content-aware pre-fill of a large region takes seconds: it must stop on cancel like a denoising step.
                return PixelConversions.ConvertDepth(_contentAwarePreFill(PixelConversions.ConvertDepth(work, PixelDepth.U8), mask, ct), PixelDepth.F32);
            effective = FillMode.Blur;
        }
        var pm = effective switch
        {
            FillMode.Noise => PreFillMode.Noise,
            FillMode.Original => PreFillMode.Original,
            FillMode.Border => PreFillMode.Border,
            _ => PreFillMode.Blur,
        };
        if (mask.IsFull && pm is PreFillMode.Blur or PreFillMode.Border) pm = PreFillMode.Noise;
        return PixelConversions.ConvertDepth(PreFill.Apply(work, mask, pm, seed), PixelDepth.F32);
    }

    /// <summary>RGBA float (0..1) -> NCHW [1,3,H,W] in [-1,1].</summary>
    internal static float[] ToModelImage(RgbaImage img)
    {
        int plane = img.Width * img.Height;
        var dst = new float[3 * plane];
        var px = img.PixelsF;
        for (int i = 0; i < plane; i++)
        {
            dst[i] = px[4 * i] * 2f - 1f;
            dst[plane + i] = px[4 * i + 1] * 2f - 1f;
            dst[2 * plane + i] = px[4 * i + 2] * 2f - 1f;
        }
        return dst;
    }

    /// <summary>Decoded NCHW [1,3,H,W] (~[-1,1]) -> opaque RGBA float, clamp(x/2+0.5, 0, 1) as diffusers' postprocess.</summary>
    internal static RgbaImage FromModelImage(float[] decoded, int w, int h)
    {
        var img = new RgbaImage(w, h, PixelDepth.F32);
        var px = img.PixelsF;
        int plane = w * h;
        for (int i = 0; i < plane; i++)
        {
            px[4 * i] = Math.Clamp(decoded[i] / 2f + 0.5f, 0f, 1f);
            px[4 * i + 1] = Math.Clamp(decoded[plane + i] / 2f + 0.5f, 0f, 1f);
            px[4 * i + 2] = Math.Clamp(decoded[2 * plane + i] / 2f + 0.5f, 0f, 1f);
            px[4 * i + 3] = 1f;
        }
        return img;
    }

    /// <summary>Mask coverage at generation size (area-averaged), 0..1; the sampler binarises at 0.5.</summary>
    private static float[] ResizeMask(Mask mask, int w, int h)
    {
        var asImage = new RgbaImage(mask.Width, mask.Height, PixelDepth.F32);
        var px = asImage.PixelsF;
        for (int i = 0; i < mask.Data.Length; i++) { float v = mask.Data[i] / 255f; px[4 * i] = v; px[4 * i + 3] = 1f; }
        var r = Resampler.Resize(asImage, w, h, ResampleFilter.Bicubic).PixelsF;
        var plane = new float[w * h];
        for (int i = 0; i < plane.Length; i++) plane[i] = r[4 * i];
        return plane;
    }

    private static float[] FirstChannel(RgbaImage img)
    {
        var px = img.PixelsF;
        var d = new float[img.Width * img.Height];
        for (int i = 0; i < d.Length; i++) d[i] = px[4 * i];
        return d;
    }

    public void Dispose() => _model.Dispose();
}

/// <summary>A cheap latent -> RGB preview (SD 1.x/2.x linear approximation), one pixel per latent pixel.</summary>
public static class LatentPreview
{
    private static readonly float[,] Factors =
    {
        { 0.298f, 0.207f, 0.208f },
        { 0.187f, 0.286f, 0.173f },
        { -0.158f, 0.189f, 0.264f },
        { -0.184f, -0.271f, -0.473f },
    };

    // SDXL's latent space (VAE scaling 0.13025) has other colour axes (ComfyUI's SDXL latent_rgb_factors and bias).
    private static readonly float[,] SdxlFactors =
    {
        { 0.3651f, 0.4232f, 0.4341f },
        { -0.2533f, -0.0042f, 0.1068f },
        { 0.1076f, 0.1111f, -0.0362f },
        { -0.3165f, -0.2492f, -0.2188f },
    };
    private static readonly float[] SdxlBias = [0.1084f, -0.0175f, -0.0011f];

    public static RgbaImage Render(ReadOnlySpan<float> latents, int h, int w, bool sdxl = false)
    {
        var factors = sdxl ? SdxlFactors : Factors;
        var img = new RgbaImage(w, h);
        int hw = h * w;
        var px = img.Data;
        for (int i = 0; i < hw; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                float v = sdxl ? SdxlBias[c] : 0f;
                for (int k = 0; k < 4; k++) v += latents[k * hw + i] * factors[k, c];
                px[4 * i + c] = (byte)Math.Clamp((int)((v + 1f) * 127.5f), 0, 255);
            }
            px[4 * i + 3] = 255;
        }
        return img;
    }
}
