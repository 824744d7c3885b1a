using InpaintSuite.Runtime.Onnx;

namespace InpaintSuite.Runtime.Lora;

/// <summary>Creates an ONNX Runtime session for a model file with a LoRA stack merged into its weights.</summary>
public static class LoraSessions
{
    /// <summary>The ORT session config entry naming the folder of external data for a model loaded from bytes.</summary>
    public const string ExternalInitializersFolderEntry = "session.model_external_initializers_file_folder_path";

    /// <summary>Merges <paramref name="stack"/> into <paramref name="modelPath"/>'s weights and creates the session from the patched bytes.</summary>
    public static InferenceSession Load(string modelPath, OrtSessionOptions options, LoraStack stack, Action<LoraMergeResult>? report = null)
    {
        var full = Path.GetFullPath(modelPath);
        var graph = OnnxWeightGraph.Load(full);
        var dir = Path.GetDirectoryName(full)!;
        var files = new List<(LoraFile, float)>(stack.Items.Count);
        foreach (var item in stack.Items)
        {
            try { files.Add((LoraFile.Load(item.Path, item.Name), item.Multiplier)); }
            catch (SafetensorsFormatException e) { throw new LoraException($"LoRA '{item.Name}' is not a valid .safetensors file: {e.Message}", e); }
            catch (FileNotFoundException e) { throw new LoraException($"LoRA '{item.Name}' is gone: {e.Message}", e); }
        }
        // The model folder's name (…/tiny-sd-base/unet/model.onnx -> tiny-sd-base) for messages.
        var label = Path.GetFileName(Path.GetDirectoryName(dir)) is { Length: > 0 } m ? m : full;
        var result = LoraMerger.Merge(graph, dir, files, stack.Target, stack.Lenient, label);
        report?.Invoke(result);
        // The optimised-model cache belongs to the unmerged file: never read or overwrite it with merged weights.
        var effective = options with { OptimizedModelCachePath = null };
        if (result.UsesExternalData)
        {
            var entries = new Dictionary<string, string>(options.ConfigEntries ?? new Dictionary<string, string>()) { [ExternalInitializersFolderEntry] = dir };
            effective = effective with { ConfigEntries = entries };
        }
        return InferenceSession.Load(result.Model, effective);
    }
}
