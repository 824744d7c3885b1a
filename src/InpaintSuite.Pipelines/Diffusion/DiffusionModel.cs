using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Onnx;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>
/// The ONNX components of one Stable-Diffusion-class model folder, as the denoising loop calls them.
/// Sessions load lazily (a text encoder is not needed until a prompt changes; the depth estimator only
/// for depth-to-image without a map) and once; the class adapts to what the export looks like:
/// fp16 or fp32 inputs, int64/float timestep as vector or scalar, a VAE encoder that returns the posterior
/// mean (<c>latent_sample</c>) or mean‖logvar (<c>latent_parameters</c>), int32 or int64 token ids.
/// </summary>
public sealed class DiffusionModel : IDisposable
{
    private readonly OrtSessionOptions _options;
    private readonly Lazy<InferenceSession> _unet, _textEncoder, _vaeEncoder, _vaeDecoder;
    private readonly Lazy<InferenceSession>? _depthEstimator;

    public DiffusionModel(ModelEntry entry, OrtSessionOptions? options = null)
    {
        if (!entry.Usable) throw new InvalidOperationException($"model '{entry.Name}' is not usable: {entry.Reason}");
        Entry = entry;
        _options = options ?? OrtSessionOptions.Default;
        _unet = Load(entry.UnetPath);
        _textEncoder = Load(entry.TextEncoderPath);
        _vaeEncoder = Load(entry.VaeEncoderPath);
        _vaeDecoder = Load(entry.VaeDecoderPath);
        if (entry.DepthEstimatorPath != null) _depthEstimator = Load(entry.DepthEstimatorPath);
    }

    private Lazy<InferenceSession> Load(string? path) =>
        new(() => InferenceSession.Load(path ?? throw new InvalidOperationException($"model '{Entry.Name}' lacks a component"), _options), LazyThreadSafetyMode.ExecutionAndPublication);

    public ModelEntry Entry { get; }

    public string Name => Entry.Name;

    public int UnetInChannels => Entry.UnetInChannels;

    public float VaeScalingFactor => Entry.VaeScalingFactor;

    /// <summary>Image pixels per latent pixel (8 for SD).</summary>
    public int VaeScaleFactor => Entry.VaeScaleFactor;

    public bool HasDepthEstimator => _depthEstimator != null;

    private long _runTicks;

    /// <summary>Total time spent inside ONNX Runtime calls (for separating model time from the craft around it).</summary>
    public TimeSpan ModelTime => TimeSpan.FromTicks(Interlocked.Read(ref _runTicks));

