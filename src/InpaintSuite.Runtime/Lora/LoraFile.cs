namespace InpaintSuite.Runtime.Lora;

/// <summary>Which network of the pipeline a LoRA module patches.</summary>
public enum LoraTarget
{
    Unet,
    /// <summary>The (first) CLIP text encoder: kohya <c>lora_te_</c>/<c>lora_te1_</c>, diffusers <c>text_encoder.</c>.</summary>
    TextEncoder,
    /// <summary>SDXL's second text encoder: kohya <c>lora_te2_</c>, diffusers <c>text_encoder_2.</c>.</summary>
    TextEncoder2,
}

/// <summary>The base architecture a LoRA was trained for, as far as the file tells.</summary>
public enum LoraArchitecture { Unknown, SD1, SD2, SDXL }

/// <summary>
/// One low-rank update: ΔW = Scale · Up·Down, Down [rank, in(, kh, kw)], Up [out, rank(, 1, 1)].
/// <see cref="ModuleKey"/> is how the file names the module: kohya's underscore form (<c>down_blocks_0_attentions_0_proj_in</c>)
/// or a diffusers dotted path (<c>down_blocks.0.attentions.0.proj_in</c>); <see cref="Dotted"/> says which.
/// </summary>
public sealed record LoraModule(LoraTarget Target, string ModuleKey, bool Dotted, string DownKey, string UpKey, int[] DownShape, int[] UpShape, float Scale)
{
    public int Rank => DownShape[0];

    /// <summary>in·kh·kw: the columns of Down reshaped to 2-D.</summary>
    public int InColumns => DownShape.Skip(1).Aggregate(1, (a, d) => a * d);

    public int OutRows => UpShape[0];
}

/// <summary>
/// A LoRA adapter file: its modules grouped from the tensor keys of either convention, with per-module scale
/// (kohya: alpha / rank, alpha = rank when absent; PEFT/diffusers: 1, or alpha / rank when an alpha is stored),
/// the base architecture (kohya's <c>ss_base_model_version</c> metadata, else the key set and the cross-attention width)
/// and the keys that are not LoRA modules this project can merge.
/// </summary>
public sealed class LoraFile
{
    private readonly SafetensorsFile _file;

    private LoraFile(string name, SafetensorsFile file, List<LoraModule> modules, List<string> unsupported, string format, LoraArchitecture arch, string archSource)
    {
        Name = name;
        _file = file;
        Modules = modules;
        UnsupportedKeys = unsupported;
        Format = format;
        Architecture = arch;
        ArchitectureSource = archSource;
    }

    public string Name { get; }

    public string Path => _file.Source;

    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>Keys that are neither LoRA down/up/alpha tensors (LoHa, LoKr, DoRA scales, ...): listed in errors.</summary>
    public IReadOnlyList<string> UnsupportedKeys { get; }

    /// <summary>"kohya", "peft" or "mixed".</summary>
    public string Format { get; }

    public LoraArchitecture Architecture { get; }

    /// <summary>How <see cref="Architecture"/> was decided ("ss_base_model_version=sd_v1", "key set", ...).</summary>
    public string ArchitectureSource { get; }

    public IReadOnlyDictionary<string, string> Metadata => _file.Metadata;

    public float[] Read(string key) => _file.ReadFloat32(key);

    public static LoraFile Load(string path, string? name = null) =>
        FromSafetensors(SafetensorsFile.Load(path), name ?? System.IO.Path.GetFileNameWithoutExtension(path));

    public static LoraFile FromSafetensors(SafetensorsFile file, string name)
    {
        var parts = Describe(file.Metadata, file.Tensors);
        var modules = new List<LoraModule>();
        foreach (var m in parts.Modules)
        {
            float? alpha = m.AlphaKey != null ? ReadAlpha(file, m.AlphaKey) : null;
            int rank = m.Down.Shape[0];
            // sd-scripts: alpha absent or 0 means alpha = rank (scale 1); PEFT without alpha: scale 1 as well.
            float scale = alpha is { } a && a != 0f ? a / rank : 1f;
            modules.Add(new LoraModule(m.Target, m.ModuleKey, m.Dotted, m.Down.Name, m.Up.Name, m.Down.Shape, m.Up.Shape, scale));
        }
        return new LoraFile(name, file, modules, parts.Unsupported, parts.Format, parts.Architecture, parts.ArchitectureSource);
    }

