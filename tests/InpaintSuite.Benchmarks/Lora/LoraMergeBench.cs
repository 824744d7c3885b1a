using System.Diagnostics;
using System.Globalization;
using System.Text;
using InpaintSuite.Runtime.Lora;
using InpaintSuite.Runtime.Onnx;

namespace InpaintSuite.Benchmarks.Lora;

/// <summary>
/// Merge time of a realistic LoRA against the time to load the same weights (issue 21). A synthetic fp16 ONNX graph holds
/// SD 1.5's LoRA-targeted weights at their real shapes, named as a diffusers export names them: the 16 transformer
/// blocks' attention/feed-forward Linears (MatMul, Wᵀ) and proj_in/proj_out (1x1 Conv), plus the resnets' 3x3
/// convolutions (one per distinct SD 1.5 shape by default, all 44 with --full). A synthetic kohya LoRA of rank 32 (LoCon
/// for the 3x3 convs) targets every one of them. Side by side, same run: reading the model file, creating an ONNX
/// Runtime session from it (what loading the weights costs), and LoraMerger.Merge on it (parse, ΔW, fp16 write-back),
/// then the session from the merged bytes. Medians over --runs.
/// `dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- lora-merge [--rank 32] [--runs 3] [--full]`
/// </summary>
public sealed class LoraMergeBench : IBenchTool
{
    public string Name => "lora-merge";

    public string Description => "LoRA merge time (rank 32, SD1.5 attention + conv shapes, fp16) vs loading the same weights";

    private sealed record Target(string Path, string Op, int Out, int In, int Kernel);

