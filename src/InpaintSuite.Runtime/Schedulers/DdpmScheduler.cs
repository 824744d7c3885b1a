using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>diffusers DDPMScheduler's <c>variance_type</c> values this runtime can run (the learned ones need a 2x-channel UNet).</summary>
public enum DdpmVarianceType { FixedSmall, FixedSmallLog, FixedLarge }

/// <summary>
/// diffusers DDPMScheduler (Ho et al. 2020, the ancestral sampler): default spacing "leading", posterior mean of the
/// interval between a timestep and the next one in the schedule (looked up by value, -1 after the last), plus fresh
/// noise whenever t &gt; 0. fixed_small: posterior variance (clamped to 1e-20); fixed_large: the interval's beta.
/// Arithmetic in float32 in torch's operation order; buffers reused, so steps allocate nothing.
/// </summary>
public sealed class DdpmScheduler : NoiseScheduler
{
    private readonly bool _clipSample;
    private readonly float _clipRange;
    private readonly bool _thresholding;
    private readonly double _thresholdRatio;
    private readonly float _sampleMaxValue;
    private float[]? _pred, _noise, _sorted;

    public DdpmScheduler(SchedulerConfig config) : base(config, TimestepSpacing.Leading)
    {
        Variance = config.GetString("variance_type", "fixed_small") switch
        {
            "fixed_small" => DdpmVarianceType.FixedSmall,
            "fixed_small_log" => DdpmVarianceType.FixedSmallLog,
            "fixed_large" => DdpmVarianceType.FixedLarge,
            var v => throw new NotSupportedException($"DDPM variance_type '{v}' is not supported (fixed_small, fixed_small_log, fixed_large)"),
        };
        // DDPMScheduler's own default is clip_sample=True; SD configs set it false.
        _clipSample = config.GetBool("clip_sample", true);
        _clipRange = (float)config.GetDouble("clip_sample_range", 1.0);
        _thresholding = config.GetBool("thresholding", false);
        _thresholdRatio = config.GetDouble("dynamic_thresholding_ratio", 0.995);
        _sampleMaxValue = (float)config.GetDouble("sample_max_value", 1.0);
        if (_thresholdRatio is < 0 or > 1) throw new FormatException("dynamic_thresholding_ratio must be in [0, 1]");
    }

    public override string Name => "ddpm";
    public override bool IntegerTimesteps => true;
    public override float InitNoiseSigma => 1f;
    public override bool HasBeginIndex => false;
    public override bool IsStochastic => true;
    public override ReadOnlySpan<float> PredictedOriginal => _pred;

    public DdpmVarianceType Variance { get; }
    public bool ClipSample => _clipSample;
    public bool Thresholding => _thresholding;

    public override void SetTimesteps(int numInferenceSteps) => SetDiscreteTimesteps(numInferenceSteps);

    /// <summary>diffusers' previous_timestep: the entry after the first occurrence of <paramref name="timestep"/>, -1 after the last.</summary>
    public int PreviousTimestep(float timestep)
    {
        int i = Array.IndexOf(Timesteps, timestep);
        if (i < 0) throw new ArgumentException($"timestep {timestep} is not in the schedule");
        return i == Timesteps.Length - 1 ? -1 : (int)Timesteps[i + 1];
    }

    /// <summary>The standard deviation of the noise added at <paramref name="timestep"/> (0 at t = 0, where nothing is drawn).</summary>
    public float NoiseStd(float timestep)
    {
        int t = CheckedTimestepIndex(timestep);
        if (t == 0) return 0f;
        var (_, _, _, _, std) = Coefficients(t, PreviousTimestep(timestep));
        return std;
    }

    private (float AbT, float AbPrev, float X0Coef, float XCoef, float Std) Coefficients(int t, int prev)
    {
        float abT = AlphasCumprod[t];
        float abP = prev >= 0 ? AlphasCumprod[prev] : 1f;
        float betaProdT = 1f - abT, betaProdPrev = 1f - abP;
        float alphaT = abT / abP, betaT = 1f - alphaT;
        float x0Coef = MathF.Sqrt(abP) * betaT / betaProdT;
        float xCoef = MathF.Sqrt(alphaT) * betaProdPrev / betaProdT;
        float std = Variance switch
        {
            // fixed_small and fixed_small_log (exp(0.5·log v)) are the same std; fixed_large uses beta unclamped, like diffusers
            DdpmVarianceType.FixedLarge => MathF.Sqrt(betaT),
            DdpmVarianceType.FixedSmallLog => MathF.Exp(0.5f * MathF.Log(MathF.Max(betaProdPrev / betaProdT * betaT, 1e-20f))),
            _ => MathF.Sqrt(MathF.Max(betaProdPrev / betaProdT * betaT, 1e-20f)),
        };
        return (abT, abP, x0Coef, xCoef, std);
    }

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (NumInferenceSteps == 0) throw new InvalidOperationException("call SetTimesteps first");
        int t = CheckedTimestepIndex(timestep);
        var (abT, _, x0Coef, xCoef, std) = Coefficients(t, PreviousTimestep(timestep));
        float sa = MathF.Sqrt(abT), sb = MathF.Sqrt(1f - abT);
        var pred = Buffer(ref _pred, sample.Length);
        switch (Prediction)
        {
            case PredictionType.Epsilon:
                // (x - sqrt(1-ab)·eps) / sqrt(ab)
                Lanes.AxpBy(1f, sample, -sb, modelOutput, pred);
                Lanes.Scale(pred, 1f / sa, pred);
                break;
            case PredictionType.VPrediction:
                Lanes.AxpBy(sa, sample, -sb, modelOutput, pred);
                break;
            default:
                modelOutput.CopyTo(pred);
                break;
        }
        if (_thresholding) Threshold(pred);
        else if (_clipSample) Lanes.Clamp(pred, -_clipRange, _clipRange);
        if (t > 0)
        {
            var z = Buffer(ref _noise, sample.Length);
            RequireNoise(noise, "DDPM").NextGaussian(z);
            Lanes.AxpBypCz(x0Coef, pred, xCoef, sample, std, z, sample);
        }
        else
        {
            Lanes.AxpBy(x0Coef, pred, xCoef, sample, sample);
        }
    }

    /// <summary>
    /// Dynamic thresholding (Imagen; diffusers _threshold_sample) over the whole span, which is one image's latents here:
    /// s = clamp(quantile(|x0|, ratio), 1, sample_max_value), x0 = clamp(x0, -s, s) / s. The quantile interpolates
    /// linearly between sorted values like torch.quantile.
    /// </summary>
    private void Threshold(Span<float> pred)
    {
        var sorted = Buffer(ref _sorted, pred.Length);
        for (int i = 0; i < pred.Length; i++) sorted[i] = MathF.Abs(pred[i]);
        Array.Sort(sorted);
        // torch.clamp(min=1, max=sample_max_value): max wins when it is below 1
        float s = MathF.Min(MathF.Max(Quantile(sorted, _thresholdRatio), 1f), _sampleMaxValue);
        for (int i = 0; i < pred.Length; i++) pred[i] = Math.Clamp(pred[i], -s, s) / s;
    }

    /// <summary>torch.quantile (linear) of ascending <paramref name="sorted"/>.</summary>
    internal static float Quantile(ReadOnlySpan<float> sorted, double q)
    {
        double rank = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = Math.Min(lo + 1, sorted.Length - 1);
        float w = (float)(rank - lo);
        return sorted[lo] + w * (sorted[hi] - sorted[lo]);
    }

    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination) =>
        AddNoiseByAlpha(original, noise, timestep, destination);
}