    private static float ReadAlpha(SafetensorsFile file, string key)
    {
        var t = file.Tensor(key);
        if (t.ElementCount != 1) throw new SafetensorsFormatException($"{file.Source}: '{key}' should be a scalar, it has shape [{string.Join(", ", t.Shape)}]");
        return file.ReadFloat32(t)[0];
    }

    internal sealed record ModuleParts(LoraTarget Target, string ModuleKey, bool Dotted, SafetensorsTensor Down, SafetensorsTensor Up, string? AlphaKey);

    /// <summary>What a header describes (used for listing a folder from headers only, and for loading).</summary>
    public sealed record Summary(string Format, LoraArchitecture Architecture, string ArchitectureSource, int Modules, int TextEncoderModules, int Rank, IReadOnlyList<string> Unsupported);

    internal sealed record Parts(List<ModuleParts> Modules, List<string> Unsupported, string Format, LoraArchitecture Architecture, string ArchitectureSource);

    /// <summary>Summarises a LoRA from its header (no tensor data read).</summary>
    public static Summary Summarize(string path)
    {
        var (meta, tensors) = SafetensorsFile.ReadHeader(path);
        var p = Describe(meta, tensors);
        return new Summary(p.Format, p.Architecture, p.ArchitectureSource, p.Modules.Count, p.Modules.Count(m => m.Target != LoraTarget.Unet),
            p.Modules.Count == 0 ? 0 : p.Modules.Max(m => m.Down.Shape[0]), p.Unsupported);
    }

    private static readonly (string Prefix, LoraTarget Target)[] KohyaPrefixes =
        [("lora_unet_", LoraTarget.Unet), ("lora_te1_", LoraTarget.TextEncoder), ("lora_te2_", LoraTarget.TextEncoder2), ("lora_te_", LoraTarget.TextEncoder)];

    private static readonly (string Prefix, LoraTarget Target)[] DottedPrefixes =
        [("unet.", LoraTarget.Unet), ("text_encoder_2.", LoraTarget.TextEncoder2), ("text_encoder.", LoraTarget.TextEncoder)];

    // kohya: .lora_down.weight/.lora_up.weight; PEFT: .lora_A.weight/.lora_B.weight; old diffusers: .lora.down.weight/.lora.up.weight.
    private static readonly (string Down, string Up)[] Suffixes =
        [(".lora_down.weight", ".lora_up.weight"), (".lora_A.weight", ".lora_B.weight"), (".lora.down.weight", ".lora.up.weight")];

