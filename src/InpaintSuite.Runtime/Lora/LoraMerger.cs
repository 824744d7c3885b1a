using System.Buffers.Binary;
using System.Diagnostics;

namespace InpaintSuite.Runtime.Lora;

/// <summary>What a merge did.</summary>
/// <param name="Model">The patched ModelProto bytes (create the session from these).</param>
/// <param name="ModulesMerged">LoRA modules added (summed over files).</param>
/// <param name="WeightsPatched">Distinct initializers changed.</param>
/// <param name="Skipped">Keys left out under the lenient option (empty otherwise).</param>
/// <param name="UsesExternalData">The model keeps other weights in external files (the session needs their folder).</param>
public sealed record LoraMergeResult(byte[] Model, int ModulesMerged, int WeightsPatched, IReadOnlyList<string> Skipped, bool UsesExternalData, TimeSpan Elapsed);

/// <summary>
/// Merges LoRA deltas into an ONNX model's weights before a session is created: W' = W + Σ_j m_j·scale_j·Up_j·Down_j, in
/// float32 (fp16/bf16 weights are widened, merged and rounded back once), written into the model bytes so ONNX Runtime's
/// optimiser only ever sees the merged values (with AddInitializer an fp16 weight can be constant-folded before the
/// override applies). Weights inside the .onnx are overwritten in place on a copy; weights in external data files are
/// read from there and moved into the copy as raw_data (the other external weights stay where they are).
/// </summary>
public static class LoraMerger
{
    /// <summary>How many unmatched keys an error lists before "and N more".</summary>
    public const int ListedKeys = 5;

    /// <param name="graph">The component's weight graph (from its model file).</param>
    /// <param name="modelDirectory">The model file's folder (external data is relative to it).</param>
    /// <param name="loras">Files and multipliers.</param>
    /// <param name="target">Which component this graph is: only that target's modules are merged.</param>
    /// <param name="lenient">Skip keys that match nothing instead of failing.</param>
    /// <param name="modelLabel">The model's name for messages.</param>
    public static LoraMergeResult Merge(OnnxWeightGraph graph, string modelDirectory, IReadOnlyList<(LoraFile File, float Multiplier)> loras, LoraTarget target, bool lenient, string modelLabel)
    {
        long start = Stopwatch.GetTimestamp();
        if (target == LoraTarget.Unet) CheckArchitecture(graph, loras, modelLabel);
        var work = new Dictionary<OnnxInitializer, (OnnxWeightSlot Slot, List<(LoraModule Module, LoraFile File, float Coef)> Parts)>();
        var problems = new List<string>();
        int merged = 0;
        foreach (var (file, multiplier) in loras)
        {
            if (target == LoraTarget.Unet)
            {
                foreach (var key in file.UnsupportedKeys) problems.Add($"{file.Name}: {key} (not a LoRA down/up/alpha tensor)");
                // No pipeline here has SDXL's second text encoder yet: its keys must not vanish silently.
                foreach (var m in file.Modules.Where(m => m.Target == LoraTarget.TextEncoder2))
                    problems.Add($"{file.Name}: {Stem(m.DownKey)} (the model has no second text encoder)");
            }
            foreach (var m in file.Modules.Where(m => m.Target == target))
            {
                var slot = graph.Find(m);
                if (slot == null) { problems.Add($"{file.Name}: {Stem(m.DownKey)} (no such module in the {ComponentName(target)[1..^1]})"); continue; }
                if (ShapeProblem(m, slot) is { } why) { problems.Add($"{file.Name}: {m.ModuleKey} ({why})"); continue; }
                if (!work.TryGetValue(slot.Initializer, out var entry)) work[slot.Initializer] = entry = (slot, []);
                entry.Parts.Add((m, file, multiplier * m.Scale));
                merged++;
            }
        }
        if (problems.Count > 0 && !lenient)
        {
            var shown = string.Join("; ", problems.Take(ListedKeys));
            var more = problems.Count > ListedKeys ? $"; and {problems.Count - ListedKeys} more" : "";
            throw new LoraException($"{problems.Count} LoRA key(s) match no weight of model '{modelLabel}' {ComponentName(target)}: {shown}{more}. " +
                "Is the LoRA for this base model? Set lora_lenient to merge the keys that do match.");
        }

        var patched = new Dictionary<OnnxInitializer, byte[]>();
        foreach (var (init, (slot, parts)) in work)
        {
            var weight = ReadWeight(graph, init, modelDirectory);
            var delta = new float[weight.Length];
            foreach (var (m, file, coef) in parts)
            {
                if (coef == 0f) continue;
                var down = file.Read(m.DownKey);
                var up = file.Read(m.UpKey);
                LoraMath.AccumulateDelta(delta, up, down, m.OutRows, m.Rank, m.InColumns, coef, slot.Transposed);
            }
            LoraMath.AddScaled(weight, 1f, delta);
            patched[init] = Encode(weight, init.DataType);
        }
        bool external = graph.Initializers.Values.Any(i => i.IsExternal);
        var model = Write(graph, patched);
        return new LoraMergeResult(model, merged, patched.Count, lenient ? problems : [], external, Stopwatch.GetElapsedTime(start));
    }

