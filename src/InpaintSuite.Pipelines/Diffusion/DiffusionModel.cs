using InpaintSuite.Runtime.Lora;
using InpaintSuite.Runtime.Models;
using InpaintSuite.Runtime.Onnx;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>
/// The ONNX components of one Stable-Diffusion-class model folder, as the denoising loop calls them.
/// Sessions come from a <see cref="ModelSessionCache"/> (the daemon shares one across all models, under a memory
/// budget): they load on first use (a text encoder is not needed until a prompt changes; the depth estimator only
/// for depth-to-image without a map) and stay until evicted. Each call leases its session for the call; a job
/// holds <see cref="LeaseSessions"/> for its whole run so nothing it needs is evicted (and reloaded) half-way.
/// The class adapts to what the export looks like:
/// fp16 or fp32 inputs, int64/float timestep as vector or scalar, a VAE encoder that returns the posterior
/// mean (<c>latent_sample</c>) or mean‖logvar (<c>latent_parameters</c>), int32 or int64 token ids.
/// </summary>
public sealed class DiffusionModel : IDisposable
{
    private readonly ModelSessionCache _cache;
    private readonly bool _ownsCache;
    private readonly ModelSessionKey? _unet, _textEncoder, _vaeEncoder, _vaeDecoder, _depthEstimator;

    /// <param name="entry">A usable catalogue entry.</param>
    /// <param name="options">Session options (part of each session's cache key).</param>
    /// <param name="cache">The shared session cache; null = a private cache without a budget, released with the model.</param>
    public DiffusionModel(ModelEntry entry, OrtSessionOptions? options = null, ModelSessionCache? cache = null)
    {
        if (!entry.Usable) throw new InvalidOperationException($"model '{entry.Name}' is not usable: {entry.Reason}");
        Entry = entry;
        var opts = options ?? OrtSessionOptions.Default;
        _ownsCache = cache == null;
        _cache = cache ?? ModelSessionCache.Unbounded();
        _unet = Key(entry.UnetPath, opts);
        _textEncoder = Key(entry.TextEncoderPath, opts);
        _vaeEncoder = Key(entry.VaeEncoderPath, opts);
        _vaeDecoder = Key(entry.VaeDecoderPath, opts);
        _depthEstimator = Key(entry.DepthEstimatorPath, opts);
    }

    private static ModelSessionKey? Key(string? path, OrtSessionOptions options) => path == null ? null : new ModelSessionKey(path, options);

    private DiffusionModel(DiffusionModel plain, LoraStack? unet, LoraStack? textEncoder)
    {
        Entry = plain.Entry;
        _cache = plain._cache;
        _ownsCache = false;
        _unet = plain._unet is { } u ? new ModelSessionKey(u.Path, u.Options, unet) : null;
        _textEncoder = plain._textEncoder is { } t ? new ModelSessionKey(t.Path, t.Options, textEncoder) : null;
        _vaeEncoder = plain._vaeEncoder;
        _vaeDecoder = plain._vaeDecoder;
        _depthEstimator = plain._depthEstimator;
        Loras = unet ?? textEncoder;
    }

    /// <summary>
    /// The same model with LoRAs merged into the UNet and/or text encoder: a view drawing from the same cache, whose
    /// UNet/text-encoder keys carry the stacks (merged sessions are cached beside the plain ones, under the same
    /// budget); VAE and depth sessions are shared. Null or empty stacks keep the plain component.
    /// </summary>
    public DiffusionModel WithLoras(LoraStack? unet, LoraStack? textEncoder)
    {
        if (unet is { IsEmpty: true }) unet = null;
        if (textEncoder is { IsEmpty: true }) textEncoder = null;
        return unet == null && textEncoder == null ? this : new DiffusionModel(this, unet, textEncoder);
    }

    /// <summary>The LoRAs of a <see cref="WithLoras"/> view (null for the plain model).</summary>
    public LoraStack? Loras { get; }

    /// <summary>True when the text encoder of this view has LoRAs merged (prompt embeddings differ from the plain model's).</summary>
    public bool TextEncoderHasLoras => _textEncoder is { Loras: not null };

    /// <summary>The session cache this model draws from.</summary>
    public ModelSessionCache Cache => _cache;

    /// <summary>The four components every job uses (text encoder, UNet, VAE encoder and decoder), as cache keys.</summary>
    public IReadOnlyList<ModelSessionKey> CoreComponents =>
        [Required(_textEncoder), Required(_unet), Required(_vaeEncoder), Required(_vaeDecoder)];

    private ModelSessionKey Required(ModelSessionKey? key) =>
        key ?? throw new InvalidOperationException($"model '{Entry.Name}' lacks a component");

    private ModelLease<InferenceSession> Use(ModelSessionKey? key, CancellationToken ct) => _cache.Acquire(Required(key), ct);

    /// <summary>
    /// Leases the core components (and the depth estimator when asked) until disposed, loading what is not resident;
    /// a job holds this for its run. Loads started here are not cancelled by <paramref name="ct"/> (others may wait for them).
    /// </summary>
    public IDisposable LeaseSessions(bool depthEstimator, CancellationToken ct)
    {
        var keys = depthEstimator && _depthEstimator is { } d ? [.. CoreComponents, d] : CoreComponents;
        var leases = new List<IDisposable>(keys.Count);
        try
        {
            foreach (var k in keys) leases.Add(_cache.Acquire(k, ct));
        }
        catch
        {
            foreach (var l in leases) l.Dispose();
            throw;
        }
        return new Leases(leases);
    }

    private sealed class Leases(List<IDisposable> leases) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                foreach (var l in leases) l.Dispose();
        }
    }

    /// <summary>True when every core component is resident in the cache.</summary>
    public bool IsLoaded => CoreComponents.All(_cache.IsLoaded);

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

    /// <summary>Loads the core sessions now (daemon warm-up) so the first job does not pay for it.</summary>
    public void WarmUp(CancellationToken ct = default)
    {
        using var _ = LeaseSessions(depthEstimator: false, ct);
    }

    /// <summary>Token ids [batch,77] -> last_hidden_state [batch,77,hidden] as float32.</summary>
    public float[] EncodeText(int[] ids, int batch, CancellationToken ct)
    {
        using var lease = Use(_textEncoder, ct);
        var s = lease.Value;
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
        using var lease = Use(_unet, ct);
        var s = lease.Value;
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
        using var lease = Use(_vaeEncoder, ct);
        var s = lease.Value;
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
        using var lease = Use(_vaeDecoder, ct);
        var s = lease.Value;
        var input = s.Inputs[0];
        var outName = s.Outputs[0].Name;
        var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = AsType(latents, input.ElementType, batch, 4, h, w) }, outName, ct);
        return outputs[outName].ToFloat32().Span.ToArray();
    }

    /// <summary>Depth estimator: pixel_values [1,3,H,W] -> predicted_depth [H',W'] (returns data and size).</summary>
    public (float[] Depth, int Height, int Width) EstimateDepth(float[] pixels, int height, int width, CancellationToken ct)
    {
        if (_depthEstimator == null) throw new InvalidOperationException($"model '{Name}' has no depth estimator");
        using var lease = Use(_depthEstimator, ct);
        var s = lease.Value;
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

    /// <summary>Releases a private cache's sessions; a shared cache belongs to whoever created it.</summary>
    public void Dispose()
    {
        if (_ownsCache) _cache.Dispose();
    }
}
