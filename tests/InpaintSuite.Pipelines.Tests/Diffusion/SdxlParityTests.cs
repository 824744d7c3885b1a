using System.Text.Json;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Numerics;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Pipelines.Tests.Diffusion;

/// <summary>
/// The SDXL path of the denoising loop against diffusers' StableDiffusionXLInpaintPipeline / Img2ImgPipeline on the tiny
/// SDXL models (shared/reference/sdxl, or INPAINTSUITE_SDXL_REFERENCE_DIR: same models, other runs). Saved embeddings,
/// image, mask and every random draw go in; time ids and text_embeds must be exact, the initial latents, every step's
/// UNet input and latents, the decoded image and the final image within the README's 1e-3 relative (uint8 ±1).
/// Each run's settings (scheduler, strength, steps, guidance, size, sizes/crop of the time ids) come from its meta.json;
/// inputs are read from the run's folder first, then from common/ (so a held-out run may bring its own mask or image).
/// </summary>
public sealed class SdxlParityTests(ITestOutputHelper output)
{
    private static string Root => TestPaths.SdxlReference;

    public static IEnumerable<object[]> Runs()
    {
        var dir = Path.Combine(Root, "reference");
        if (!Directory.Exists(dir)) yield return ["<missing " + dir + ">"];
        else
            foreach (var d in Directory.GetDirectories(dir).Where(d => File.Exists(Path.Combine(d, "meta.json")) && File.Exists(Path.Combine(d, "step_latents.npy"))).OrderBy(d => d))
                yield return [Path.GetFileName(d)];
    }