    public int Run(string[] args)
    {
        int rank = 32, runs = 3;
        bool full = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rank": rank = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--full": full = true; break;
                default: Console.Error.WriteLine("unknown option " + args[i]); return 2;
            }
        }
        var targets = Targets(full);
        long parameters = targets.Sum(t => (long)t.Out * t.In * t.Kernel * t.Kernel);
        var dir = Directory.CreateTempSubdirectory("inpaintsuite-lora-bench-").FullName;
        try
        {
            var modelPath = Path.Combine(dir, "model.onnx");
            File.WriteAllBytes(modelPath, BuildModel(targets));
            var loraPath = Path.Combine(dir, "lora.safetensors");
            File.WriteAllBytes(loraPath, BuildLora(targets, rank));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"lora-merge: {targets.Count} target weights ({targets.Count(t => t.Kernel == 3)} 3x3 conv), {parameters / 1e6:F1} M parameters, fp16 model {new FileInfo(modelPath).Length / 1e6:F0} MB; LoRA rank {rank}, {new FileInfo(loraPath).Length / 1e6:F1} MB (f32); {runs} runs, median"));
            Console.WriteLine($"machine: {Environment.ProcessorCount} cores, loaded machine (shared with other work while measured)");
            var cpu = new OrtSessionOptions { ExecutionProvider = ExecutionProviderKind.Cpu };
            var read = new List<double>();
            var load = new List<double>();
            var merge = new List<double>();
            var loadMerged = new List<double>();
            var parseLora = new List<double>();
            for (int r = 0; r < runs; r++)
            {
                var sw = Stopwatch.StartNew();
                var bytes = File.ReadAllBytes(modelPath);
                read.Add(sw.Elapsed.TotalSeconds);
                sw.Restart();
                using (InferenceSession.Load(bytes, cpu)) load.Add(sw.Elapsed.TotalSeconds);
                sw.Restart();
                var lora = LoraFile.Load(loraPath);
                parseLora.Add(sw.Elapsed.TotalSeconds);
                sw.Restart();
                var graph = OnnxWeightGraph.Parse(bytes);
                var result = LoraMerger.Merge(graph, dir, [(lora, 0.8f)], LoraTarget.Unet, lenient: false, "bench");
                merge.Add(sw.Elapsed.TotalSeconds);
                if (result.ModulesMerged != targets.Count) throw new InvalidOperationException($"merged {result.ModulesMerged} of {targets.Count}");
                sw.Restart();
                using (InferenceSession.Load(result.Model, cpu)) loadMerged.Add(sw.Elapsed.TotalSeconds);
            }
            double m = Median(merge), l = Median(load), rd = Median(read);
            Console.WriteLine($"{"step",-46} {"seconds",9}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"read model file (baseline)",-46} {rd,9:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"ORT session from plain bytes (baseline load)",-46} {l,9:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"parse LoRA file",-46} {Median(parseLora),9:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"merge (graph parse + dW + fp16 write-back)",-46} {m,9:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"ORT session from merged bytes",-46} {Median(loadMerged),9:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"merge / load = {m / l:F2}; merge / (read + load) = {m / (rd + l):F2}; merge throughput {parameters / m / 1e6:F0} M params/s"));
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

    /// <summary>SD 1.5's LoRA targets at their shapes, under diffusers module paths.</summary>
    private static List<Target> Targets(bool full)
    {
        var t = new List<Target>();
        var blocks = new List<(string Path, int Dim)>();
        int[] down = [320, 640, 1280];
        for (int b = 0; b < 3; b++) for (int a = 0; a < 2; a++) blocks.Add(($"down_blocks.{b}.attentions.{a}", down[b]));
        blocks.Add(("mid_block.attentions.0", 1280));
        int[] up = [1280, 640, 320];
        for (int b = 0; b < 3; b++) for (int a = 0; a < 3; a++) blocks.Add(($"up_blocks.{b + 1}.attentions.{a}", up[b]));
        foreach (var (path, d) in blocks)
        {
            var tb = path + ".transformer_blocks.0";
            t.Add(new(path + ".proj_in", "Conv", d, d, 1));
            t.Add(new(path + ".proj_out", "Conv", d, d, 1));
            foreach (var p in new[] { "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_out.0" })
                t.Add(new($"{tb}.{p}", "MatMul", d, d, 1));
            t.Add(new($"{tb}.attn2.to_k", "MatMul", d, 768, 1));
            t.Add(new($"{tb}.attn2.to_v", "MatMul", d, 768, 1));
            t.Add(new($"{tb}.ff.net.0.proj", "MatMul", 8 * d, d, 1));
            t.Add(new($"{tb}.ff.net.2", "MatMul", d, 4 * d, 1));
        }
        // Resnet 3x3 convolutions (in, out) of SD 1.5, in order; by default one per distinct shape.
        (int In, int Out)[] res = [(320, 320), (320, 320), (320, 640), (640, 640), (640, 1280), (1280, 1280), (1280, 1280), (1280, 1280), (1280, 1280), (1280, 1280),
            (2560, 1280), (2560, 1280), (2560, 1280), (2560, 1280), (2560, 1280), (1920, 1280), (1920, 640), (1280, 640), (960, 640), (960, 320), (640, 320), (640, 320)];
        var seen = new HashSet<(int, int)>();
        for (int i = 0; i < res.Length; i++)
        {
            var (ci, co) = res[i];
            if (full || seen.Add((ci, co))) t.Add(new($"resnets.{i}.conv1", "Conv", co, ci, 3));
            if (full || seen.Add((co, co))) t.Add(new($"resnets.{i}.conv2", "Conv", co, co, 3));
        }
        return t;
    }

    private static byte[] BuildLora(List<Target> targets, int rank)
    {
        var rng = new Random(32);
        var tensors = new List<(string, int[], float[])>();
        foreach (var t in targets)
        {
            string key = "lora_unet_" + t.Path.Replace('.', '_');
            int cols = t.In * t.Kernel * t.Kernel;
            tensors.Add((key + ".lora_down.weight", t.Kernel == 1 && t.Op == "MatMul" ? [rank, t.In] : [rank, t.In, t.Kernel, t.Kernel], Random(rng, rank * cols, 1 / MathF.Sqrt(cols))));
            tensors.Add((key + ".lora_up.weight", t.Op == "MatMul" ? [t.Out, rank] : [t.Out, rank, 1, 1], Random(rng, t.Out * rank, 0.01f)));
            tensors.Add((key + ".alpha", [], [rank / 2f]));
        }
        return SafetensorsFile.Write(tensors, new Dictionary<string, string> { ["ss_base_model_version"] = "sd_v1" });
    }

    private static float[] Random(Random rng, int n, float scale)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = ((float)rng.NextDouble() * 2 - 1) * scale;
        return v;
    }

    /// <summary>A valid fp16 ModelProto: one node per target on its own input, weights as raw_data initializers.</summary>
    private static byte[] BuildModel(List<Target> targets)
    {
        var rng = new Random(15);
        var graph = new MemoryStream();
        int n = 0;
        foreach (var t in targets)
        {
            string x = "x" + n, y = "y" + n, w = t.Op == "MatMul" ? "onnx::MatMul_" + (1000 + n) : "unet." + t.Path + ".weight";
            string node = "/unet/" + string.Join('/', SplitScopes(t.Path)) + "/" + t.Op;
            var nodeMsg = new MemoryStream();
            Str(nodeMsg, 1, x); Str(nodeMsg, 1, w); Str(nodeMsg, 2, y); Str(nodeMsg, 3, node); Str(nodeMsg, 4, t.Op);
            if (t.Kernel == 3)
            {
                var attr = new MemoryStream();
                Str(attr, 1, "pads");
                foreach (var _ in Enumerable.Range(0, 4)) { Tag(attr, 8, 0); Varint(attr, 1); }
                Tag(attr, 20, 0); Varint(attr, 7); // AttributeProto.type = INTS
                Msg(nodeMsg, 5, attr);
            }
            Msg(graph, 1, nodeMsg);
            long[] dims = t.Op == "MatMul" ? [t.In, t.Out] : [t.Out, t.In, t.Kernel, t.Kernel];
            var tensor = new MemoryStream();
            foreach (var d in dims) { Tag(tensor, 1, 0); Varint(tensor, (ulong)d); }
            Tag(tensor, 2, 0); Varint(tensor, 10);
            Str(tensor, 8, w);
            long count = dims.Aggregate(1L, (a, b) => a * b);
            var raw = new byte[count * 2];
            for (long i = 0; i < count; i++) BitConverter.TryWriteBytes(raw.AsSpan((int)(2 * i)), (Half)(((float)rng.NextDouble() - 0.5f) * 0.1f));
            Bytes(tensor, 9, raw);
            Msg(graph, 5, tensor);
            n++;
        }
        n = 0;
        foreach (var t in targets)
        {
            long[] xs = t.Op == "MatMul" ? [1, t.In] : [1, t.In, 8, 8];
            long[] ys = t.Op == "MatMul" ? [1, t.Out] : [1, t.Out, 8, 8];
            Msg(graph, 11, ValueInfo("x" + n, xs));
            Msg(graph, 12, ValueInfo("y" + n, ys));
            n++;
        }
        Str(graph, 2, "lora_bench");
        var model = new MemoryStream();
        Tag(model, 1, 0); Varint(model, 7);
        var opset = new MemoryStream();
        Str(opset, 1, ""); Tag(opset, 2, 0); Varint(opset, 14);
        Msg(model, 8, opset);
        Msg(model, 7, graph);
        return model.ToArray();
    }

    private static IEnumerable<string> SplitScopes(string path)
    {
        // "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q" -> down_blocks.0 / attentions.0 / ... / to_q
        var parts = path.Split('.');
        for (int i = 0; i < parts.Length; i++)
        {
            if (i + 1 < parts.Length && int.TryParse(parts[i + 1], out _)) { yield return parts[i] + "." + parts[i + 1]; i++; }
            else yield return parts[i];
        }
    }

    private static MemoryStream ValueInfo(string name, long[] shape)
    {
        var dims = new MemoryStream();
        foreach (var d in shape) { var dim = new MemoryStream(); Tag(dim, 1, 0); Varint(dim, (ulong)d); Msg(dims, 1, dim); }
        var tensorType = new MemoryStream();
        Tag(tensorType, 1, 0); Varint(tensorType, 10);
        Msg(tensorType, 2, dims);
        var type = new MemoryStream();
        Msg(type, 1, tensorType);
        var vi = new MemoryStream();
        Str(vi, 1, name);
        Msg(vi, 2, type);
        return vi;
    }

    private static void Tag(Stream s, int field, int wire) => Varint(s, (ulong)((field << 3) | wire));

    private static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    private static void Bytes(Stream s, int field, ReadOnlySpan<byte> b)
    {
        Tag(s, field, 2);
        Varint(s, (ulong)b.Length);
        s.Write(b);
    }

    private static void Str(Stream s, int field, string v) => Bytes(s, field, Encoding.UTF8.GetBytes(v));

    private static void Msg(Stream s, int field, MemoryStream m) => Bytes(s, field, m.ToArray());
}
