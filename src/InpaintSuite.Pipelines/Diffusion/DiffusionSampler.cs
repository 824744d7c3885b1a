using System.Numerics.Tensors;
using InpaintSuite.Runtime.Noise;
using InpaintSuite.Runtime.Schedulers;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>What kind of conditioning the UNet gets (decided by its input channels).</summary>
public enum SamplerMode
{
    /// <summary>9-channel inpainting UNet: [latents, mask, masked-image latents].</summary>
    Inpaint,
    /// <summary>4-channel UNet inpainting by latent blending (re-noised original outside the mask each step).</summary>
    InpaintLatentBlend,
    /// <summary>4-channel img2img.</summary>
    ImageToImage,
    /// <summary>5-channel depth UNet: [latents, depth].</summary>
    Depth,
}

/// <summary>Everything one denoising run needs, already in model space (NCHW float32).</summary>
public sealed class SamplerInputs
{
    public required SamplerMode Mode { get; init; }
    /// <summary>[1,3,H,W] in [-1,1].</summary>
    public required float[] InitImage { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    /// <summary>[1,1,H,W], 1 = repaint (binarised here at 0.5 as diffusers does). Inpaint modes only.</summary>
    public float[]? Mask { get; init; }
    /// <summary>[1,1,H',W'] raw depth (any size; resized bicubically to the latent size and normalised). Depth mode only.</summary>
    public float[]? Depth { get; init; }
    public int DepthHeight { get; init; }
    public int DepthWidth { get; init; }
    /// <summary>[1,seq,hidden] prompt embeddings.</summary>
    public required float[] PromptEmbeds { get; init; }
    /// <summary>[1,seq,hidden] negative prompt embeddings (used when guidance &gt; 1).</summary>
    public required float[] NegativeEmbeds { get; init; }
    public required int SequenceLength { get; init; }
    public float GuidanceScale { get; init; } = 7.5f;
    public required int Steps { get; init; }
    /// <summary>1 = start from pure noise; less keeps more of the image.</summary>
    public float Strength { get; init; } = 1f;
    /// <summary>[1,4,h,w] standard-normal initial noise.</summary>
    public required float[] InitialNoise { get; init; }
    /// <summary>[1,4,h,w] posterior eps for the VAE encode of the init image (null = use the posterior mean).</summary>
    public float[]? VaeEps { get; init; }
    /// <summary>[1,4,h,w] posterior eps for the masked-image encode of a 9-channel inpaint; null = <see cref="VaeEps"/>.
    /// SDXL inpaint below strength 1 encodes both images, each with its own draw.</summary>
    public float[]? MaskedImageVaeEps { get; init; }
    /// <summary>SDXL: [1,pooled] pooled prompt embedding (UNet <c>text_embeds</c>).</summary>
    public float[]? PooledEmbeds { get; init; }
    /// <summary>SDXL: [1,pooled] pooled negative prompt embedding.</summary>
    public float[]? NegativePooledEmbeds { get; init; }
    /// <summary>SDXL: the six time ids of the prompt row (<see cref="SdxlConditioning.TimeIds"/>).</summary>
    public float[]? TimeIds { get; init; }
    /// <summary>SDXL: the negative row's time ids (diffusers: the same values unless negative sizes are given); null = <see cref="TimeIds"/>.</summary>
    public float[]? NegativeTimeIds { get; init; }
    /// <summary>Noise for stochastic schedulers' steps.</summary>
    public INoiseSource? StepNoise { get; init; }
}

/// <summary>Optional record of a run, for parity tests and benchmarks.</summary>
public sealed class SamplerTrace
{
    public List<float[]> StepLatents { get; } = [];
    public List<float[]> StepModelInput { get; } = [];
    public List<float> StepTimesteps { get; } = [];
    public float[]? InitialLatents { get; set; }
    public float[]? ConditionLatents { get; set; }
    public float[]? DepthNormalized { get; set; }
    public float[]? FinalLatents { get; set; }
    /// <summary>SDXL: the UNet's time_ids [batch,6] and text_embeds [batch,pooled] inputs (the same every step).</summary>
    public float[]? TimeIds { get; set; }
    public float[]? TextEmbeds { get; set; }
    public List<TimeSpan> UnetTimes { get; } = [];
    public TimeSpan EncodeTime { get; set; }
    public TimeSpan DecodeTime { get; set; }
}

/// <summary>Per-step callback: step (1-based), total, current latents [1,4,h,w].</summary>
public delegate void SamplerStepCallback(int step, int total, ReadOnlySpan<float> latents, int latentHeight, int latentWidth);

/// <summary>
/// The denoising loop of diffusers' StableDiffusionInpaint / Img2Img / Depth2Img pipelines, in the same order of
/// operations (see shared/reference/diffusers/tiny_models/README.md §3.2): VAE encode with injected posterior eps,
/// strength -> first timestep, classifier-free guidance with batch order [uncond, cond], scheduler step, VAE decode.
/// Working buffers are allocated once per run; the loop itself does not allocate except in ONNX Runtime's outputs.
/// </summary>
public sealed class DiffusionSampler(DiffusionModel model, NoiseScheduler scheduler)
{
    public DiffusionModel Model { get; } = model;
    public NoiseScheduler Scheduler { get; } = scheduler;

