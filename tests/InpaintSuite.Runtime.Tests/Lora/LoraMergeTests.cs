using System.Buffers.Binary;
using System.Text;
using InpaintSuite.Runtime.Lora;
using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Onnx;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests.Lora;

/// <summary>Synthetic graphs (tests/tools/make_lora_test_models.py) with a numpy-merged oracle per layout and dtype.</summary>
public sealed class LoraTestModels : IDisposable
{
    public LoraTestModels()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("inpaintsuite-lora-").FullName;
        var missing = TestPaths.PythonModulesMissing("onnx", "numpy");
        Assert.True(missing == null, missing);
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython,
            [Path.Combine(TestPaths.RepoRoot, "tests", "tools", "make_lora_test_models.py"), Directory, "0.8"], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"make_lora_test_models.py failed: {stderr}{stdout}");
    }

    public string Directory { get; }

    public string Model(string variant) => Path.Combine(Directory, variant, "model.onnx");

    public string Lora => Path.Combine(Directory, "lora.safetensors");

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

public sealed class LoraMergeTests(LoraTestModels models) : IClassFixture<LoraTestModels>
{
    private static readonly string UnetPath = Path.Combine(TestPaths.DiffusersReference, "tiny_models", "onnx", "unet", "model.onnx");

    private static Dictionary<string, OrtTensor> Inputs(InferenceSession s)
    {
        var rng = new Random(5);
        var inputs = new Dictionary<string, OrtTensor>();
        foreach (var i in s.Inputs)
        {
            var dims = i.Dimensions.ToArray();
            var data = new float[(int)dims.Aggregate(1L, (a, d) => a * d)];
            for (int k = 0; k < data.Length; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            inputs[i.Name] = OrtTensor.Create(data, dims);
        }
        return inputs;
    }

    private static Dictionary<string, float[]> RunAll(InferenceSession s) =>
        s.Run(Inputs(s)).ToDictionary(p => p.Key, p => p.Value.ToFloat32().Span.ToArray());

    private static double MaxAbs(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    [Theory]
    [InlineData("fp32", 1e-5)]
    [InlineData("fp16", 1e-2)]
    [InlineData("external", 1e-5)]
    public void MergedSessionMatchesTheNumpyMergeForConvLoconMatmulAndGemm(string variant, double tolerance)
    {
        var stack = new LoraStack(LoraTarget.Unet, [LoraRef.ForFile("t", models.Lora, 0.8f)]);
        var cpu = new OrtSessionOptions { ExecutionProvider = ExecutionProviderKind.Cpu, IntraOpThreads = 1 };
        using var cache = ModelSessionCache.Unbounded();
        using var merged = cache.Acquire(new ModelSessionKey(models.Model(variant), cpu, stack));
        using var oracle = InferenceSession.Load(models.Model(variant + "_merged"), cpu);
        using var plain = cache.Acquire(new ModelSessionKey(models.Model(variant), cpu));
        Assert.NotSame(plain.Value, merged.Value);
        var got = RunAll(merged.Value);
        var want = RunAll(oracle);
        var baseline = RunAll(plain.Value);
        foreach (var output in new[] { "out_sample", "out_temb" })
        {
            double diff = MaxAbs(got[output], want[output]);
            double effect = MaxAbs(baseline[output], want[output]);
            Assert.True(diff <= tolerance, $"{variant} {output}: merged vs numpy {diff:E2} > {tolerance:E0}");
            Console.WriteLine($"{variant} {output}: merged vs numpy {diff:E2}, LoRA effect {effect:E2}");
            Assert.True(effect > 10 * tolerance, $"{variant} {output}: the LoRA changes the output by only {effect:E2}");
        }
        // The module without a LoRA is untouched.
        Assert.True(MaxAbs(got["out_k"], baseline["out_k"]) == 0, "attn2.to_k changed although no LoRA targets it");
    }

    [Fact]
    public void Fp16WeightsAreMergedInFp32AndStoredBackAsFp16()
    {
        var graph = OnnxWeightGraph.Load(models.Model("fp16"));
        var oracle = OnnxWeightGraph.Load(models.Model("fp16_merged"));
        var lora = LoraFile.Load(models.Lora);
        var result = LoraMerger.Merge(graph, models.Directory, [(lora, 0.8f)], LoraTarget.Unet, lenient: false, "synthetic");
        Assert.Equal(3, result.ModulesMerged);
        Assert.Equal(graph.Model.Length, result.Model.Length); // patched in place: same layout, float16 kept
        var patched = OnnxWeightGraph.Parse(result.Model);
        foreach (var name in new[] { "unet.conv_in.weight", "onnx::MatMul_7", "unet.time_embedding.linear_1.weight" })
        {
            var p = patched.Initializers[name];
            var o = oracle.Initializers[name];
            Assert.Equal(10, p.DataType);
            var a = result.Model.AsSpan(p.DataOffset, p.DataLength);
            var b = oracle.Model.AsSpan(o.DataOffset, o.DataLength);
            int differentHalves = 0;
            for (int i = 0; i < a.Length / 2; i++)
            {
                var x = BinaryPrimitives.ReadHalfLittleEndian(a[(2 * i)..]);
                var y = BinaryPrimitives.ReadHalfLittleEndian(b[(2 * i)..]);
                // Rounded once from float32 vs once from float64: at most one unit in the last place apart.
                Assert.True(Math.Abs(BitConverter.HalfToInt16Bits(x) - BitConverter.HalfToInt16Bits(y)) <= 1, $"{name}[{i}]: {x} vs {y}");
                if (x != y) differentHalves++;
            }
            Assert.True(differentHalves <= a.Length / 2 / 10, $"{name}: {differentHalves} halves differ from the oracle");
        }
    }

    [Fact]
    public void ExternalDataWeightsAreReadFromTheirFileAndInlined()
    {
        var graph = OnnxWeightGraph.Load(models.Model("external"));
        Assert.All(graph.Initializers.Values.Where(i => i.ElementSize > 0), i => Assert.True(i.IsExternal, i.Name));
        var result = LoraMerger.Merge(graph, Path.Combine(models.Directory, "external"), [(LoraFile.Load(models.Lora), 1f)], LoraTarget.Unet, false, "synthetic");
        Assert.True(result.UsesExternalData);
        var patched = OnnxWeightGraph.Parse(result.Model);
        Assert.False(patched.Initializers["unet.conv_in.weight"].IsExternal);
        Assert.True(patched.Initializers["onnx::MatMul_9"].IsExternal); // not a LoRA target: stays in weights.pb
    }

    [Fact]
    public void MultiplierZeroLeavesEveryWeightByteIdentical()
    {
        var graph = OnnxWeightGraph.Load(models.Model("fp32"));
        var result = LoraMerger.Merge(graph, models.Directory, [(LoraFile.Load(models.Lora), 0f)], LoraTarget.Unet, false, "synthetic");
        Assert.Equal(graph.Model, result.Model);
        Assert.True(new LoraStack(LoraTarget.Unet, [LoraRef.ForFile("t", models.Lora, 0f)]).IsEmpty);
        Assert.Null(new ModelSessionKey(models.Model("fp32"), null, new LoraStack(LoraTarget.Unet, [LoraRef.ForFile("t", models.Lora, 0f)])).Loras);
    }

    [Fact]
    public void TextEncoderKeysMergeIntoTheTextEncoderOnlyAndUnetKeysIntoTheUnetOnly()
    {
        var file = LoraFile.FromSafetensors(SafetensorsFile.Parse(SafetensorsFile.Write(
        [
            ("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", [1, 4], [1, 2, 3, 4]),
            ("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", [4, 1], [0.5f, 0, 0, -1]),
            ("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha", [], [1]),
            ("lora_unet_time_embedding_linear_1.lora_down.weight", [1, 3], [1, 1, 1]),
            ("lora_unet_time_embedding_linear_1.lora_up.weight", [5, 1], [1, 1, 1, 1, 1]),
        ])), "both");
        Assert.Equal([LoraTarget.Unet, LoraTarget.TextEncoder], file.Modules.Select(m => m.Target).Order());
        var graph = OnnxWeightGraph.Load(models.Model("fp32"));
        var te = LoraMerger.Merge(graph, models.Directory, [(file, 2f)], LoraTarget.TextEncoder, false, "synthetic");
        Assert.Equal((1, 1), (te.ModulesMerged, te.WeightsPatched));
        var after = OnnxWeightGraph.Parse(te.Model);
        var w0 = graph.Initializers["onnx::MatMul_11"];
        var w1 = after.Initializers["onnx::MatMul_11"];
        for (int i = 0; i < 4; i++)
            for (int o = 0; o < 4; o++)
            {
                // Wᵀ[i, o] += 2 · up[o] · down[i]
                float before = BinaryPrimitives.ReadSingleLittleEndian(graph.Model.AsSpan(w0.DataOffset + 4 * (i * 4 + o)));
                float now = BinaryPrimitives.ReadSingleLittleEndian(te.Model.AsSpan(w1.DataOffset + 4 * (i * 4 + o)));
                float up = new[] { 0.5f, 0, 0, -1 }[o], down = i + 1;
                Assert.Equal(before + 2 * up * down, now, 5);
            }
        var gemm = graph.Initializers["unet.time_embedding.linear_1.weight"];
        Assert.Equal(graph.Model.AsSpan(gemm.DataOffset, gemm.DataLength).ToArray(), te.Model.AsSpan(gemm.DataOffset, gemm.DataLength).ToArray());
        var unet = LoraMerger.Merge(graph, models.Directory, [(file, 2f)], LoraTarget.Unet, false, "synthetic");
        Assert.Equal((1, 1), (unet.ModulesMerged, unet.WeightsPatched));
        Assert.Equal(graph.Model.AsSpan(w0.DataOffset, w0.DataLength).ToArray(), unet.Model.AsSpan(w0.DataOffset, w0.DataLength).ToArray());
    }

    [Fact]
    public void StackKeyIsCanonicalOrderFreeAndSumsAFileNamedTwice()
    {
        var a = LoraRef.ForFile("a", models.Lora, 0.5f);
        var other = Path.Combine(TestPaths.LoraReference, "style_kohya.safetensors");
        var b = LoraRef.ForFile("b", other, 0.25f);
        Assert.Equal(new LoraStack(LoraTarget.Unet, [a, b]), new LoraStack(LoraTarget.Unet, [b, a]));
        Assert.Equal(new LoraStack(LoraTarget.Unet, [a with { Multiplier = 1f }]), new LoraStack(LoraTarget.Unet, [a, a]));
        Assert.NotEqual(new LoraStack(LoraTarget.Unet, [a]), new LoraStack(LoraTarget.Unet, [a], lenient: true));
        Assert.NotEqual(new LoraStack(LoraTarget.Unet, [a]), new LoraStack(LoraTarget.Unet, [a with { Multiplier = 0.5000001f }]));
    }

    [Fact]
    public void UnmatchedKeysAreListedAndFailUnlessLenient()
    {
        var tensors = new List<(string, int[], float[])>
        {
            ("lora_unet_conv_in.lora_down.weight", [2, 4, 3, 3], new float[72]),
            ("lora_unet_conv_in.lora_up.weight", [8, 2, 1, 1], new float[16]),
        };
        for (int i = 0; i < 7; i++)
        {
            tensors.Add(($"lora_unet_up_blocks_9_attentions_{i}_proj_out.lora_down.weight", [2, 8], new float[16]));
            tensors.Add(($"lora_unet_up_blocks_9_attentions_{i}_proj_out.lora_up.weight", [8, 2], new float[16]));
        }
        var file = LoraFile.FromSafetensors(SafetensorsFile.Parse(SafetensorsFile.Write(tensors)), "strays");
        var graph = OnnxWeightGraph.Load(models.Model("fp32"));
        var e = Assert.Throws<LoraException>(() => LoraMerger.Merge(graph, models.Directory, [(file, 1f)], LoraTarget.Unet, false, "synthetic"));
        Assert.Contains("7 LoRA key(s) match no weight of model 'synthetic'", e.Message);
        Assert.Contains("lora_unet_up_blocks_9_attentions_0_proj_out", e.Message);
        Assert.Contains("and 2 more", e.Message);
        Assert.Contains("lenient", e.Message);
        var lenient = LoraMerger.Merge(graph, models.Directory, [(file, 1f)], LoraTarget.Unet, true, "synthetic");
        Assert.Equal(1, lenient.ModulesMerged);
        Assert.Equal(7, lenient.Skipped.Count);
    }

    [Fact]
    public void AnSdxlLoraOnAnSd15ModelSaysSo()
    {
        var tensors = new List<(string, int[], float[])>
        {
            ("lora_unet_input_blocks_4_1_proj_in.lora_down.weight", [2, 640], new float[1280]),
            ("lora_unet_input_blocks_4_1_proj_in.lora_up.weight", [640, 2], new float[1280]),
        };
        var graph = OnnxWeightGraph.Load(models.Model("fp32"));
        Assert.Equal(768, graph.CrossAttentionWidth);
        foreach (var meta in new Dictionary<string, string>?[] { new() { ["ss_base_model_version"] = "sdxl_base_v1-0" }, null })
        {
            var file = LoraFile.FromSafetensors(SafetensorsFile.Parse(SafetensorsFile.Write(tensors, meta)), "xl-style");
            Assert.Equal(LoraArchitecture.SDXL, file.Architecture);
            var e = Assert.Throws<LoraException>(() => LoraMerger.Merge(graph, models.Directory, [(file, 1f)], LoraTarget.Unet, false, "my-sd15"));
            Assert.Contains("'xl-style' is an SDXL LoRA", e.Message);
            Assert.Contains("model 'my-sd15' is SD 1.x", e.Message);
        }
    }

    [Fact]
    public void EveryReferenceLoraModuleMapsToAnInitializerFoundInTheTinyUnet()
    {
        var graph = OnnxWeightGraph.Load(UnetPath);
        var kohya = LoraFile.Load(Path.Combine(TestPaths.LoraReference, "style_kohya.safetensors"));
        var peft = LoraFile.Load(Path.Combine(TestPaths.LoraReference, "detail_peft.safetensors"));
        Assert.Equal(("kohya", 48, LoraArchitecture.SD1), (kohya.Format, kohya.Modules.Count, kohya.Architecture));
        Assert.All(kohya.Modules, m => Assert.Equal(0.5f, m.Scale));
        Assert.Equal(("peft", 32), (peft.Format, peft.Modules.Count));
        Assert.All(peft.Modules, m => Assert.Equal(1f, m.Scale));
        Assert.Empty(kohya.UnsupportedKeys);
        Assert.Empty(peft.UnsupportedKeys);
        foreach (var m in kohya.Modules.Concat(peft.Modules))
            Assert.True(graph.Find(m) != null, $"{m.ModuleKey} not found");
        var q = graph.FindDotted("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q")!;
        Assert.True(q.Transposed);
        Assert.StartsWith("onnx::MatMul_", q.Initializer.Name);
        Assert.Equal("/unet/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul", q.Node);
        var pin = graph.FindKohya("mid_block_attentions_0_proj_in")!;
        Assert.False(pin.Transposed);
        Assert.Equal("unet.mid_block.attentions.0.proj_in.weight", pin.Initializer.Name);
        // Same module by both conventions and with the wrapper's unet. scope.
        Assert.Same(q, graph.FindKohya("down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"));
        Assert.Equal(q.Initializer, graph.FindDotted("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q")!.Initializer);
        var k = graph.FindDotted("mid_block.attentions.0.transformer_blocks.0.attn2.to_k")!;
        Assert.Equal([32L, 64L], k.Initializer.Dims); // Wᵀ of a [64, 32] cross-attention projection
    }

    [Theory]
    [InlineData(37, 3, 29, false)]
    [InlineData(37, 3, 29, true)]
    [InlineData(5, 32, 131, true)]
    [InlineData(64, 1, 7, false)]
    public void VectorisedDeltaMatchesTheScalarReferenceAndTheTranspose(int rows, int rank, int cols, bool transposed)
    {
        var rng = new Random(rows * 1000 + cols);
        var up = Enumerable.Range(0, rows * rank).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var down = Enumerable.Range(0, rank * cols).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var fast = new float[rows * cols];
        var slow = new float[rows * cols];
        LoraMath.AccumulateDelta(fast, up, down, rows, rank, cols, 0.7f, transposed);
        LoraMath.AccumulateDelta(slow, up, down, rows, rank, cols, 0.7f, transposed, vectorised: false);
        for (int i = 0; i < fast.Length; i++) Assert.True(Math.Abs(fast[i] - slow[i]) <= 1e-5f, $"[{i}] {fast[i]} vs {slow[i]}");
        // Against the definition in double: ΔW[o, c] = 0.7 Σ_k U[o,k] D[k,c] (stored at [c, o] when transposed).
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++)
            {
                double want = 0;
                for (int k = 0; k < rank; k++) want += (double)up[o * rank + k] * down[k * cols + c];
                want *= 0.7;
                float got = transposed ? fast[c * rows + o] : fast[o * cols + c];
                Assert.True(Math.Abs(got - want) <= 1e-5, $"[{o},{c}] {got} vs {want}");
            }
    }
}
