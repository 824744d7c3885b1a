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
    private readonly ModelSessionKey? _unet, _textEncoder, _textEncoder2, _vaeEncoder, _vaeDecoder, _depthEstimator;

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
        _textEncoder2 = Key(entry.TextEncoder2Path, opts);
        _vaeEncoder = Key(entry.VaeEncoderPath, opts);
        _vaeDecoder = Key(entry.VaeDecoderPath, opts);
        _depthEstimator = Key(entry.DepthEstimatorPath, opts);
        _vaeFp16 = entry.VaeDtype == "fp16";
        _vaeUpcast = _vaeFp16 && entry.VaeForceUpcast;
    }

    // fp16 VAE policy (SDXL's VAE overflows in fp16; diffusers runs it in fp32 when force_upcast): a VAE exported in
    // fp16 and not marked fp16-safe runs from a float32 copy of its graph from the start; an fp16-safe one runs in fp16
    // and switches to the float32 copy (for the rest of the process) the first time an output has NaN/inf or the
    // provider cannot load it. Every switch is reported through Log.
    private readonly bool _vaeFp16;
    private volatile bool _vaeUpcast;
    private bool _upcastReported;
    private readonly Lock _upcastLock = new();

    /// <summary>Where float32 copies of fp16 VAEs are written (default: a folder under the temp directory).</summary>
    public string UpcastDirectory { get; init; } = OnnxFloat32Upcast.DefaultCacheDirectory;

    /// <summary>"fp32", "fp16", or "fp32 (upcast from fp16)": how the VAE runs now.</summary>
    public string VaePrecision => _vaeUpcast ? "fp32 (upcast from fp16)" : _vaeFp16 ? "fp16" : "fp32";

    private ModelSessionKey? Vae(ModelSessionKey? key) =>
        key is { } k && _vaeUpcast ? new ModelSessionKey(OnnxFloat32Upcast.CachedPath(k.Path, UpcastDirectory), k.Options) : key;

    /// <summary>Makes the float32 copies exist when the VAE runs upcast (once; later calls only check a file).</summary>
    private void EnsureUpcastVae()
    {
        if (!_vaeUpcast) return;
        lock (_upcastLock)
        {
            foreach (var k in new[] { _vaeEncoder, _vaeDecoder })
                if (k is { } key) OnnxFloat32Upcast.EnsureConverted(key.Path, OnnxFloat32Upcast.CachedPath(key.Path, UpcastDirectory));
            if (!_upcastReported)
            {
                _upcastReported = true;
                Log?.Invoke($"model '{Name}': the VAE is fp16 and not marked fp16-safe (force_upcast): encoding and decoding in fp32 (float32 copy in {UpcastDirectory})");
            }
        }
    }

    private void SwitchVaeToFp32(string why)
    {
        lock (_upcastLock)
        {
            if (_vaeUpcast) return;
            _upcastReported = true;
            Log?.Invoke($"model '{Name}': {why}: redoing in fp32, and running its VAE in fp32 from now on");
            _vaeUpcast = true;
        }
        EnsureUpcastVae();
    }

    /// <summary>Acquires a VAE session; an fp16 VAE the provider cannot load falls back to its float32 copy.</summary>
    private ModelLease<InferenceSession> UseVae(ModelSessionKey? key, CancellationToken ct)
    {
        EnsureUpcastVae();
        try { return _cache.Acquire(Required(Vae(key)), ct); }
        catch (OnnxRuntimeException e) when (_vaeFp16 && !_vaeUpcast)
        {
            SwitchVaeToFp32($"the fp16 VAE cannot run on this provider ({e.Message})");
            return _cache.Acquire(Required(Vae(key)), ct);
        }
    }

    private static bool AllFinite(ReadOnlySpan<float> v)
    {
        foreach (float x in v) if (!float.IsFinite(x)) return false;
        return true;
    }

    private static ModelSessionKey? Key(string? path, OrtSessionOptions options) => path == null ? null : new ModelSessionKey(path, options);

    /// <summary>The session cache this model draws from.</summary>
    public ModelSessionCache Cache => _cache;

    /// <summary>
    /// The components every job uses (text encoder(s), UNet, VAE encoder and decoder), as cache keys. SDXL's second
    /// text encoder is one of them, so the cache budget counts its weights (an SDXL folder is ~3x an SD 1.5 one).
    /// </summary>
    public IReadOnlyList<ModelSessionKey> CoreComponents => _textEncoder2 is { } te2
        ? [Required(_textEncoder), te2, Required(_unet), Required(Vae(_vaeEncoder)), Required(Vae(_vaeDecoder))]
        : [Required(_textEncoder), Required(_unet), Required(Vae(_vaeEncoder)), Required(Vae(_vaeDecoder))];

    /// <summary>SDXL: two text encoders, pooled embedding and time ids into the UNet.</summary>
    public bool IsSdxl => Entry.Architecture == ModelArchitecture.StableDiffusionXL;

    /// <summary>Where the model reports what it decided about precision (fp16 VAE upcast or NaN/inf fallback); the daemon logs it.</summary>
    public Action<string>? Log { get; set; }

    private ModelSessionKey Required(ModelSessionKey? key) =>
        key ?? throw new InvalidOperationException($"model '{Entry.Name}' lacks a component");

    private ModelLease<InferenceSession> Use(ModelSessionKey? key, CancellationToken ct) => _cache.Acquire(Required(key), ct);

    /// <summary>
    /// Leases the core components (and the depth estimator when asked) until disposed, loading what is not resident;
    /// a job holds this for its run. Loads started here are not cancelled by <paramref name="ct"/> (others may wait for them).
    /// </summary>
    public IDisposable LeaseSessions(bool depthEstimator, CancellationToken ct)
    {
        EnsureUpcastVae();
        try { return LeaseCore(depthEstimator, ct); }
        catch (OnnxRuntimeException e) when (_vaeFp16 && !_vaeUpcast)
        {
            // Most likely the fp16 VAE (a CPU provider lacks fp16 kernels): its float32 copy loads instead.
            SwitchVaeToFp32($"a component failed to load, trying the VAE in fp32 ({e.Message})");
            return LeaseCore(depthEstimator, ct);
        }
    }

    private IDisposable LeaseCore(bool depthEstimator, CancellationToken ct)
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
    /// SDXL text encoder <paramref name="encoder"/> (1 or 2) on token ids [1,seq]: the penultimate layer's hidden states
    /// [1,seq,hidden] (diffusers' <c>hidden_states[-2]</c>, Optimum's <c>hidden_states.{N-1}</c> of N+1 outputs) and, for
    /// encoder 2, the projected pooled embedding <c>text_embeds</c> [1,pooled] (null for encoder 1).
    /// </summary>
    public (float[] Penultimate, float[]? Pooled) EncodeTextSdxl(int encoder, int[] ids, CancellationToken ct)
    {
        using var lease = Use(encoder == 2 ? _textEncoder2 : _textEncoder, ct);
        var s = lease.Value;
        var input = s.Inputs[0];
        OrtTensor t = input.ElementType == OrtElementType.Int64
            ? OrtTensor.Create(ids.Select(i => (long)i).ToArray(), 1, ids.Length)
            : OrtTensor.Create((int[])ids.Clone(), 1, ids.Length);
        int last = s.Outputs.Max(o => ModelCatalogue.SdxlHiddenLayer(o.Name));
        if (last < 1) throw new InvalidOperationException($"text encoder {encoder} of '{Name}' has no hidden_states.N outputs");
        string penultimate = $"hidden_states.{last - 1}";
        string? pooled = encoder == 2 ? (s.Outputs.FirstOrDefault(o => o.Name == "text_embeds")?.Name
            ?? throw new InvalidOperationException($"text encoder 2 of '{Name}' has no text_embeds output")) : null;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        IReadOnlyDictionary<string, OrtTensor> outputs;
        try { outputs = s.Run(new Dictionary<string, OrtTensor> { [input.Name] = t }, pooled == null ? [penultimate] : [penultimate, pooled], ct); }
        finally { Interlocked.Add(ref _runTicks, System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks); }
        return (outputs[penultimate].ToFloat32().Span.ToArray(), pooled == null ? null : outputs[pooled].ToFloat32().Span.ToArray());
    }

    /// <summary>
    /// One UNet call: <paramref name="sample"/> [batch,C,h,w], one timestep for the whole batch,
    /// encoder_hidden_states [batch,seq,hidden]; returns the noise (or v) prediction [batch,4,h,w].
    /// SDXL UNets also take <paramref name="textEmbeds"/> [batch,pooled] and <paramref name="timeIds"/> [batch,6].
    /// </summary>
    public float[] Unet(float[] sample, int batch, int channels, int h, int w, float timestep, float[] hiddenStates, int seq, CancellationToken ct,
        float[]? textEmbeds = null, float[]? timeIds = null)
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
                case "text_embeds":
                    var te = textEmbeds ?? throw new InvalidOperationException($"UNet of '{Name}' needs text_embeds (SDXL pooled embedding)");
                    inputs[info.Name] = AsType(te, info.ElementType, batch, te.Length / batch);
                    break;
                case "time_ids":
                    var ti = timeIds ?? throw new InvalidOperationException($"UNet of '{Name}' needs time_ids (SDXL size conditioning)");
                    inputs[info.Name] = AsType(ti, info.ElementType, batch, ti.Length / batch);
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
        float[] all;
        string outName;
        bool upcast = _vaeUpcast;
        using (var lease = UseVae(_vaeEncoder, ct))
        {
            var s = lease.Value;
            var input = s.Inputs[0];
            outName = s.Outputs[0].Name;
            var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = AsType(image, input.ElementType, batch, 3, height, width) }, outName, ct);
            all = outputs[outName].ToFloat32().Span.ToArray();
        }
        if (_vaeFp16 && !upcast && !AllFinite(all))
        {
            SwitchVaeToFp32("the fp16 VAE encode gave NaN/inf");
            return EncodeVae(image, batch, height, width, ct);
        }
        ReadOnlySpan<float> data = all;
        if (outName != "latent_parameters") return (all, null);
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
        float[] decoded;
        bool upcast = _vaeUpcast;
        using (var lease = UseVae(_vaeDecoder, ct))
        {
            var s = lease.Value;
            var input = s.Inputs[0];
            var outName = s.Outputs[0].Name;
            var outputs = Run(s, new Dictionary<string, OrtTensor> { [input.Name] = AsType(latents, input.ElementType, batch, 4, h, w) }, outName, ct);
            decoded = outputs[outName].ToFloat32().Span.ToArray();
        }
        if (_vaeFp16 && !upcast && !AllFinite(decoded))
        {
            SwitchVaeToFp32("the fp16 VAE decode gave NaN/inf");
            return DecodeVae(latents, batch, h, w, ct);
        }
        return decoded;
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