    /// <summary>Runs one image; returns the decoded image [1,3,H,W] (unclamped, ~[-1,1]).</summary>
    public float[] Run(SamplerInputs p, SamplerTrace? trace, SamplerStepCallback? onStep, CancellationToken ct)
    {
        int f = Model.VaeScaleFactor;
        if (p.Height % f != 0 || p.Width % f != 0) throw new ArgumentException($"image size {p.Width}x{p.Height} must be a multiple of {f}");
        int h = p.Height / f, w = p.Width / f, hw = h * w;
        int latentLen = 4 * hw;
        float sf = Model.VaeScalingFactor;
        bool cfg = p.GuidanceScale > 1f;
        int batch = cfg ? 2 : 1;
        var sw = System.Diagnostics.Stopwatch.StartNew();

        // Conditioning.
        float[]? mask = null, maskLatent = null, condLatents = null, depth = null, imageLatents = null;
        if (p.Mode is SamplerMode.Inpaint or SamplerMode.InpaintLatentBlend)
        {
            var m = p.Mask ?? throw new ArgumentException("inpaint needs a mask");
            mask = new float[m.Length];
            for (int i = 0; i < m.Length; i++) mask[i] = m[i] >= 0.5f ? 1f : 0f;
            maskLatent = NearestDownsample(mask, p.Height, p.Width, h, w);
        }
        if (p.Mode == SamplerMode.Inpaint)
        {
            // masked_image = init_image * (mask < 0.5): the repaint area becomes 0 (mid grey).
            var masked = new float[p.InitImage.Length];
            int plane = p.Height * p.Width;
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < plane; i++)
                    masked[c * plane + i] = mask![i] < 0.5f ? p.InitImage[c * plane + i] : 0f;
            condLatents = Encode(masked, p.Height, p.Width, p.MaskedImageVaeEps ?? p.VaeEps, ct);
        }
        bool strengthMax = p.Strength >= 1f;
        if (p.Mode is SamplerMode.ImageToImage or SamplerMode.Depth or SamplerMode.InpaintLatentBlend || !strengthMax)
            imageLatents = Encode(p.InitImage, p.Height, p.Width, p.VaeEps, ct);
        if (p.Mode == SamplerMode.Depth)
        {
            var d = p.Depth ?? throw new ArgumentException("depth-to-image needs a depth map");
            depth = BicubicResize(d, p.DepthHeight, p.DepthWidth, h, w);
            float min = TensorPrimitives.Min(depth), max = TensorPrimitives.Max(depth);
            float range = max - min;
            for (int i = 0; i < depth.Length; i++) depth[i] = range > 0 ? 2f * (depth[i] - min) / range - 1f : 0f;
        }
        if (trace != null) { trace.ConditionLatents = condLatents; trace.DepthNormalized = depth; trace.EncodeTime = sw.Elapsed; }

