using System.Text.Json;
using System.Text.Json.Nodes;

namespace InpaintSuite.Runtime.Models;

/// <summary>What a model folder is for, from its UNet's input channels (or a standalone depth estimator).</summary>
public enum ModelKind { Unknown, Inpaint, Img2Img, Depth, DepthEstimator }

/// <summary>
/// The model family, from the UNet's inputs: SDXL UNets take the pooled text embedding (<c>text_embeds</c>) and the six
/// size/crop conditioning values (<c>time_ids</c>) besides <c>encoder_hidden_states</c>.
/// </summary>
public enum ModelArchitecture { StableDiffusion, StableDiffusionXL }

/// <summary>The UNet's <c>timestep</c> input as exported (Optimum ≤ 1.23: int64 [steps]; ≥ 1.24: float scalar; diffusers' script: float [batch]).</summary>
public enum TimestepInput { Unknown, Int64Vector, Int64Scalar, Float32Vector, Float32Scalar, Float16Vector, Float16Scalar }

/// <summary>One folder in the models directory: usable or not (with the reason), and everything a pipeline needs to know up front.</summary>
public sealed record ModelEntry
{
    public required string Name { get; init; }
    public required string Directory { get; init; }
    public ModelKind Kind { get; init; }
    public bool Usable { get; init; }
    /// <summary>Why the folder is not usable ("" when usable); several problems are joined with "; ".</summary>
    public string Reason { get; init; } = "";
    /// <summary>"fp16" or "fp32" (the UNet's sample input), "" when unknown.</summary>
    public string Dtype { get; init; } = "";
    public int NativeWidth { get; init; }
    public int NativeHeight { get; init; }
    public IReadOnlyList<string> Operations { get; init; } = [];
    public int UnetInChannels { get; init; }
    public TimestepInput TimestepInput { get; init; }
    /// <summary>The UNet's encoder_hidden_states width (cross-attention dim), 0 when symbolic.</summary>
    public int CrossAttentionDim { get; init; }
    public float VaeScalingFactor { get; init; } = 0.18215f;
    /// <summary>Image pixels per latent pixel (2^(len(block_out_channels)-1), 8 for SD).</summary>
    public int VaeScaleFactor { get; init; } = 8;
    /// <summary>Name of the VAE encoder's output: "latent_sample" (mean or an in-graph sample) or "latent_parameters" (mean ‖ logvar).</summary>
    public string VaeEncoderOutput { get; init; } = "";
    /// <summary>Element type of the text encoder's input_ids ("int32" or "int64").</summary>
    public string TextEncoderIdsType { get; init; } = "";
    public string? UnetPath { get; init; }
    public string? TextEncoderPath { get; init; }
    public string? VaeEncoderPath { get; init; }
    public string? VaeDecoderPath { get; init; }
    public string? TokenizerDirectory { get; init; }
    public string? SchedulerConfigPath { get; init; }
    public string? DepthEstimatorPath { get; init; }
    /// <summary>SD 1.x/2.x (one text encoder) or SDXL (two text encoders, pooled embedding, time ids).</summary>
    public ModelArchitecture Architecture { get; init; }
    /// <summary>SDXL: the second text encoder (CLIPTextModelWithProjection: penultimate hidden states and the pooled <c>text_embeds</c>).</summary>
    public string? TextEncoder2Path { get; init; }
    /// <summary>SDXL: the second tokenizer (same vocabulary, its own pad token).</summary>
    public string? Tokenizer2Directory { get; init; }
    /// <summary>SDXL: width of the pooled text embedding the UNet takes as <c>text_embeds</c> (1280 for SDXL 1.0).</summary>
    public int PooledEmbedDim { get; init; }
    /// <summary>SDXL: model_index.json's force_zeros_for_empty_prompt (an empty negative prompt is zero embeddings, not the encoding of "").</summary>
    public bool ForceZerosForEmptyPrompt { get; init; }
    /// <summary>"fp16" or "fp32": the VAE decoder's latent_sample input ("" when unknown).</summary>
    public string VaeDtype { get; init; } = "";
    /// <summary>The VAE config's force_upcast (diffusers' default true): an fp16 VAE that is not known to be fp16-safe.</summary>
    public bool VaeForceUpcast { get; init; } = true;
    /// <summary>The protocol's architecture string: "sd" or "sdxl".</summary>
    public string ArchitectureName => Architecture == ModelArchitecture.StableDiffusionXL ? "sdxl" : "sd";
    /// <summary>Remarks that do not make the model unusable (e.g. a depth model without a depth estimator).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The protocol's kind string: "inpaint", "img2img", "depth", "depth-estimator" ("" when unknown).</summary>
    public string KindName => ModelCatalogue.KindName(Kind);
}