    internal static Parts Describe(IReadOnlyDictionary<string, string> metadata, IEnumerable<SafetensorsTensor> tensors)
    {
        var byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var modules = new List<ModuleParts>();
        bool kohya = false, peft = false;
        foreach (var t in byName.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            foreach (var (downSuffix, upSuffix) in Suffixes)
            {
                if (!t.Name.EndsWith(downSuffix, StringComparison.Ordinal)) continue;
                string stem = t.Name[..^downSuffix.Length];
                if (!byName.TryGetValue(stem + upSuffix, out var up)) break;
                var (target, key, dotted) = Classify(stem);
                if (key == null) break;
                string? alphaKey = byName.ContainsKey(stem + ".alpha") ? stem + ".alpha" : null;
                modules.Add(new ModuleParts(target, key, dotted, t, up, alphaKey));
                used.Add(t.Name);
                used.Add(up.Name);
                if (alphaKey != null) used.Add(alphaKey);
                if (dotted) peft = true; else kohya = true;
                break;
            }
        }
        var unsupported = byName.Keys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal).ToList();
        var (arch, source) = DetectArchitecture(metadata, modules);
        return new Parts(modules, unsupported, kohya && peft ? "mixed" : peft ? "peft" : "kohya", arch, source);
    }

    private static (LoraTarget, string?, bool) Classify(string stem)
    {
        foreach (var (prefix, target) in KohyaPrefixes)
            if (stem.StartsWith(prefix, StringComparison.Ordinal)) return (target, stem[prefix.Length..], false);
        foreach (var (prefix, target) in DottedPrefixes)
            if (stem.StartsWith(prefix, StringComparison.Ordinal)) return (target, stem[prefix.Length..], true);
        // diffusers files without a component prefix are UNet files (the old attn-processor layout).
        if (stem.Contains("_blocks.", StringComparison.Ordinal) || stem.StartsWith("mid_block.", StringComparison.Ordinal)) return (LoraTarget.Unet, stem, true);
        return (LoraTarget.Unet, null, false);
    }

    private static (LoraArchitecture, string) DetectArchitecture(IReadOnlyDictionary<string, string> metadata, List<ModuleParts> modules)
    {
        if (metadata.TryGetValue("ss_base_model_version", out var v) && v.Length > 0)
        {
            var arch = v.StartsWith("sdxl", StringComparison.OrdinalIgnoreCase) ? LoraArchitecture.SDXL
                : v.StartsWith("sd_v2", StringComparison.OrdinalIgnoreCase) ? LoraArchitecture.SD2
                : v.StartsWith("sd_v1", StringComparison.OrdinalIgnoreCase) ? LoraArchitecture.SD1
                : LoraArchitecture.Unknown;
            if (arch != LoraArchitecture.Unknown) return (arch, "ss_base_model_version=" + v);
        }
        if (modules.Any(m => m.Target == LoraTarget.TextEncoder2))
            return (LoraArchitecture.SDXL, "key set (second text encoder)");
        // SGM naming (input_blocks_4_1_...) is what kohya writes for SDXL UNets.
        if (modules.Any(m => m.Target == LoraTarget.Unet && (m.ModuleKey.StartsWith("input_blocks", StringComparison.Ordinal) || m.ModuleKey.StartsWith("output_blocks", StringComparison.Ordinal) || m.ModuleKey.StartsWith("middle_block", StringComparison.Ordinal))))
            return (LoraArchitecture.SDXL, "key set (SGM UNet names)");
        // Cross-attention width: the in-features of an attn2 key/value projection.
        var cross = modules.FirstOrDefault(m => m.Target == LoraTarget.Unet && (m.ModuleKey.EndsWith("attn2_to_k", StringComparison.Ordinal) || m.ModuleKey.EndsWith("attn2.to_k", StringComparison.Ordinal)));
        if (cross != null && cross.Down.Shape.Length >= 2)
        {
            var arch = CrossAttentionArchitecture(cross.Down.Shape[1]);
            if (arch != LoraArchitecture.Unknown) return (arch, $"key set (cross-attention width {cross.Down.Shape[1]})");
        }
        return (LoraArchitecture.Unknown, "not stated, not recognised from the keys");
    }

    /// <summary>768 = SD 1.x (CLIP ViT-L), 1024 = SD 2.x (OpenCLIP ViT-H), 2048 = SDXL (both encoders concatenated).</summary>
    public static LoraArchitecture CrossAttentionArchitecture(long width) => width switch
    {
        768 => LoraArchitecture.SD1,
        1024 => LoraArchitecture.SD2,
        2048 => LoraArchitecture.SDXL,
        _ => LoraArchitecture.Unknown,
    };

    public static string Describe(LoraArchitecture a) => a switch
    {
        LoraArchitecture.SD1 => "SD 1.x",
        LoraArchitecture.SD2 => "SD 2.x",
        LoraArchitecture.SDXL => "SDXL",
        _ => "unknown",
    };
}