    [Fact]
    public void Reference_has_an_inpaint_and_an_img2img_run()
    {
        var runs = Runs().Select(r => (string)r[0]).ToList();
        output.WriteLine($"{runs.Count} SDXL reference runs in {Root}: {string.Join(", ", runs)}");
        Assert.Contains(runs, r => r.StartsWith("inpaint", StringComparison.Ordinal));
        Assert.Contains(runs, r => r.StartsWith("img2img", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Run_matches_diffusers(string run)
    {
        Assert.False(run.StartsWith('<'), $"reference folder missing: {run}");
        string dir = Path.Combine(Root, "reference", run);
        string common = Path.Combine(Root, "reference", "common");
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var m = meta.RootElement;
        string pipeline = m.TryGetProperty("pipeline_class", out var pc) ? pc.GetString()! : run;
        bool inpaint = pipeline.Contains("Inpaint", StringComparison.Ordinal) || run.StartsWith("inpaint", StringComparison.Ordinal);
        string unetName = m.TryGetProperty("unet", out var un) ? un.GetString()!.Split(' ')[0].Replace("onnx/", "", StringComparison.Ordinal) : inpaint ? "unet_inpaint" : "unet";
        float strength = m.TryGetProperty("strength", out var st) ? st.GetSingle() : 1f;
        int steps = m.TryGetProperty("num_inference_steps", out var ns) ? ns.GetInt32() : m.GetProperty("all_timesteps").GetArrayLength();
        float guidance = m.TryGetProperty("guidance_scale", out var gs) ? gs.GetSingle() : 5f;
        int height = m.GetProperty("height").GetInt32(), width = m.GetProperty("width").GetInt32();
        int[] Pair(string name, int a, int b) => m.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().Select(e => e.GetInt32()).ToArray() : [a, b];
        var original = Pair("original_size", height, width);
        var target = Pair("target_size", height, width);
        var crop = Pair("crops_coords_top_left", 0, 0);

        using var model = new DiffusionModel(SdxlEntry(unetName));
        var mode = !inpaint ? SamplerMode.ImageToImage : model.UnetInChannels == 9 ? SamplerMode.Inpaint : SamplerMode.InpaintLatentBlend;
        string schedulerClass = m.GetProperty("scheduler").GetString()!;
        var scheduler = NoiseScheduler.Create(DiffusersParityTests.SchedulerName(schedulerClass), SchedulerConfig.Load(Path.Combine(Root, "onnx", "scheduler", "scheduler_config.json")));

        string Find(string name) => File.Exists(Path.Combine(dir, name)) ? Path.Combine(dir, name) : Path.Combine(common, name);
        float[] F(string name) => NpyReader.Read(Find(name)).ToFloat32();
        float[]? Maybe(string name) => File.Exists(Find(name)) ? F(name) : null;

        // The time ids as diffusers' _get_add_time_ids builds them, from the run's sizes and crop: exact.
        var refTimeIds = F("add_time_ids.npy");
        var timeIds = SdxlConditioning.TimeIds(original[0], original[1], crop[0], crop[1], target[0], target[1]);
        Assert.Equal(refTimeIds.AsSpan(6, 6).ToArray(), timeIds);
        if (original.SequenceEqual([height, width]) && target.SequenceEqual([height, width]) && crop.SequenceEqual([0, 0]))
            Assert.Equal(timeIds, SdxlConditioning.DefaultTimeIds(width, height));

        float[]? mask = null;
        if (mode != SamplerMode.ImageToImage)
            mask = Maybe("mask.npy") ?? NpyReader.Read(Find("mask_uint8.npy")).ToFloat32().Select(v => v / 255f).ToArray();
        var inputs = new SamplerInputs
        {
            Mode = mode,
            InitImage = F("init_image.npy"),
            Height = height,
            Width = width,
            Mask = mask,
            PromptEmbeds = F("prompt_embeds.npy"),
            NegativeEmbeds = F("negative_prompt_embeds.npy"),
            PooledEmbeds = F("pooled_prompt_embeds.npy"),
            NegativePooledEmbeds = F("negative_pooled_prompt_embeds.npy"),
            TimeIds = timeIds,
            NegativeTimeIds = refTimeIds.AsSpan(0, 6).ToArray(),
            SequenceLength = 77,
            GuidanceScale = guidance,
            Steps = steps,
            Strength = strength,
            InitialNoise = F("initial_noise.npy"),
            // Two draws below strength 1 (init image, masked image); at strength 1 only the masked image is encoded.
            VaeEps = Maybe("init_image_vae_eps.npy") ?? Maybe("inpaint_masked_image_vae_eps.npy"),
            MaskedImageVaeEps = Maybe("inpaint_masked_image_vae_eps.npy"),
        };
        var trace = new SamplerTrace();
        var decoded = new DiffusionSampler(model, scheduler).Run(inputs, trace, null, CancellationToken.None);

        Assert.Equal(refTimeIds, trace.TimeIds);
        Assert.Equal(F("add_text_embeds.npy"), trace.TextEmbeds);
        var refTimesteps = NpyReader.Read(Path.Combine(dir, "step_timesteps.npy")).ToFloat32();
        Assert.Equal(refTimesteps, trace.StepTimesteps.ToArray());

        double initial = MaxRelError(trace.InitialLatents!, F("latents_initial.npy"));
        if (mode == SamplerMode.Inpaint)
            Assert.True(MaxRelError(trace.ConditionLatents!, F("masked_image_latents.npy")) <= 1e-4, "masked image latents differ");
        double worstStep = PerStep(trace.StepLatents, NpyReader.Read(Path.Combine(dir, "step_latents.npy")));
        double worstInput = PerStep(trace.StepModelInput, NpyReader.Read(Path.Combine(dir, "step_latent_model_input.npy")));
        double worstDecoded = MaxRelError(decoded, F("decoded.npy"));

        var finalRef = F("final_image_float.npy"); // [H,W,3] NHWC
        var ours = new float[finalRef.Length];
        int plane = height * width;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                ours[i * 3 + c] = Math.Clamp(decoded[c * plane + i] / 2f + 0.5f, 0f, 1f);
        double worstFinal = MaxRelError(ours, finalRef);
        var uint8Ref = NpyReader.Read(Path.Combine(dir, "final_image_uint8.npy")).ToFloat32();
        int worstByte = 0, offByOne = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            int d = Math.Abs((int)MathF.Round(ours[i] * 255f) - (int)uint8Ref[i]);
            worstByte = Math.Max(worstByte, d);
            if (d > 0) offByOne++;
        }
        output.WriteLine($"{run} ({pipeline}, {schedulerClass}, strength {strength}, {width}x{height}, {trace.StepLatents.Count} steps): " +
            $"time_ids/text_embeds exact; max rel error initial latents {initial:E2}, UNet inputs {worstInput:E2}, step latents {worstStep:E2}, " +
            $"decoded {worstDecoded:E2}, final image {worstFinal:E2}; uint8 max diff {worstByte} ({offByOne} of {ours.Length} values)");
        Assert.True(initial <= 1e-3, $"{run}: initial latents differ by {initial:E3}");
        Assert.True(worstInput <= 1e-3, $"{run}: UNet inputs differ by {worstInput:E3}");
        Assert.True(worstStep <= 1e-3, $"{run}: step latents differ by {worstStep:E3} (relative)");
        Assert.True(worstDecoded <= 1e-3, $"{run}: decoded image differs by {worstDecoded:E3} (relative)");
        Assert.True(worstFinal <= 1e-3, $"{run}: final image differs by {worstFinal:E3} (relative)");
        Assert.True(worstByte <= 1, $"{run}: uint8 image off by {worstByte}");
    }

    /// <summary>Every component check (UNets at other sizes, batch 2 with real-SDXL time ids, VAE at 64x96) through DiffusionModel.</summary>
    [Fact]
    public void Component_checks_match_through_the_model_interface()
    {
        string cc = Path.Combine(Root, "reference", "component_checks");
        float[] F(string name, string file) => NpyReader.Read(Path.Combine(cc, name, file)).ToFloat32();
        int checkedCases = 0;
        foreach (var name in new[] { "unet_inpaint_b1_16x24", "unet_b2_timestep_len1_real_sdxl_time_ids" })
        {
            var sampleArr = NpyReader.Read(Path.Combine(cc, name, "input_sample.npy"));
            var shape = sampleArr.Shape;
            int b = (int)shape[0], c = (int)shape[1], h = (int)shape[2], w = (int)shape[3];
            using var model = new DiffusionModel(SdxlEntry(c == 9 ? "unet_inpaint" : "unet"));
            float t = F(name, "input_timestep.npy")[0];
            var ours = model.Unet(sampleArr.ToFloat32(), b, c, h, w, t, F(name, "input_encoder_hidden_states.npy"), 77, CancellationToken.None,
                F(name, "input_text_embeds.npy"), F(name, "input_time_ids.npy"));
            double err = MaxRelError(ours, F(name, "output_out_sample.npy"));
            output.WriteLine($"{name}: max rel error {err:E2}");
            Assert.True(err <= 1e-4, $"{name}: {err:E3}");
            checkedCases++;
        }
        using (var model = new DiffusionModel(SdxlEntry("unet")))
        {
            var dec = model.DecodeVae(F("vae_decoder_b1_8x12", "input_latent_sample.npy"), 1, 8, 12, CancellationToken.None);
            double err = MaxRelError(dec, F("vae_decoder_b1_8x12", "output_sample.npy"));
            output.WriteLine($"vae_decoder_b1_8x12: max rel error {err:E2}");
            Assert.True(err <= 1e-4, $"decoder: {err:E3}");
            var (mean, logvar) = model.EncodeVae(F("vae_encoder_latent_parameters_b1_64x96", "input_sample.npy"), 1, 64, 96, CancellationToken.None);
            var p = F("vae_encoder_latent_parameters_b1_64x96", "output_latent_parameters.npy");
            double errEnc = Math.Max(MaxRelError(mean, p.AsSpan(0, p.Length / 2)), MaxRelError(logvar!, p.AsSpan(p.Length / 2)));
            output.WriteLine($"vae_encoder_latent_parameters_b1_64x96: max rel error {errEnc:E2}");
            Assert.True(errEnc <= 1e-4, $"encoder: {errEnc:E3}");
            checkedCases += 2;
        }
        Assert.Equal(4, checkedCases);
    }

    private static double PerStep(List<float[]> ours, NpyArray reference)
    {
        int s = (int)reference.Shape[0];
        Assert.Equal(s, ours.Count);
        var data = reference.ToFloat32();
        int per = data.Length / s;
        double worst = 0;
        for (int i = 0; i < s; i++) worst = Math.Max(worst, MaxRelError(ours[i], data.AsSpan(i * per, per)));
        return worst;
    }

    /// <summary>max |a-b| / max(1, |b|) (the README's measure).</summary>
    private static double MaxRelError(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]) / Math.Max(1.0, Math.Abs(b[i])));
        return worst;
    }

    /// <summary>A model entry over the shared tiny SDXL components (no text encoders: parity feeds the saved embeddings).</summary>
    internal static ModelEntry SdxlEntry(string unet)
    {
        string onnx = Path.Combine(Root, "onnx");
        bool nine = unet == "unet_inpaint";
        return new ModelEntry
        {
            Name = "tiny-sdxl-" + unet,
            Directory = onnx,
            Kind = nine ? ModelKind.Inpaint : ModelKind.Img2Img,
            Architecture = ModelArchitecture.StableDiffusionXL,
            Usable = true,
            UnetInChannels = nine ? 9 : 4,
            VaeScalingFactor = 0.13025f,
            VaeScaleFactor = 8,
            NativeWidth = 64,
            NativeHeight = 64,
            PooledEmbedDim = 32,
            ForceZerosForEmptyPrompt = true,
            UnetPath = Path.Combine(onnx, unet, "model.onnx"),
            VaeEncoderPath = Path.Combine(onnx, "vae_encoder_latent_parameters", "model.onnx"),
            VaeDecoderPath = Path.Combine(onnx, "vae_decoder", "model.onnx"),
            SchedulerConfigPath = Path.Combine(onnx, "scheduler", "scheduler_config.json"),
        };
    }
}