/// <summary>
/// Scans a models directory: every sub-folder is one entry. A diffusion model folder has the standard ONNX layout
/// (<c>model_index.json</c>, <c>text_encoder/ unet/ vae_encoder/ vae_decoder/</c> each with <c>model.onnx</c>,
/// <c>tokenizer/</c> with vocab.json + merges.txt, <c>scheduler/scheduler_config.json</c>, optional
/// <c>depth_estimator/</c>); an SDXL folder (Optimum layout, UNet with <c>text_embeds</c> and <c>time_ids</c> inputs) also
/// has <c>text_encoder_2/</c> and <c>tokenizer_2/</c>; a folder with just <c>model.onnx</c> taking <c>pixel_values</c> is a depth estimator.
/// Broken or partial folders come back unusable with a reason; scanning never throws for a folder's content.
/// </summary>
public static class ModelCatalogue
{
    public static readonly string[] RequiredComponents = ["text_encoder", "unet", "vae_encoder", "vae_decoder"];

    public static IReadOnlyList<ModelEntry> Scan(string modelsDirectory)
    {
        if (!System.IO.Directory.Exists(modelsDirectory)) return [];
        var list = new List<ModelEntry>();
        IEnumerable<string> dirs;
        try { dirs = System.IO.Directory.GetDirectories(modelsDirectory).OrderBy(d => d, StringComparer.Ordinal).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
        foreach (var d in dirs)
        {
            if (Path.GetFileName(d).StartsWith('.')) continue;
            list.Add(Inspect(d));
        }
        return list;
    }

    /// <summary>Inspects one folder; never throws for bad content (the entry is unusable with the reason).</summary>
    public static ModelEntry Inspect(string directory)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        try
        {
            return InspectCore(directory, name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or JsonException or InvalidOperationException or OverflowException)
        {
            return new ModelEntry { Name = name, Directory = directory, Reason = $"unreadable: {e.Message}" };
        }
    }

    private static ModelEntry InspectCore(string dir, string name)
    {
        string indexPath = Path.Combine(dir, "model_index.json");
        string rootOnnx = Path.Combine(dir, "model.onnx");
        if (!File.Exists(indexPath) && File.Exists(rootOnnx)) return InspectDepthEstimator(dir, name, rootOnnx);

        var problems = new List<string>();
        var notes = new List<string>();
        if (!File.Exists(indexPath)) problems.Add("missing model_index.json (not a diffusers ONNX model folder)");
        else if (!TryReadJson(indexPath, out _, out var err)) problems.Add($"model_index.json is not valid JSON ({err})");

        var missing = new List<string>();
        string? Component(string c)
        {
            string p = Path.Combine(dir, c, "model.onnx");
            if (File.Exists(p)) return p;
            missing.Add($"{c}/model.onnx");
            return null;
        }
        string? unet = Component("unet"), textEncoder = Component("text_encoder"), vaeEncoder = Component("vae_encoder"), vaeDecoder = Component("vae_decoder");
        string tokDir = Path.Combine(dir, "tokenizer");
        foreach (var f in new[] { "vocab.json", "merges.txt" })
            if (!File.Exists(Path.Combine(tokDir, f))) missing.Add($"tokenizer/{f}");
        string schedPath = Path.Combine(dir, "scheduler", "scheduler_config.json");
        if (!File.Exists(schedPath)) missing.Add("scheduler/scheduler_config.json");
        else if (!TryReadJson(schedPath, out _, out var err)) problems.Add($"scheduler/scheduler_config.json is not valid JSON ({err})");
        if (missing.Count > 0) problems.Insert(0, "missing " + string.Join(", ", missing));

        string? depthEstimator = Path.Combine(dir, "depth_estimator", "model.onnx");
        if (!File.Exists(depthEstimator)) depthEstimator = null;

        var kind = ModelKind.Unknown;
        string dtype = "";
        int inChannels = 0, crossDim = 0, sampleSize = 0;
        var timestep = TimestepInput.Unknown;
        bool sdxl = false;
        int pooledDim = 0;
        if (unet is not null)
        {
            var h = TryHeader(unet, "unet", problems);
            if (h is not null)
            {
                var textEmbeds = h.Input("text_embeds");
                var timeIds = h.Input("time_ids");
                sdxl = textEmbeds is not null || timeIds is not null;
                if (sdxl && (textEmbeds is null || timeIds is null))
                    problems.Add($"unet/model.onnx has {(textEmbeds is null ? "time_ids but no text_embeds" : "text_embeds but no time_ids")} input (SDXL UNets take both)");
                if (textEmbeds is { Rank: 2 } && textEmbeds.Shape![1].Value is long pd) pooledDim = (int)pd;
                if (timeIds is { Rank: 2 } && timeIds.Shape![1].Value is long tl && tl != 6)
                    problems.Add($"unet time_ids has {tl} values: an SDXL refiner (aesthetic-score conditioning) is not supported, only 6 time ids");
                var sample = h.Input("sample");
                if (sample is null) problems.Add($"unet/model.onnx has no 'sample' input (inputs: {string.Join(", ", h.Inputs.Select(i => i.Name))})");
                else
                {
                    dtype = sample.ElementType switch { 10 => "fp16", 1 => "fp32", _ => "" };
                    if (dtype == "") problems.Add($"unet sample input is {sample.ElementTypeName} (expected float or float16)");
                    if (sample.Rank == 4 && sample.Shape![1].Value is long c) inChannels = (int)c;
                    if (sample.Rank == 4 && sample.Shape![2].Value is long hgt and > 0) sampleSize = (int)hgt;
                }
                var ts = h.Input("timestep");
                if (ts is null) problems.Add("unet/model.onnx has no 'timestep' input");
                else
                {
                    timestep = (ts.ElementType, ts.Rank) switch
                    {
                        (7, 0) => TimestepInput.Int64Scalar,
                        (7, _) => TimestepInput.Int64Vector,
                        (1, 0) => TimestepInput.Float32Scalar,
                        (1, _) => TimestepInput.Float32Vector,
                        (10, 0) => TimestepInput.Float16Scalar,
                        (10, _) => TimestepInput.Float16Vector,
                        _ => TimestepInput.Unknown,
                    };
                    if (timestep == TimestepInput.Unknown) problems.Add($"unet timestep input is {ts.ElementTypeName} (expected int64, float or float16)");
                }
                var ehs = h.Input("encoder_hidden_states");
                if (ehs is null) problems.Add("unet/model.onnx has no 'encoder_hidden_states' input");
                else if (ehs.Rank == 3 && ehs.Shape![2].Value is long dim) crossDim = (int)dim;
                CheckExternalData(h, unet, "unet", problems);
            }
            var unetConfig = ReadConfig(Path.Combine(dir, "unet", "config.json"));
            if (inChannels == 0 && unetConfig?["in_channels"] is JsonValue ic) inChannels = ic.GetValue<int>();
            if (unetConfig?["sample_size"] is JsonValue ss) sampleSize = ss.GetValue<int>();
            if (crossDim == 0 && unetConfig?["cross_attention_dim"] is JsonValue cd && cd.TryGetValue(out int cdi)) crossDim = cdi;
            kind = inChannels switch { 4 => ModelKind.Img2Img, 5 => ModelKind.Depth, 9 => ModelKind.Inpaint, _ => ModelKind.Unknown };
            if (kind == ModelKind.Unknown && inChannels != 0) problems.Add($"unet has {inChannels} input channels (4 = base/img2img, 5 = depth, 9 = inpaint)");
            else if (kind == ModelKind.Unknown && problems.Count == 0) problems.Add("unet input channel count is unknown (no fixed dimension and no unet/config.json in_channels)");
        }

        string? textEncoder2 = null, tok2Dir = null;
        if (sdxl)
        {
            int before = missing.Count;
            textEncoder2 = Component("text_encoder_2");
            tok2Dir = Path.Combine(dir, "tokenizer_2");
            foreach (var f in new[] { "vocab.json", "merges.txt" })
                if (!File.Exists(Path.Combine(tok2Dir, f))) missing.Add($"tokenizer_2/{f}");
            if (missing.Count > before) problems.Add("missing " + string.Join(", ", missing.Skip(before)) + " (an SDXL UNet needs both text encoders and tokenizers)");
        }

        string idsType = "";
        if (sdxl)
        {
            int h1 = textEncoder is null ? 0 : InspectSdxlTextEncoder(textEncoder, "text_encoder", pooled: false, problems, ref idsType, ref pooledDim);
            int h2 = textEncoder2 is null ? 0 : InspectSdxlTextEncoder(textEncoder2, "text_encoder_2", pooled: true, problems, ref idsType, ref pooledDim);
            if (h1 > 0 && h2 > 0 && crossDim > 0 && h1 + h2 != crossDim)
                problems.Add($"text encoder hidden sizes {h1} + {h2} do not add up to the unet's cross-attention dim {crossDim}");
        }
        else if (textEncoder is not null)
        {
            var h = TryHeader(textEncoder, "text_encoder", problems);
            if (h is not null)
            {
                var ids = h.Input("input_ids");
                if (ids is null) problems.Add($"text_encoder/model.onnx has no 'input_ids' input (inputs: {string.Join(", ", h.Inputs.Select(i => i.Name))})");
                else if (ids.ElementType is not (6 or 7)) problems.Add($"text_encoder input_ids is {ids.ElementTypeName} (expected int32 or int64)");
                else idsType = ids.ElementTypeName;
                var hidden = h.Output("last_hidden_state") ?? h.Outputs.FirstOrDefault();
                if (hidden is null) problems.Add("text_encoder/model.onnx has no outputs");
                else if (hidden.Rank == 3 && hidden.Shape![2].Value is long hd && crossDim > 0 && hd != crossDim)
                    problems.Add($"text encoder hidden size {hd} does not match the unet's cross-attention dim {crossDim}");
                CheckExternalData(h, textEncoder, "text_encoder", problems);
            }
        }

        string vaeOut = "", vaeDtype = "";
        bool forceUpcast = true;
        if (vaeEncoder is not null)
        {
            var h = TryHeader(vaeEncoder, "vae_encoder", problems);
            if (h is not null)
            {
                if (h.Input("sample") is null) problems.Add("vae_encoder/model.onnx has no 'sample' input");
                vaeOut = h.Output("latent_parameters")?.Name ?? h.Output("latent_sample")?.Name ?? "";
                if (vaeOut == "") problems.Add($"vae_encoder/model.onnx has neither 'latent_sample' nor 'latent_parameters' output");
                CheckExternalData(h, vaeEncoder, "vae_encoder", problems);
            }
        }
        float scaling = 0.18215f;
        int vaeFactor = 8;
        if (vaeDecoder is not null)
        {
            var h = TryHeader(vaeDecoder, "vae_decoder", problems);
            if (h is not null)
            {
                var ls = h.Input("latent_sample");
                if (ls is null) problems.Add("vae_decoder/model.onnx has no 'latent_sample' input");
                else vaeDtype = ls.ElementType switch { 10 => "fp16", 1 => "fp32", _ => "" };
                CheckExternalData(h, vaeDecoder, "vae_decoder", problems);
            }
            var vaeConfig = ReadConfig(Path.Combine(dir, "vae_decoder", "config.json")) ?? ReadConfig(Path.Combine(dir, "vae_encoder", "config.json"));
            if (vaeConfig?["scaling_factor"] is JsonValue sf) scaling = (float)sf.GetValue<double>();
            if (vaeConfig?["block_out_channels"] is JsonArray boc && boc.Count > 0) vaeFactor = 1 << (boc.Count - 1);
            if (vaeConfig?["force_upcast"] is JsonValue fu && fu.TryGetValue(out bool fub)) forceUpcast = fub;
        }
        if (depthEstimator is not null)
        {
            var h = TryHeader(depthEstimator, "depth_estimator", problems);
            if (h is not null && h.Input("pixel_values") is null) problems.Add("depth_estimator/model.onnx has no 'pixel_values' input");
        }
        else if (kind == ModelKind.Depth) notes.Add("no depth_estimator/: depth requests need a depth map");

        if (sampleSize == 0) sampleSize = sdxl ? 128 : 64;
        bool forceZeros = true;
        if (sdxl && ReadConfig(indexPath)?["force_zeros_for_empty_prompt"] is JsonValue fz && fz.TryGetValue(out bool fzb)) forceZeros = fzb;
        int native = sampleSize * vaeFactor;
        return new ModelEntry
        {
            Name = name,
            Directory = dir,
            Kind = kind,
            Usable = problems.Count == 0,
            Reason = string.Join("; ", problems),
            Dtype = dtype,
            NativeWidth = native,
            NativeHeight = native,
            Operations = OperationsFor(kind),
            UnetInChannels = inChannels,
            TimestepInput = timestep,
            CrossAttentionDim = crossDim,
            VaeScalingFactor = scaling,
            VaeScaleFactor = vaeFactor,
            VaeEncoderOutput = vaeOut,
            TextEncoderIdsType = idsType,
            UnetPath = unet,
            TextEncoderPath = textEncoder,
            VaeEncoderPath = vaeEncoder,
            VaeDecoderPath = vaeDecoder,
            TokenizerDirectory = System.IO.Directory.Exists(tokDir) ? tokDir : null,
            SchedulerConfigPath = File.Exists(schedPath) ? schedPath : null,
            DepthEstimatorPath = depthEstimator,
            Notes = notes,
            Architecture = sdxl ? ModelArchitecture.StableDiffusionXL : ModelArchitecture.StableDiffusion,
            TextEncoder2Path = textEncoder2,
            Tokenizer2Directory = tok2Dir != null && System.IO.Directory.Exists(tok2Dir) ? tok2Dir : null,
            PooledEmbedDim = pooledDim,
            ForceZerosForEmptyPrompt = sdxl && forceZeros,
            VaeDtype = vaeDtype,
            VaeForceUpcast = forceUpcast,
        };
    }

    /// <summary>
    /// An SDXL text encoder needs its hidden states per layer (Optimum's <c>hidden_states.N</c> outputs: SDXL conditions on
    /// the penultimate layer) and, for the second, the projected pooled output (<c>text_embeds</c>). Returns the hidden size (0 = unknown).
    /// </summary>
    private static int InspectSdxlTextEncoder(string path, string component, bool pooled, List<string> problems, ref string idsType, ref int pooledDim)
    {
        var h = TryHeader(path, component, problems);
        if (h is null) return 0;
        var ids = h.Input("input_ids");
        if (ids is null) problems.Add($"{component}/model.onnx has no 'input_ids' input (inputs: {string.Join(", ", h.Inputs.Select(i => i.Name))})");
        else if (ids.ElementType is not (6 or 7)) problems.Add($"{component} input_ids is {ids.ElementTypeName} (expected int32 or int64)");
        else if (idsType == "") idsType = ids.ElementTypeName;
        var layers = h.Outputs.Where(o => SdxlHiddenLayer(o.Name) >= 0).ToList();
        if (layers.Count < 2) problems.Add($"{component}/model.onnx has no per-layer 'hidden_states.N' outputs (SDXL uses the penultimate layer; export with output_hidden_states)");
        if (pooled)
        {
            var te = h.Output("text_embeds");
            if (te is null) problems.Add($"{component}/model.onnx has no 'text_embeds' output (the pooled, projected embedding)");
            else if (te.Rank == 2 && te.Shape![1].Value is long pd)
            {
                if (pooledDim > 0 && pd != pooledDim) problems.Add($"{component} pooled size {pd} does not match the unet's text_embeds size {pooledDim}");
                pooledDim = (int)pd;
            }
        }
        CheckExternalData(h, path, component, problems);
        var layer = layers.FirstOrDefault();
        return layer is { Rank: 3 } && layer.Shape![2].Value is long hd ? (int)hd : 0;
    }

    /// <summary>N of an output named "hidden_states.N", else -1.</summary>
    public static int SdxlHiddenLayer(string outputName) =>
        outputName.StartsWith("hidden_states.", StringComparison.Ordinal) && int.TryParse(outputName.AsSpan(14), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) ? n : -1;

    private static ModelEntry InspectDepthEstimator(string dir, string name, string onnx)
    {
        var problems = new List<string>();
        var h = TryHeader(onnx, "model", problems);
        string dtype = "";
        if (h is not null)
        {
            var pv = h.Input("pixel_values");
            if (pv is null) problems.Add($"model.onnx has no 'pixel_values' input (inputs: {string.Join(", ", h.Inputs.Select(i => i.Name))}); a folder without model_index.json must be a depth estimator");
            else dtype = pv.ElementType == 10 ? "fp16" : "fp32";
            CheckExternalData(h, onnx, "model", problems);
        }
        return new ModelEntry
        {
            Name = name,
            Directory = dir,
            Kind = ModelKind.DepthEstimator,
            Usable = problems.Count == 0,
            Reason = string.Join("; ", problems),
            Dtype = dtype,
            Operations = [],
            DepthEstimatorPath = onnx,
        };
    }

    public static IReadOnlyList<string> OperationsFor(ModelKind kind) => kind switch
    {
        ModelKind.Inpaint => ["inpaint", "outpaint"],
        ModelKind.Img2Img => ["img2img", "inpaint", "outpaint"],
        ModelKind.Depth => ["depth"],
        _ => [],
    };

    public static string KindName(ModelKind kind) => kind switch
    {
        ModelKind.Inpaint => "inpaint",
        ModelKind.Img2Img => "img2img",
        ModelKind.Depth => "depth",
        ModelKind.DepthEstimator => "depth-estimator",
        _ => "",
    };

    private static OnnxModelHeader? TryHeader(string path, string component, List<string> problems)
    {
        try
        {
            var h = OnnxHeaderReader.Read(path);
            if (h.Inputs.Count == 0) { problems.Add($"{component}/model.onnx declares no graph inputs"); return null; }
            return h;
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or OverflowException)
        {
            problems.Add($"{component}/model.onnx is not a readable ONNX model ({e.Message})");
            return null;
        }
    }

    private static void CheckExternalData(OnnxModelHeader h, string onnxPath, string component, List<string> problems)
    {
        string folder = Path.GetDirectoryName(onnxPath)!;
        var absent = h.ExternalDataFiles.Where(f => !File.Exists(Path.Combine(folder, f))).ToList();
        if (absent.Count > 0) problems.Add($"{component}: missing external weights file(s) {string.Join(", ", absent)}");
    }

    private static bool TryReadJson(string path, out JsonNode? node, out string error)
    {
        try
        {
            node = JsonNode.Parse(Schedulers.SchedulerConfig.QuoteNonFiniteLiterals(File.ReadAllText(path)));
            error = "";
            return node is not null;
        }
        catch (JsonException e)
        {
            node = null;
            error = e.Message;
            return false;
        }
    }

    private static JsonObject? ReadConfig(string path)
    {
        if (!File.Exists(path)) return null;
        return TryReadJson(path, out var n, out _) ? n as JsonObject : null;
    }
}