    private static string Stem(string key) => key.IndexOf(".lora", StringComparison.Ordinal) is var i and > 0 ? key[..i] : key;

    private static string ComponentName(LoraTarget t) => t switch
    {
        LoraTarget.Unet => "(UNet)",
        LoraTarget.TextEncoder => "(text encoder)",
        _ => "(second text encoder)",
    };

    /// <summary>An SDXL LoRA on an SD 1.5 model (or the reverse) is named as such, not as a list of keys.</summary>
    private static void CheckArchitecture(OnnxWeightGraph graph, IReadOnlyList<(LoraFile File, float Multiplier)> loras, string modelLabel)
    {
        var width = graph.CrossAttentionWidth;
        var modelArch = width is { } w ? LoraFile.CrossAttentionArchitecture(w) : LoraArchitecture.Unknown;
        foreach (var (file, _) in loras)
        {
            if (file.Architecture == LoraArchitecture.Unknown) continue;
            if (modelArch != LoraArchitecture.Unknown && modelArch != file.Architecture)
                throw new LoraException($"LoRA '{file.Name}' is an {LoraFile.Describe(file.Architecture)} LoRA ({file.ArchitectureSource}) but model '{modelLabel}' is {LoraFile.Describe(modelArch)} (cross-attention width {width}); use a LoRA trained for {LoraFile.Describe(modelArch)}");
            // A model of unknown size cannot say; an SDXL-only key set is still wrong for a UNet without SDXL's names.
            if (modelArch == LoraArchitecture.Unknown && file.Architecture == LoraArchitecture.SDXL && file.Modules.Any(m => m.Target == LoraTarget.TextEncoder2) && graph.Slots.All(s => !s.ModulePath.Contains("add_embedding", StringComparison.Ordinal)))
                throw new LoraException($"LoRA '{file.Name}' is an SDXL LoRA ({file.ArchitectureSource}) but model '{modelLabel}' is not an SDXL model");
        }
    }

    private static string? ShapeProblem(LoraModule m, OnnxWeightSlot slot)
    {
        var dims = slot.Initializer.Dims;
        if (m.DownShape.Length < 2 || m.UpShape.Length < 2) return $"down {Shape(m.DownShape)} / up {Shape(m.UpShape)} are not matrices";
        if (m.UpShape.Skip(1).Aggregate(1, (a, d) => a * d) != m.Rank) return $"up {Shape(m.UpShape)} does not match down {Shape(m.DownShape)} of rank {m.Rank}";
        if (slot.Transposed)
        {
            if (dims.Length != 2 || dims[0] != m.InColumns || dims[1] != m.OutRows) return $"LoRA is [{m.OutRows}, {m.InColumns}] but the weight {slot.Initializer.Name} holds Wᵀ {Shape(dims)}";
        }
        else
        {
            long cols = dims.Skip(1).Aggregate(1L, (a, d) => a * d);
            if (dims.Length < 2 || dims[0] != m.OutRows || cols != m.InColumns) return $"LoRA is [{m.OutRows}, {m.InColumns}] but the weight {slot.Initializer.Name} is {Shape(dims)}";
        }
        return null;
    }

    private static string Shape<T>(IEnumerable<T> dims) => "[" + string.Join(", ", dims) + "]";