    private IReadOnlyDictionary<string, OrtTensor> Run(InferenceSession s, Dictionary<string, OrtTensor> inputs, string output, CancellationToken ct)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return s.Run(inputs, [output], ct); }
        finally { Interlocked.Add(ref _runTicks, System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks); }
    }

    /// <summary>Loads every session now (daemon warm-up) so the first job does not pay for it.</summary>
    public void WarmUp()
    {
        _ = _unet.Value;
        _ = _textEncoder.Value;
        _ = _vaeEncoder.Value;
        _ = _vaeDecoder.Value;
    }

    /// <summary>Token ids [batch,77] -> last_hidden_state [batch,77,hidden] as float32.</summary>
    public float[] EncodeText(int[] ids, int batch, CancellationToken ct)
    {
        var s = _textEncoder.Value;
        var input = s.Inputs[0];
        int seq = ids.Length / batch;
        OrtTensor t = input.ElementType == OrtElementType.Int64
            ? OrtTensor.Create(ids.Select(i => (long)i).ToArray(), batch, seq)
            : OrtTensor.Create((int[])ids.Clone(), batch, seq);
        var outName = s.Outputs.FirstOrDefault(o => o.Name == "last_hidden_state")?.Name ?? s.Outputs[0].Name;
        var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = t }, outName, ct);
        return outputs[outName].ToFloat32().Span.ToArray();
    }

    /// <summary>
    /// One UNet call: <paramref name="sample"/> [batch,C,h,w], one timestep for the whole batch,
    /// encoder_hidden_states [batch,seq,hidden]; returns the noise (or v) prediction [batch,4,h,w].
    /// </summary>
    public float[] Unet(float[] sample, int batch, int channels, int h, int w, float timestep, float[] hiddenStates, int seq, CancellationToken ct)
    {
        var s = _unet.Value;
        int hidden = hiddenStates.Length / (batch * seq);
        var inputs = new Dictionary<string, OrtTensor>(3);
        foreach (var info in s.Inputs)
        {
            switch (info.Name)
            {
                case "sample":
                    inputs[info.Name] = AsType(sample, info.ElementType, batch, channels, h, w);
                    break;
                case "encoder_hidden_states":
                    inputs[info.Name] = AsType(hiddenStates, info.ElementType, batch, seq, hidden);
                    break;
                case "timestep":
                    inputs[info.Name] = Timestep(timestep, info, batch);
                    break;
                default:
                    throw new InvalidOperationException($"UNet of '{Name}' has an unexpected input '{info.Name}'");
            }
        }
        var outName = s.Outputs[0].Name;
        var outputs = Run(s, inputs, outName, ct);
        return outputs[outName].ToFloat32().Span.ToArray();
    }

    private static OrtTensor Timestep(float t, OrtNodeInfo info, int batch)
    {
        bool scalar = info.Dimensions.Count == 0;
        long[] shape = scalar ? [] : [batch];
        int n = scalar ? 1 : batch;
        return info.ElementType switch
        {
            // Integer exports truncate fractional timesteps, as Optimum's pipeline does (astype(int64)).
            OrtElementType.Int64 => OrtTensor.Create(Enumerable.Repeat((long)t, n).ToArray(), shape),
            OrtElementType.Int32 => OrtTensor.Create(Enumerable.Repeat((int)t, n).ToArray(), shape),
            OrtElementType.Float16 => OrtTensor.Create(Enumerable.Repeat((Half)t, n).ToArray(), shape),
            _ => OrtTensor.Create(Enumerable.Repeat(t, n).ToArray(), shape),
        };
    }

    /// <summary>
    /// VAE encoder on an image [batch,3,H,W] in [-1,1]: the posterior mean and, when the export gives it,
    /// the log-variance (both unscaled, [batch,4,H/8,W/8]).
    /// </summary>
    public (float[] Mean, float[]? LogVar) EncodeVae(float[] image, int batch, int height, int width, CancellationToken ct)
    {
        var s = _vaeEncoder.Value;
        var input = s.Inputs[0];
        var outName = s.Outputs[0].Name;
        var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = AsType(image, input.ElementType, batch, 3, height, width) }, outName, ct);
        var data = outputs[outName].ToFloat32().Span;
        if (outName != "latent_parameters") return (data.ToArray(), null);
        // latent_parameters = concat(mean, logvar) on the channel axis.
        int hw = data.Length / (batch * 8);
        var mean = new float[batch * 4 * hw];
        var logvar = new float[batch * 4 * hw];
        for (int b = 0; b < batch; b++)
        {
            data.Slice(b * 8 * hw, 4 * hw).CopyTo(mean.AsSpan(b * 4 * hw));
            data.Slice(b * 8 * hw + 4 * hw, 4 * hw).CopyTo(logvar.AsSpan(b * 4 * hw));
        }
        return (mean, logvar);
    }

    /// <summary>VAE decoder: latents [batch,4,h,w] already divided by the scaling factor -> image [batch,3,8h,8w] (~[-1,1]).</summary>
    public float[] DecodeVae(float[] latents, int batch, int h, int w, CancellationToken ct)
    {
        var s = _vaeDecoder.Value;
        var input = s.Inputs[0];
        var outName = s.Outputs[0].Name;
        var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = AsType(latents, input.ElementType, batch, 4, h, w) }, outName, ct);
        return outputs[outName].ToFloat32().Span.ToArray();
    }

    /// <summary>Depth estimator: pixel_values [1,3,H,W] -> predicted_depth [H',W'] (returns data and size).</summary>
    public (float[] Depth, int Height, int Width) EstimateDepth(float[] pixels, int height, int width, CancellationToken ct)
    {
        var s = (_depthEstimator ?? throw new InvalidOperationException($"model '{Name}' has no depth estimator")).Value;
        var input = s.Inputs[0];
        var outName = s.Outputs[0].Name;
        var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = AsType(pixels, input.ElementType, 1, 3, height, width) }, outName, ct);
        var t = outputs[outName].ToFloat32();
        var dims = t.Shape;
        int oh = (int)dims[^2], ow = (int)dims[^1];
        return (t.Span.ToArray(), oh, ow);
    }

    private static OrtTensor AsType(float[] data, OrtElementType type, params long[] shape) => type switch
    {
        OrtElementType.Float16 => OrtTensor.Create(HalfConversion.ToHalf(data), shape),
        _ => OrtTensor.Create(data, shape),
    };

    public void Dispose()
    {
        foreach (var l in new[] { _unet, _textEncoder, _vaeEncoder, _vaeDecoder, _depthEstimator })
            if (l is { IsValueCreated: true }) l.Value.Dispose();
    }
}