        // Timesteps and initial latents.
        float firstT = Scheduler.SetTimestepsForStrength(p.Steps, p.Strength);
        var timesteps = Scheduler.ActiveTimesteps.ToArray();
        var latents = new float[latentLen];
        if (p.Mode is SamplerMode.Inpaint or SamplerMode.InpaintLatentBlend && strengthMax)
            TensorPrimitives.Multiply(p.InitialNoise, Scheduler.InitNoiseSigma, latents);
        else
            Scheduler.AddNoise(imageLatents, p.InitialNoise, firstT, latents);
        if (trace != null) trace.InitialLatents = (float[])latents.Clone();

        // UNet input [batch, C, h, w] and the text embeddings [uncond, cond].
        int extra = p.Mode switch { SamplerMode.Inpaint => 5, SamplerMode.Depth => 1, _ => 0 };
        int channels = 4 + extra;
        if (channels != Model.UnetInChannels)
            throw new InvalidOperationException($"model '{Model.Name}' has a {Model.UnetInChannels}-channel UNet; {p.Mode} needs {channels}");
        var modelInput = new float[batch * channels * hw];
        var scaled = new float[latentLen];
        int embedLen = p.PromptEmbeds.Length;
        var ehs = new float[batch * embedLen];
        if (cfg) { p.NegativeEmbeds.CopyTo(ehs, 0); p.PromptEmbeds.CopyTo(ehs, embedLen); }
        else p.PromptEmbeds.CopyTo(ehs, 0);
        // SDXL added conditioning, [uncond, cond] like the hidden states.
        float[]? textEmbeds = null, timeIds = null;
        if (Model.IsSdxl)
        {
            var pooled = p.PooledEmbeds ?? throw new ArgumentException("an SDXL UNet needs the pooled prompt embedding");
            var ids = p.TimeIds ?? throw new ArgumentException("an SDXL UNet needs time ids");
            textEmbeds = cfg ? [.. p.NegativePooledEmbeds ?? throw new ArgumentException("guidance needs the negative pooled embedding"), .. pooled] : (float[])pooled.Clone();
            timeIds = cfg ? [.. p.NegativeTimeIds ?? ids, .. ids] : (float[])ids.Clone();
            if (trace != null) { trace.TimeIds = timeIds; trace.TextEmbeds = textEmbeds; }
        }
        var noisePred = new float[latentLen];
        var properLatents = p.Mode == SamplerMode.InpaintLatentBlend ? new float[latentLen] : null;

        for (int i = 0; i < timesteps.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            float t = timesteps[i];
            Scheduler.ScaleModelInput(latents, t, scaled);
            for (int b = 0; b < batch; b++)
            {
                var dst = modelInput.AsSpan(b * channels * hw, channels * hw);
                scaled.CopyTo(dst);
                if (p.Mode == SamplerMode.Inpaint)
                {
                    maskLatent.CopyTo(dst.Slice(4 * hw, hw));
                    condLatents.CopyTo(dst.Slice(5 * hw, 4 * hw));
                }
                else if (p.Mode == SamplerMode.Depth)
                {
                    depth.CopyTo(dst.Slice(4 * hw, hw));
                }
            }
            if (trace != null) { trace.StepModelInput.Add((float[])modelInput.Clone()); trace.StepTimesteps.Add(t); }

            var unetSw = System.Diagnostics.Stopwatch.StartNew();
            var output = Model.Unet(modelInput, batch, channels, h, w, t, ehs, p.SequenceLength, ct, textEmbeds, timeIds);
            trace?.UnetTimes.Add(unetSw.Elapsed);
            if (cfg)
            {
                // noise_pred = uncond + g * (cond - uncond)
                var uncond = output.AsSpan(0, latentLen);
                var cond = output.AsSpan(latentLen, latentLen);
                TensorPrimitives.Subtract(cond, uncond, noisePred);
                TensorPrimitives.MultiplyAdd(noisePred, p.GuidanceScale, uncond, noisePred);
            }
            else output.AsSpan(0, latentLen).CopyTo(noisePred);

            Scheduler.Step(noisePred, t, latents, p.StepNoise);

            if (properLatents != null)
            {
                // 4-channel inpainting: outside the mask, the original re-noised to the next timestep.
                if (i < timesteps.Length - 1) Scheduler.AddNoise(imageLatents, p.InitialNoise, timesteps[i + 1], properLatents);
                else imageLatents!.CopyTo(properLatents, 0);
                for (int c = 0; c < 4; c++)
                {
                    var l = latents.AsSpan(c * hw, hw);
                    var o = properLatents.AsSpan(c * hw, hw);
                    for (int k = 0; k < hw; k++) l[k] = (1f - maskLatent![k]) * o[k] + maskLatent[k] * l[k];
                }
            }
            trace?.StepLatents.Add((float[])latents.Clone());
            onStep?.Invoke(i + 1, timesteps.Length, latents, h, w);
        }
        ct.ThrowIfCancellationRequested();
        if (trace != null) trace.FinalLatents = (float[])latents.Clone();

