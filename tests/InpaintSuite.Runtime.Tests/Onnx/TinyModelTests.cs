using System.Text.Json;
using InpaintSuite.Runtime.Onnx;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Runtime.Tests.Onnx;

/// <summary>The diffusers-exported tiny UNets and VAE reproduce the outputs recorded with torch.</summary>
public sealed class TinyModelTests(ITestOutputHelper output)
{
    private static string Root => Path.Combine(TestPaths.DiffusersReference, "tiny_models");

    // CPU, unless tests/gpu/run.sh sets INPAINTSUITE_ORT_PROVIDER=cuda: an explicit provider fails rather than falls back,
    // so the parity then holds on CUDA itself.
    private static readonly OrtSessionOptions Options = new()
    {
        ExecutionProvider = OrtSessionOptions.ParseProvider(Environment.GetEnvironmentVariable(OrtSessionOptions.ProviderEnvironmentVariable)) is { } p and not ExecutionProviderKind.Auto ? p : ExecutionProviderKind.Cpu,
    };

    // The reference's own ORT check found <= 5e-6; allow 1e-4 relative to max(1, |ref|).
    private static string? Check(OrtTensor expected, OrtTensor actual) => TensorAssert.Compare(expected, actual, rtol: 1e-4, atol: 1e-4);

