using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>diffusers LCMScheduler (latent consistency models): skipping-step timesteps over original_inference_steps, fresh noise every step but the last.</summary>
public sealed class LcmScheduler : NoiseScheduler
{
    private readonly float _finalAlphaCumprod;
    private readonly int _originalSteps;
    private readonly double _timestepScaling;
    private readonly bool _clipSample;
    private readonly float _clipRange;
    private float[]? _pred, _denoised, _noise;

    public LcmScheduler(SchedulerConfig config) : base(config, TimestepSpacing.Leading)
    {
        _finalAlphaCumprod = config.GetBool("set_alpha_to_one", true) ? 1f : AlphasCumprod[0];
        _originalSteps = config.GetInt("original_inference_steps", 50);
        _timestepScaling = config.GetDouble("timestep_scaling", 10.0);
        _clipSample = config.GetBool("clip_sample", false);
        _clipRange = (float)config.GetDouble("clip_sample_range", 1.0);
    }

    public override string Name => "lcm";
    public override bool IntegerTimesteps => true;
    public override float InitNoiseSigma => 1f;
    public override bool IsStochastic => true;
    public override ReadOnlySpan<float> PredictedOriginal => _denoised;

    public override void SetTimesteps(int numInferenceSteps)
    {
        int k = NumTrainTimesteps / _originalSteps;
        if (numInferenceSteps < 1 || numInferenceSteps > _originalSteps)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), $"LCM supports 1..{_originalSteps} steps (original_inference_steps)");
        // lcm_origin_timesteps = [1..original_steps]*k - 1, reversed; pick floor(linspace(0, len, n, endpoint=False))
        var origin = new long[_originalSteps];
        for (int i = 0; i < _originalSteps; i++) origin[i] = (long)(_originalSteps - i) * k - 1;
        var idx = NpLinspace(0, _originalSteps, numInferenceSteps, endpoint: false);
        Timesteps = idx.Select(v => (float)origin[(long)Math.Floor(v)]).ToArray();
        NumInferenceSteps = numInferenceSteps;
        ResetTimestepState();
    }

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (NumInferenceSteps == 0) throw new InvalidOperationException("call SetTimesteps first");
        if (StepIndex is null) InitStepIndex(timestep);
        int i = StepIndex!.Value;
        int t = CheckedTimestepIndex(timestep);
        float prevTimestep = i + 1 < Timesteps.Length ? Timesteps[i + 1] : timestep;
        float aT = AlphasCumprod[t];
        float aPrev = prevTimestep >= 0 ? AlphasCumprod[(int)prevTimestep] : _finalAlphaCumprod;
        float bT = 1f - aT, bPrev = 1f - aPrev;
        // boundary-condition scalings (sigma_data 0.5) on timestep * timestep_scaling, float32 like torch
        float scaled = (float)(t * _timestepScaling);
        float cSkip = 0.25f / (scaled * scaled + 0.25f);
        float cOut = scaled / MathF.Sqrt(scaled * scaled + 0.25f);
        var pred = Buffer(ref _pred, sample.Length);
        float sa = MathF.Sqrt(aT), sb = MathF.Sqrt(bT);
        switch (Prediction)
        {
            case PredictionType.Epsilon:
                Lanes.AxpBy(1f / sa, sample, -sb / sa, modelOutput, pred);
                break;
            case PredictionType.VPrediction:
                Lanes.AxpBy(sa, sample, -sb, modelOutput, pred);
                break;
            default:
                modelOutput.CopyTo(pred);
                break;
        }
        if (_clipSample) Lanes.Clamp(pred, -_clipRange, _clipRange);
        var denoised = Buffer(ref _denoised, sample.Length);
        Lanes.AxpBy(cOut, pred, cSkip, sample, denoised);
        if (i != NumInferenceSteps - 1)
        {
            var z = Buffer(ref _noise, sample.Length);
            RequireNoise(noise, "LCM").NextGaussian(z);
            Lanes.AxpBy(MathF.Sqrt(aPrev), denoised, MathF.Sqrt(bPrev), z, sample);
        }
        else
        {
            denoised.CopyTo(sample);
        }
        StepIndex = i + 1;
    }

    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination) =>
        AddNoiseByAlpha(original, noise, timestep, destination);
}
