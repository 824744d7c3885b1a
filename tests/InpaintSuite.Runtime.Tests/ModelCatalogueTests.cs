using System.Diagnostics;
using InpaintSuite.Runtime.Models;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Runtime.Tests;

public sealed class ModelCatalogueTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("inpaintsuite-models-");

    public ModelCatalogueTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _root.Delete(recursive: true);

    private static string Tiny => Path.Combine(TestPaths.DiffusersReference, "tiny_models", "onnx");
    private static string TokenizerRef => Path.Combine(TestPaths.DiffusersReference, "tokenizer");

    private static void Link(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.CreateSymbolicLink(Path.Combine(to, Path.GetFileName(f)), f);
    }

    /// <summary>The shared tiny components as a model folder (the tiny set has no text encoder).</summary>
    private string ArrangeTiny(string name, string unet, bool withTextEncoder)
    {
        string dir = Path.Combine(_root.FullName, name);
        Link(Path.Combine(Tiny, unet), Path.Combine(dir, "unet"));
        Link(Path.Combine(Tiny, "vae_encoder_latent_parameters"), Path.Combine(dir, "vae_encoder"));
        Link(Path.Combine(Tiny, "vae_decoder"), Path.Combine(dir, "vae_decoder"));
        Link(Path.Combine(Tiny, "scheduler"), Path.Combine(dir, "scheduler"));
        Directory.CreateDirectory(Path.Combine(dir, "tokenizer"));
        foreach (var f in new[] { "vocab.json", "merges.txt" })
            File.CreateSymbolicLink(Path.Combine(dir, "tokenizer", f), Path.Combine(TokenizerRef, f));
        if (withTextEncoder) FakeOnnx.TextEncoder(Path.Combine(dir, "text_encoder", "model.onnx"));
        File.WriteAllText(Path.Combine(dir, "model_index.json"), """{"_class_name": "OnnxStableDiffusionInpaintPipeline"}""");
        return dir;
    }

    /// <summary>A complete folder of fake (header-only) components.</summary>
    private string ArrangeFake(string name, int channels = 9)
    {
        string dir = Path.Combine(_root.FullName, name);
        FakeOnnx.Unet(Path.Combine(dir, "unet", "model.onnx"), channels);
        FakeOnnx.TextEncoder(Path.Combine(dir, "text_encoder", "model.onnx"));
        FakeOnnx.VaeEncoder(Path.Combine(dir, "vae_encoder", "model.onnx"));
        FakeOnnx.VaeDecoder(Path.Combine(dir, "vae_decoder", "model.onnx"));
        Directory.CreateDirectory(Path.Combine(dir, "tokenizer"));
        File.WriteAllText(Path.Combine(dir, "tokenizer", "vocab.json"), "{}");
        File.WriteAllText(Path.Combine(dir, "tokenizer", "merges.txt"), "#version: 0.2\n");
        Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
        File.WriteAllText(Path.Combine(dir, "scheduler", "scheduler_config.json"), """{"_class_name": "PNDMScheduler", "lambda_min_clipped": -Infinity}""");
        File.WriteAllText(Path.Combine(dir, "model_index.json"), "{}");
        return dir;
    }

    [Theory]
    [InlineData("unet_inpaint", ModelKind.Inpaint, 9, "inpaint")]
    [InlineData("unet", ModelKind.Img2Img, 4, "img2img")]
    [InlineData("unet_depth", ModelKind.Depth, 5, "depth")]
    public void RecognisesTinyModelsAndSaysTheTextEncoderIsMissing(string unet, ModelKind kind, int channels, string kindName)
    {
        var e = ModelCatalogue.Inspect(ArrangeTiny("tiny-" + unet, unet, withTextEncoder: false));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(kindName, e.KindName);
        Assert.Equal(channels, e.UnetInChannels);
        Assert.Equal("fp32", e.Dtype);
        Assert.Equal(TimestepInput.Int64Vector, e.TimestepInput);
        Assert.Equal(64, e.NativeWidth);
        Assert.Equal(64, e.NativeHeight);
        Assert.Equal(8, e.VaeScaleFactor);
        Assert.Equal(0.18215f, e.VaeScalingFactor);
        Assert.Equal(32, e.CrossAttentionDim);
        Assert.Equal("latent_parameters", e.VaeEncoderOutput);
        Assert.False(e.Usable);
        Assert.Equal("missing text_encoder/model.onnx", e.Reason);
        _output.WriteLine($"{e.Name}: {e.KindName} {e.Dtype} {e.NativeWidth}x{e.NativeHeight} unusable: {e.Reason}");
    }

    [Fact]
    public void TinyModelsWithATextEncoderAreUsable()
    {
        ArrangeTiny("a-inpaint", "unet_inpaint", withTextEncoder: true);
        ArrangeTiny("b-base", "unet", withTextEncoder: true);
        string depth = ArrangeTiny("c-depth", "unet_depth", withTextEncoder: true);
        var list = ModelCatalogue.Scan(_root.FullName);
        Assert.Equal(3, list.Count);
        Assert.All(list, e => Assert.True(e.Usable, e.Name + ": " + e.Reason));
        Assert.Equal(["inpaint", "outpaint"], list[0].Operations);
        Assert.Equal("int32", list[0].TextEncoderIdsType);
        Assert.Contains(list[2].Notes, n => n.Contains("depth map"));
        FakeOnnx.DepthEstimator(Path.Combine(depth, "depth_estimator", "model.onnx"));
        var withEstimator = ModelCatalogue.Inspect(depth);
        Assert.NotNull(withEstimator.DepthEstimatorPath);
        Assert.Empty(withEstimator.Notes);
    }

    [Fact]
    public void FoldersFromTheTeamGeneratorScriptAreUsable()
    {
        var missing = TestPaths.PythonModulesMissing("onnx", "numpy");
        Assert.True(missing is null, missing + " (apt-get install python3-onnx python3-numpy)");
        string script = Path.Combine(TestPaths.RepoRoot, "tests", "tools", "make_tiny_models.py");
        var (code, _, err) = TestPaths.Run(TestPaths.DebianPython, [script, _root.FullName, "--shared", TestPaths.Shared], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, err);
        var list = ModelCatalogue.Scan(_root.FullName);
        Assert.Equal(["tiny-sd-base", "tiny-sd-depth", "tiny-sd-inpaint"], list.Select(e => e.Name));
        Assert.All(list, e => Assert.True(e.Usable, e.Name + ": " + e.Reason));
        Assert.Equal([ModelKind.Img2Img, ModelKind.Depth, ModelKind.Inpaint], list.Select(e => e.Kind));
        Assert.NotNull(list[1].DepthEstimatorPath);
    }

    [Fact]
    public void ReadsOnnxHeadersOfTheTinyModels()
    {
        var h = OnnxHeaderReader.Read(Path.Combine(Tiny, "unet_inpaint", "model.onnx"));
        Assert.Equal(7, h.IrVersion);
        Assert.Contains(h.Opsets, o => o.Domain == "" && o.Version == 14);
        Assert.Equal(["sample", "timestep", "encoder_hidden_states"], h.Inputs.Select(i => i.Name));
        Assert.Equal("sample: float[batch_size, 9, height, width]", h.Inputs[0].ToString());
        Assert.Equal("timestep: int64[steps]", h.Inputs[1].ToString());
        Assert.Equal("out_sample", Assert.Single(h.Outputs).Name);
        Assert.Empty(h.ExternalDataFiles);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 20; i++) OnnxHeaderReader.Read(Path.Combine(Tiny, "unet", "model.onnx"));
        _output.WriteLine($"header read: {sw.Elapsed.TotalMilliseconds / 20:F2} ms per 3.6 MB UNet");
    }

    [Fact]
    public void DetectsFp16AndScalarFloatTimestep()
    {
        string dir = ArrangeFake("fp16");
        FakeOnnx.Unet(Path.Combine(dir, "unet", "model.onnx"), 9, FakeOnnx.Float16, FakeOnnx.Float, timestepDims: [], crossDim: 32);
        var e = ModelCatalogue.Inspect(dir);
        Assert.True(e.Usable, e.Reason);
        Assert.Equal("fp16", e.Dtype);
        Assert.Equal(TimestepInput.Float32Scalar, e.TimestepInput);
        FakeOnnx.Unet(Path.Combine(dir, "unet", "model.onnx"), 9, FakeOnnx.Float, FakeOnnx.Float, timestepDims: ["batch"]);
        Assert.Equal(TimestepInput.Float32Vector, ModelCatalogue.Inspect(dir).TimestepInput);
    }

    [Fact]
    public void NativeSizeFollowsUnetSampleSize()
    {
        string dir = ArrangeFake("sd2");
        File.WriteAllText(Path.Combine(dir, "unet", "config.json"), """{"in_channels": 9, "sample_size": 96}""");
        var e = ModelCatalogue.Inspect(dir);
        Assert.Equal(768, e.NativeWidth);
        Assert.Equal(768, e.NativeHeight);
    }

    // ---- one test per rejection reason ----

    private ModelEntry Broken(string name, Action<string> breakIt)
    {
        string dir = ArrangeFake(name);
        breakIt(dir);
        var entries = ModelCatalogue.Scan(_root.FullName);
        var e = Assert.Single(entries, x => x.Name == name);
        Assert.False(e.Usable);
        Assert.False(string.IsNullOrEmpty(e.Reason));
        _output.WriteLine($"{name}: {e.Reason}");
        return e;
    }

    [Fact]
    public void RejectsMissingModelIndex() =>
        Assert.Contains("missing model_index.json", Broken("no-index", d => File.Delete(Path.Combine(d, "model_index.json"))).Reason);

    [Fact]
    public void RejectsInvalidModelIndex() =>
        Assert.Contains("model_index.json is not valid JSON", Broken("bad-index", d => File.WriteAllText(Path.Combine(d, "model_index.json"), "{nope")).Reason);

    [Fact]
    public void RejectsMissingComponents()
    {
        var e = Broken("no-unet-vae", d =>
        {
            Directory.Delete(Path.Combine(d, "unet"), true);
            File.Delete(Path.Combine(d, "vae_decoder", "model.onnx"));
        });
        Assert.StartsWith("missing unet/model.onnx, vae_decoder/model.onnx", e.Reason);
        Assert.Equal(ModelKind.Unknown, e.Kind);
    }

    [Fact]
    public void RejectsMissingTokenizerFiles() =>
        Assert.Contains("missing tokenizer/merges.txt", Broken("no-merges", d => File.Delete(Path.Combine(d, "tokenizer", "merges.txt"))).Reason);

    [Fact]
    public void RejectsMissingSchedulerConfig() =>
        Assert.Contains("missing scheduler/scheduler_config.json", Broken("no-sched", d => Directory.Delete(Path.Combine(d, "scheduler"), true)).Reason);

    [Fact]
    public void RejectsInvalidSchedulerConfig() =>
        Assert.Contains("scheduler/scheduler_config.json is not valid JSON", Broken("bad-sched", d => File.WriteAllText(Path.Combine(d, "scheduler", "scheduler_config.json"), "[1,")).Reason);

    [Fact]
    public void RejectsCorruptOnnx()
    {
        var e = Broken("corrupt", d => File.WriteAllBytes(Path.Combine(d, "unet", "model.onnx"), [0xFF, 0xFF, 0xFF, 0x07, 1, 2, 3]));
        Assert.Contains("unet/model.onnx is not a readable ONNX model", e.Reason);
        var t = Broken("truncated", d =>
        {
            var src = File.ReadAllBytes(Path.Combine(Tiny, "unet", "model.onnx"));
            File.WriteAllBytes(Path.Combine(d, "unet", "model.onnx"), src[..(src.Length / 2)]);
        });
        Assert.Contains("unet/model.onnx is not a readable ONNX model", t.Reason);
    }

    [Fact]
    public void RejectsUnsupportedChannelCount()
    {
        var e = Broken("seven", d => FakeOnnx.Unet(Path.Combine(d, "unet", "model.onnx"), 7));
        Assert.Contains("unet has 7 input channels (4 = base/img2img, 5 = depth, 9 = inpaint)", e.Reason);
    }

    [Fact]
    public void RejectsUnetWithoutTimestep() =>
        Assert.Contains("unet/model.onnx has no 'timestep' input", Broken("no-timestep", d => FakeOnnx.Unet(Path.Combine(d, "unet", "model.onnx"), 9, withTimestep: false)).Reason);

    [Fact]
    public void RejectsTextEncoderWithoutInputIds() =>
        Assert.Contains("text_encoder/model.onnx has no 'input_ids' input", Broken("te-vae", d => FakeOnnx.VaeDecoder(Path.Combine(d, "text_encoder", "model.onnx"))).Reason);

    [Fact]
    public void RejectsMismatchedTextEncoder() =>
        Assert.Contains("text encoder hidden size 768 does not match the unet's cross-attention dim 32",
            Broken("te-768", d => FakeOnnx.TextEncoder(Path.Combine(d, "text_encoder", "model.onnx"), hidden: 768)).Reason);

    [Fact]
    public void RejectsMissingExternalWeights() =>
        Assert.Contains("unet: missing external weights file(s) weights.pb",
            Broken("ext", d => FakeOnnx.Write(Path.Combine(d, "unet", "model.onnx"),
                [new("sample", FakeOnnx.Float, ["b", 9L, "h", "w"]), new("timestep", FakeOnnx.Int64, ["steps"]), new("encoder_hidden_states", FakeOnnx.Float, ["b", "s", 32L])],
                [new("out_sample", FakeOnnx.Float, null)], externalDataLocation: "weights.pb")).Reason);

    [Fact]
    public void ExternalWeightsPresentIsFineAndInitializerInputsAreIgnored()
    {
        string dir = ArrangeFake("ext-ok");
        FakeOnnx.Write(Path.Combine(dir, "unet", "model.onnx"),
            [new("sample", FakeOnnx.Float, ["b", 9L, "h", "w"]), new("timestep", FakeOnnx.Int64, ["steps"]), new("encoder_hidden_states", FakeOnnx.Float, ["b", "s", 32L]), new("w", FakeOnnx.Float, [4L])],
            [new("out_sample", FakeOnnx.Float, null)], externalDataLocation: "weights.pb", initializerName: "w");
        File.WriteAllBytes(Path.Combine(dir, "unet", "weights.pb"), new byte[16]);
        var e = ModelCatalogue.Inspect(dir);
        Assert.True(e.Usable, e.Reason);
        Assert.Equal(3, OnnxHeaderReader.Read(Path.Combine(dir, "unet", "model.onnx")).Inputs.Count);
    }

    [Fact]
    public void StandaloneDepthEstimatorAndBadRootModel()
    {
        FakeOnnx.DepthEstimator(Path.Combine(_root.FullName, "dpt", "model.onnx"));
        FakeOnnx.VaeDecoder(Path.Combine(_root.FullName, "stray", "model.onnx"));
        var list = ModelCatalogue.Scan(_root.FullName);
        var dpt = Assert.Single(list, e => e.Name == "dpt");
        Assert.True(dpt.Usable, dpt.Reason);
        Assert.Equal("depth-estimator", dpt.KindName);
        var stray = Assert.Single(list, e => e.Name == "stray");
        Assert.False(stray.Usable);
        Assert.Contains("has no 'pixel_values' input", stray.Reason);
    }

    [Fact]
    public void MissingOrEmptyModelsDirectoryGivesNoEntries()
    {
        Assert.Empty(ModelCatalogue.Scan(Path.Combine(_root.FullName, "does-not-exist")));
        Assert.Empty(ModelCatalogue.Scan(_root.FullName));
    }
}