        sw.Restart();
        TensorPrimitives.Divide(latents, sf, latents);
        var decoded = Model.DecodeVae(latents, 1, h, w, ct);
        if (trace != null) trace.DecodeTime = sw.Elapsed;
        return decoded;
    }

    /// <summary>diffusers' retrieve_latents * scaling_factor: sf * (mean + exp(0.5*clip(logvar,-30,20)) * eps), or sf * mean.</summary>
    private float[] Encode(float[] image, int height, int width, float[]? eps, CancellationToken ct)
    {
        var (mean, logvar) = Model.EncodeVae(image, 1, height, width, ct);
        var z = new float[mean.Length];
        float sf = Model.VaeScalingFactor;
        for (int i = 0; i < z.Length; i++)
        {
            float v = mean[i];
            if (logvar != null && eps != null) v += MathF.Exp(0.5f * Math.Clamp(logvar[i], -30f, 20f)) * eps[i];
            z[i] = sf * v;
        }
        return z;
    }

    /// <summary>torch F.interpolate(mode='nearest'): src = floor(dst * in / out).</summary>
    internal static float[] NearestDownsample(float[] src, int inH, int inW, int outH, int outW)
    {
        var dst = new float[outH * outW];
        for (int y = 0; y < outH; y++)
        {
            int sy = Math.Min(inH - 1, (int)Math.Floor(y * (double)inH / outH));
            for (int x = 0; x < outW; x++)
            {
                int sx = Math.Min(inW - 1, (int)Math.Floor(x * (double)inW / outW));
                dst[y * outW + x] = src[sy * inW + sx];
            }
        }
        return dst;
    }

    /// <summary>torch F.interpolate(mode='bicubic', align_corners=False): A = -0.75, src = (dst+0.5)*scale-0.5, indices clamped, no antialias.</summary>
    internal static float[] BicubicResize(float[] src, int inH, int inW, int outH, int outW)
    {
        var tmp = new float[inH * outW];
        double sx = (double)inW / outW, sy = (double)inH / outH;
        Span<float> wts = stackalloc float[4];
        for (int x = 0; x < outW; x++)
        {
            double fx = (x + 0.5) * sx - 0.5;
            int ix = (int)Math.Floor(fx);
            CubicWeights((float)(fx - ix), wts);
            for (int y = 0; y < inH; y++)
            {
                float acc = 0;
                for (int k = 0; k < 4; k++) acc += wts[k] * src[y * inW + Math.Clamp(ix - 1 + k, 0, inW - 1)];
                tmp[y * outW + x] = acc;
            }
        }
        var dst = new float[outH * outW];
        for (int y = 0; y < outH; y++)
        {
            double fy = (y + 0.5) * sy - 0.5;
            int iy = (int)Math.Floor(fy);
            CubicWeights((float)(fy - iy), wts);
            for (int x = 0; x < outW; x++)
            {
                float acc = 0;
                for (int k = 0; k < 4; k++) acc += wts[k] * tmp[Math.Clamp(iy - 1 + k, 0, inH - 1) * outW + x];
                dst[y * outW + x] = acc;
            }
        }
        return dst;
    }

    private static void CubicWeights(float t, Span<float> w)
    {
        const float A = -0.75f;
        static float Near(float x) => ((A + 2) * x - (A + 3)) * x * x + 1;            // |x| <= 1
        static float Far(float x) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;         // 1 < |x| < 2
        w[0] = Far(t + 1);
        w[1] = Near(t);
        w[2] = Near(1 - t);
        w[3] = Far(2 - t);
    }
}