    private static float[] ReadWeight(OnnxWeightGraph graph, OnnxInitializer init, string modelDirectory)
    {
        int n = checked((int)init.ElementCount);
        int size = init.ElementSize;
        ReadOnlySpan<byte> data;
        if (init.IsExternal)
        {
            var path = Path.Combine(modelDirectory, init.ExternalLocation!);
            long length = init.ExternalLength >= 0 ? init.ExternalLength : (long)n * size;
            if (length != (long)n * size) throw new LoraException($"external weight {init.Name} is {length} bytes, expected {(long)n * size}");
            var buffer = new byte[length];
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                if (init.ExternalOffset + length > fs.Length) throw new LoraException($"external weight {init.Name} runs past the end of {path}");
                fs.Position = init.ExternalOffset;
                fs.ReadExactly(buffer);
            }
            data = buffer;
        }
        else
        {
            if (init.DataOffset < 0 || init.DataLength != n * size) throw new LoraException($"weight {init.Name} has {init.DataLength} data bytes, expected {n * size} (data stored in a form this merger does not patch)");
            data = graph.Model.AsSpan(init.DataOffset, init.DataLength);
        }
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = OnnxWeightGraph.ReadElement(data, init.DataType, i);
        return w;
    }

    private static byte[] Encode(float[] w, int type)
    {
        var bytes = new byte[w.Length * (type == 1 ? 4 : 2)];
        var span = bytes.AsSpan();
        switch (type)
        {
            case 1:
                for (int i = 0; i < w.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(span[(4 * i)..], w[i]);
                break;
            case 10:
                for (int i = 0; i < w.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(span[(2 * i)..], (Half)w[i]);
                break;
            default:
                for (int i = 0; i < w.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(span[(2 * i)..], BFloat16(w[i]));
                break;
        }
        return bytes;
    }

    /// <summary>float32 -> bfloat16, round to nearest even.</summary>
    internal static ushort BFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>
    /// The model bytes with <paramref name="patched"/> in: in place on a copy when every patched weight is inline
    /// (same length), else the graph is re-serialised with those TensorProtos re-encoded as raw_data.
    /// </summary>
    private static byte[] Write(OnnxWeightGraph graph, Dictionary<OnnxInitializer, byte[]> patched)
    {
        var model = graph.Model;
        if (patched.Keys.All(i => !i.IsExternal))
        {
            var copy = (byte[])model.Clone();
            foreach (var (init, bytes) in patched) bytes.CopyTo(copy.AsSpan(init.DataOffset));
            return copy;
        }
        var graphBody = new MemoryStream();
        int cursor = graph.GraphStart;
        foreach (var (init, bytes) in patched.OrderBy(p => p.Key.TagStart))
        {
            graphBody.Write(model, cursor, init.TagStart - cursor);
            var tensor = InlineTensor(model, init, bytes);
            WriteTag(graphBody, 5, 2);
            WriteVarint(graphBody, (ulong)tensor.Length);
            graphBody.Write(tensor);
            cursor = init.TensorEnd;
        }
        graphBody.Write(model, cursor, graph.GraphEnd - cursor);
        var result = new MemoryStream(model.Length + (int)graphBody.Length);
        result.Write(model, 0, graph.GraphTagStart);
        WriteTag(result, 7, 2);
        WriteVarint(result, (ulong)graphBody.Length);
        graphBody.Position = 0;
        graphBody.CopyTo(result);
        result.Write(model, graph.GraphEnd, model.Length - graph.GraphEnd);
        return result.ToArray();
    }

    /// <summary>The TensorProto without its external_data / data_location / data fields, plus raw_data = <paramref name="data"/>.</summary>
    private static byte[] InlineTensor(byte[] model, OnnxInitializer init, byte[] data)
    {
        var o = new MemoryStream();
        var r = new OnnxWeightGraph.Reader(model, init.TensorStart, init.TensorEnd);
        while (!r.AtEnd)
        {
            int fieldStart = r.Position;
            var (f, w) = r.Tag();
            r.Skip(w);
            if (f is 4 or 9 or 13 or 14) continue;
            o.Write(model, fieldStart, r.Position - fieldStart);
        }
        WriteTag(o, 9, 2);
        WriteVarint(o, (ulong)data.Length);
        o.Write(data);
        return o.ToArray();
    }

    private static void WriteTag(Stream s, int field, int wire) => WriteVarint(s, (ulong)((field << 3) | wire));

    private static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }
}
