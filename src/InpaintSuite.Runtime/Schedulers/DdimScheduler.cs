using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>diffusers DDIMScheduler (default spacing "leading"; eta 0 unless <see cref="Eta"/> is set).</summary>
public sealed class DdimScheduler : NoiseScheduler
{
    private readonly float _finalAlphaCumprod;
    private readonly bool _clipSample;
    private readonly float _clipRange;
    private float[]? _pred, _eps, _noise;

    public DdimScheduler(SchedulerConfig config) : base(config, TimestepSpacing.Leading)
    {
        _finalAlphaCumprod = config.GetBool("set_alpha_to_one", true) ? 1f : AlphasCumprod[0];
        _clipSample = config.GetBool("clip_sample", true);
        _clipRange = (float)config.GetDouble("clip_sample_range", 1.0);
    }

    public override string Name => "ddim";
    public override bool IntegerTimesteps => true;
    public override float InitNoiseSigma => 1f;
    public override bool HasBeginIndex => false;
    public override bool IsStochastic => Eta > 0;
    public override ReadOnlySpan<float> PredictedOriginal => _pred;

    /// <summary>DDIM's eta (0 = deterministic DDIM, 1 = DDPM-like); needs a noise source when &gt; 0.</summary>
    public float Eta { get; set; }

    public override void SetTimesteps(int numInferenceSteps) => SetDiscreteTimesteps(numInferenceSteps);

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (NumInferenceSteps == 0) throw new InvalidOperationException("call SetTimesteps first");
        int t = CheckedTimestepIndex(timestep);
        int prevT = t - NumTrainTimesteps / NumInferenceSteps;
        float aT = AlphasCumprod[t];
        float aPrev = prevT >= 0 ? AlphasCumprod[prevT] : _finalAlphaCumprod;
        float bT = 1f - aT;
        float sa = MathF.Sqrt(aT), sb = MathF.Sqrt(bT);
        var pred = Buffer(ref _pred, sample.Length);
        ReadOnlySpan<float> eps = modelOutput;
        switch (Prediction)
        {
            case PredictionType.Epsilon:
                Lanes.AxpBy(1f / sa, sample, -sb / sa, modelOutput, pred);
                break;
            case PredictionType.Sample:
                modelOutput.CopyTo(pred);
                var e1 = Buffer(ref _eps, sample.Length);
                for (int i = 0; i < e1.Length; i++) e1[i] = (sample[i] - sa * pred[i]) / sb;
                eps = e1;
                break;
            default:
                var e2 = Buffer(ref _eps, sample.Length);
                Lanes.AxpBy(sa, sample, -sb, modelOutput, pred);
                Lanes.AxpBy(sa, modelOutput, sb, sample, e2);
                eps = e2;
                break;
        }
        if (_clipSample) Lanes.Clamp(pred, -_clipRange, _clipRange);
        float variance = (1f - aPrev) / bT * (1f - aT / aPrev);
        float std = Eta * MathF.Sqrt(variance);
        float dirCoef = MathF.Sqrt(1f - aPrev - std * std);
        Lanes.AxpBy(MathF.Sqrt(aPrev), pred, dirCoef, eps, sample);
        if (Eta > 0)
        {
            var z = Buffer(ref _noise, sample.Length);
            RequireNoise(noise, "DDIM with eta > 0").NextGaussian(z);
            Lanes.AxpBy(1f, sample, std, z, sample);
        }
    }

    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination) =>
        AddNoiseByAlpha(original, noise, timestep, destination);
}
