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
/// The denoising loop against diffusers' own runs on the tiny models (shared/reference/diffusers/tiny_models):
/// saved embeddings, images, masks, depth maps and noise go in; every step's latents and the final image must
/// match within 1e-3 relative. Also runs every run folder under INPAINTSUITE_DIFFUSERS_REFERENCE_DIR.
/// </summary>
public sealed class DiffusersParityTests(ITestOutputHelper output)
{
    private static string TinyRoot => Path.Combine(TestPaths.DiffusersReference, "tiny_models");

    public static IEnumerable<object[]> Runs()
    {
        var dir = Path.Combine(TinyRoot, "reference");
        if (!Directory.Exists(dir)) yield return ["<missing " + dir + ">"];
        else
            foreach (var d in Directory.GetDirectories(dir).Where(d => File.Exists(Path.Combine(d, "meta.json")) && File.Exists(Path.Combine(d, "step_latents.npy"))).OrderBy(d => d))
                yield return [Path.GetFileName(d)];
    }

    [Fact]
    public void Reference_has_the_runs_the_issue_names()
    {
        var runs = Runs().Select(r => (string)r[0]).ToList();
        output.WriteLine($"{runs.Count} reference runs in {TinyRoot}: {string.Join(", ", runs)}");
        foreach (var kind in new[] { "inpaint", "img2img", "depth2img" })
            foreach (var vae in new[] { "vaesample", "vaemean" })
                Assert.Contains(runs, r => r.StartsWith(kind + "_", StringComparison.Ordinal) && r.EndsWith(vae, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Run_matches_diffusers(string run)
    {
        Assert.False(run.StartsWith('<'), $"reference folder missing: {run}");
        string dir = Path.Combine(TinyRoot, "reference", run);
        string common = Path.Combine(TinyRoot, "reference", "common");
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        string schedulerClass = meta.RootElement.GetProperty("scheduler").GetString()!;
        float strength = meta.RootElement.TryGetProperty("strength", out var st) ? st.GetSingle() : 1f;
        int steps = meta.RootElement.TryGetProperty("all_timesteps", out var all) ? all.GetArrayLength() : 4;

        var (mode, unet) = run.Split('_')[0] switch
        {
            "inpaint" => (SamplerMode.Inpaint, "unet_inpaint"),
            "img2img" => (SamplerMode.ImageToImage, "unet"),
            "depth2img" => (SamplerMode.Depth, "unet_depth"),
            var k => throw new InvalidOperationException($"unknown run kind {k}"),
        };
        using var model = new DiffusionModel(TinyEntry(unet));
        var scheduler = NoiseScheduler.Create(SchedulerName(schedulerClass), SchedulerConfig.Load(Path.Combine(TinyRoot, "onnx", "scheduler", "scheduler_config.json")));

        float[] F(string folder, string name) => NpyReader.Read(Path.Combine(folder, name)).ToFloat32();
        string epsFile = Directory.GetFiles(dir, "*_vae_eps.npy").Single();
        var depth = mode == SamplerMode.Depth ? NpyReader.Read(Path.Combine(common, "depth_map.npy")) : null;
        var inputs = new SamplerInputs
        {
            Mode = mode,
            InitImage = F(common, "init_image.npy"),
            Height = 64,
            Width = 64,
            Mask = mode == SamplerMode.Inpaint ? F(common, "mask.npy") : null,
            Depth = depth?.ToFloat32(),
            DepthHeight = depth == null ? 0 : (int)depth.Shape[^2],
            DepthWidth = depth == null ? 0 : (int)depth.Shape[^1],
            PromptEmbeds = F(common, "prompt_embeds.npy"),
            NegativeEmbeds = F(common, "negative_prompt_embeds.npy"),
            SequenceLength = 77,
            GuidanceScale = 7.5f,
            Steps = steps,
            Strength = strength,
            InitialNoise = F(dir, "initial_noise.npy"),
            VaeEps = F(dir, Path.GetFileName(epsFile)),
        };
        var trace = new SamplerTrace();
        var decoded = new DiffusionSampler(model, scheduler).Run(inputs, trace, null, CancellationToken.None);

        var refSteps = NpyReader.Read(Path.Combine(dir, "step_latents.npy"));
        int s = (int)refSteps.Shape[0];
        Assert.Equal(s, trace.StepLatents.Count);
        var refData = refSteps.ToFloat32();
        int per = refData.Length / s;
        double worstStep = 0;
        for (int i = 0; i < s; i++)
            worstStep = Math.Max(worstStep, MaxRelError(trace.StepLatents[i], refData.AsSpan(i * per, per)));

        var finalRef = F(dir, "final_image_float.npy"); // [64,64,3] NHWC
        var ours = new float[finalRef.Length];
        int plane = 64 * 64;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                ours[i * 3 + c] = Math.Clamp(decoded[c * plane + i] / 2f + 0.5f, 0f, 1f);
        double worstFinal = MaxRelError(ours, finalRef);
        output.WriteLine($"{run}: {s} steps, max rel error per-step latents {worstStep:E2}, final image {worstFinal:E2}");
        Assert.True(worstStep <= 1e-3, $"{run}: step latents differ by {worstStep:E3} (relative)");
        Assert.True(worstFinal <= 1e-3, $"{run}: final image differs by {worstFinal:E3} (relative)");
    }

    /// <summary>max |a-b| / max(1, |b|): relative for large values, absolute near zero.</summary>
    private static double MaxRelError(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]) / Math.Max(1.0, Math.Abs(b[i])));
        return worst;
    }

    internal static string SchedulerName(string cls) => cls switch
    {
        "EulerDiscreteScheduler" => "euler",
        "EulerAncestralDiscreteScheduler" => "euler_ancestral",
        "DDIMScheduler" => "ddim",
        "PNDMScheduler" => "pndm",
        "LCMScheduler" => "lcm",
        "UniPCMultistepScheduler" => "unipc",
        "DDPMScheduler" => "ddpm",
        "DPMSolverMultistepScheduler" => "dpmpp_2m",
        _ => cls.ToLowerInvariant(),
    };

    /// <summary>A model entry over the shared tiny components (no text encoder: parity feeds embeddings directly).</summary>
    internal static ModelEntry TinyEntry(string unet)
    {
        string onnx = Path.Combine(TinyRoot, "onnx");
        return new ModelEntry
        {
            Name = "tiny-" + unet,
            Directory = onnx,
            Kind = unet switch { "unet_inpaint" => ModelKind.Inpaint, "unet_depth" => ModelKind.Depth, _ => ModelKind.Img2Img },
            Usable = true,
            UnetInChannels = unet switch { "unet_inpaint" => 9, "unet_depth" => 5, _ => 4 },
            VaeScalingFactor = 0.18215f,
            VaeScaleFactor = 8,
            NativeWidth = 64,
            NativeHeight = 64,
            UnetPath = Path.Combine(onnx, unet, "model.onnx"),
            VaeEncoderPath = Path.Combine(onnx, "vae_encoder_latent_parameters", "model.onnx"),
            VaeDecoderPath = Path.Combine(onnx, "vae_decoder", "model.onnx"),
            SchedulerConfigPath = Path.Combine(onnx, "scheduler", "scheduler_config.json"),
        };
    }
}