    [Fact]
    public void ComponentChecksReproduceRecordedOutputs()
    {
        var indexPath = Path.Combine(Root, "reference", "component_checks", "index.json");
        Assert.True(File.Exists(indexPath), $"{indexPath} not found");
        using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
        int ran = 0;
        var failures = new List<string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var name = c.GetProperty("name").GetString()!;
            using var session = InferenceSession.Load(Path.Combine(Root, c.GetProperty("onnx").GetString()!), Options);
            var inputs = new Dictionary<string, OrtTensor>();
            foreach (var input in c.GetProperty("inputs").EnumerateObject())
                inputs[input.Name] = NpyReader.Read(Path.Combine(Root, input.Value.GetProperty("file").GetString()!));
            var outSpec = c.GetProperty("output");
            var expected = NpyReader.Read(Path.Combine(Root, outSpec.GetProperty("file").GetString()!));
            var actual = session.Run(inputs)[outSpec.GetProperty("name").GetString()!];
            var m = Check(expected, actual);
            if (m != null) failures.Add($"{name}: {m}");
            output.WriteLine($"{name}: max |diff| {TensorAssert.MaxAbsDiff((OrtTensor<float>)expected, (OrtTensor<float>)actual):G3}");
            ran++;
        }
        output.WriteLine($"component checks: {ran} ran");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(6, ran);
    }

    [Fact]
    public void PipelineRunsReproduceEveryUnetAndVaeCall()
    {
        var refDir = Path.Combine(Root, "reference");
        var common = Path.Combine(refDir, "common");
        var runs = Directory.GetDirectories(refDir).Where(d => File.Exists(Path.Combine(d, "meta.json"))).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        Assert.True(runs.Length >= 6, $"expected the 6 Euler runs under {refDir}, found {runs.Length}");
        using var unetInpaint = InferenceSession.Load(Path.Combine(Root, "onnx/unet_inpaint/model.onnx"), Options);
        using var unet = InferenceSession.Load(Path.Combine(Root, "onnx/unet/model.onnx"), Options);
        using var unetDepth = InferenceSession.Load(Path.Combine(Root, "onnx/unet_depth/model.onnx"), Options);
        using var decoder = InferenceSession.Load(Path.Combine(Root, "onnx/vae_decoder/model.onnx"), Options);
        using var encoderParams = InferenceSession.Load(Path.Combine(Root, "onnx/vae_encoder_latent_parameters/model.onnx"), Options);
        using var encoderMean = InferenceSession.Load(Path.Combine(Root, "onnx/vae_encoder/model.onnx"), Options);

        var failures = new List<string>();
        int calls = 0;
        void Expect(string what, OrtTensor expected, OrtTensor actual)
        {
            calls++;
            var m = Check(expected, actual);
            if (m != null) failures.Add($"{what}: {m}");
        }

        // VAE encoder on the preprocessed images from common/.
        var initImage = NpyReader.Read(Path.Combine(common, "init_image.npy"));
        var maskedImage = NpyReader.Read(Path.Combine(common, "inpaint_masked_image.npy"));
        Expect("vae_encoder_latent_parameters(init_image)", NpyReader.Read(Path.Combine(common, "init_image_latent_parameters.npy")),
            encoderParams.Run(new Dictionary<string, OrtTensor> { ["sample"] = initImage })["latent_parameters"]);
        var maskedParams = encoderParams.Run(new Dictionary<string, OrtTensor> { ["sample"] = maskedImage })["latent_parameters"];
        Expect("vae_encoder_latent_parameters(masked_image)", NpyReader.Read(Path.Combine(common, "inpaint_masked_image_latent_parameters.npy")), maskedParams);
        // vae_encoder returns the posterior mean = first 4 channels of the parameters.
        var mean = (OrtTensor<float>)encoderMean.Run(new Dictionary<string, OrtTensor> { ["sample"] = maskedImage })["latent_sample"];
        var paramsMean = new OrtTensor<float>(((OrtTensor<float>)maskedParams).Memory[..(4 * 8 * 8)], [1, 4, 8, 8]);
        Expect("vae_encoder(masked_image) = mean", paramsMean, mean);

        var ehs = Concat0((OrtTensor<float>)NpyReader.Read(Path.Combine(common, "negative_prompt_embeds.npy")), (OrtTensor<float>)NpyReader.Read(Path.Combine(common, "prompt_embeds.npy")));
        foreach (var run in runs)
        {
            var name = Path.GetFileName(run);
            var session = name.StartsWith("inpaint", StringComparison.Ordinal) ? unetInpaint : name.StartsWith("depth", StringComparison.Ordinal) ? unetDepth : unet;
            var inputs = (OrtTensor<float>)NpyReader.Read(Path.Combine(run, "step_latent_model_input.npy"));
            var outputs = (OrtTensor<float>)NpyReader.Read(Path.Combine(run, "step_unet_output.npy"));
            var timesteps = (OrtTensor<long>)NpyReader.Read(Path.Combine(run, "step_timesteps.npy"));
            int steps = (int)timesteps.Shape[0];
            for (int s = 0; s < steps; s++)
            {
                var t = timesteps.Span[s];
                var sample = Slice0(inputs, s);
                var result = session.Run(new Dictionary<string, OrtTensor>
                {
                    ["sample"] = sample,
                    ["timestep"] = OrtTensor.Create(new[] { t, t }, 2),
                    ["encoder_hidden_states"] = ehs,
                })["out_sample"];
                Expect($"{name} step {s} unet", Slice0(outputs, s), result);
            }
            var decoded = decoder.Run(new Dictionary<string, OrtTensor> { ["latent_sample"] = NpyReader.Read(Path.Combine(run, "decoder_input.npy")) })["sample"];
            Expect($"{name} vae_decoder", NpyReader.Read(Path.Combine(run, "decoded.npy")), decoded);
        }
        output.WriteLine($"tiny models: {runs.Length} pipeline runs, {calls} component calls compared");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(calls >= 3 + 6 * 4, $"only {calls} calls compared");
    }

    [Fact]
    public void UnetMetadataHasSymbolicDimsAsMinusOne()
    {
        using var session = InferenceSession.Load(Path.Combine(Root, "onnx/unet_inpaint/model.onnx"), Options);
        Assert.Equal(["sample", "timestep", "encoder_hidden_states"], session.Inputs.Select(i => i.Name));
        Assert.Equal(OrtElementType.Float, session.Inputs[0].ElementType);
        Assert.Equal(OrtElementType.Int64, session.Inputs[1].ElementType);
        Assert.Equal([-1L, 9, -1, -1], session.Inputs[0].Dimensions);
        Assert.Equal([-1L], session.Inputs[1].Dimensions);
        Assert.Equal([-1L, -1, 32], session.Inputs[2].Dimensions);
        Assert.Equal("out_sample", Assert.Single(session.Outputs).Name);
    }

    private static OrtTensor<float> Slice0(OrtTensor<float> t, int index)
    {
        var inner = t.Shape.Skip(1).ToArray();
        var size = (int)OrtTensor.ShapeElementCount(inner);
        return new OrtTensor<float>(t.Memory.Slice(index * size, size), inner);
    }

    private static OrtTensor<float> Concat0(OrtTensor<float> a, OrtTensor<float> b)
    {
        var data = new float[a.Span.Length + b.Span.Length];
        a.Span.CopyTo(data);
        b.Span.CopyTo(data.AsSpan(a.Span.Length));
        var shape = a.Shape.ToArray();
        shape[0] += b.Shape[0];
        return new OrtTensor<float>(data, shape);
    }
}
