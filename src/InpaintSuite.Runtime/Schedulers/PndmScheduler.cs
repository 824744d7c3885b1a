using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>
/// diffusers PNDMScheduler with skip_prk_steps (PLMS): n+1 timesteps (the second is repeated), linear multistep over
/// up to four past model outputs. The Runge-Kutta warm-up (skip_prk_steps false) is not supported.
/// </summary>
public sealed class PndmScheduler : NoiseScheduler
{
    private readonly float _finalAlphaCumprod;
    private readonly float[]?[] _ets = new float[]?[4];
    private int _etsCount, _counter;
    private float[]? _curSample, _combined;

    public PndmScheduler(SchedulerConfig config) : base(config, TimestepSpacing.Leading)
    {
        if (!config.GetBool("skip_prk_steps", false)) throw new NotSupportedException("PNDM without skip_prk_steps (PRK warm-up) is not supported");
        _finalAlphaCumprod = config.GetBool("set_alpha_to_one", false) ? 1f : AlphasCumprod[0];
    }

    public override string Name => "pndm";
    public override bool IntegerTimesteps => true;
    public override float InitNoiseSigma => 1f;
    public override bool HasBeginIndex => false;

    public override void SetTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 2 || numInferenceSteps > NumTrainTimesteps) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), "PNDM needs at least 2 steps");
        int n = numInferenceSteps, T = NumTrainTimesteps;
        var t = new long[n];
        switch (Spacing)
        {
            case TimestepSpacing.Linspace:
                var l = NpLinspace(0, T - 1, n);
                for (int i = 0; i < n; i++) t[i] = (long)NpRound(l[i]);
                break;
            case TimestepSpacing.Leading:
                int ratio = T / n;
                for (int i = 0; i < n; i++) t[i] = (long)i * ratio + StepsOffset;
                break;
            default:
                double r = (double)T / n;
                for (int i = 0; i < n; i++) t[i] = (long)NpRound(T - (n - 1 - i) * r) - 1;
                break;
        }
        // plms = concat(t[:-1], t[-2:-1], t[-1:]) reversed
        var plms = new List<long>(t.Take(n - 1)) { t[n - 2], t[n - 1] };
        plms.Reverse();
        Timesteps = plms.Select(v => (float)v).ToArray();
        NumInferenceSteps = n;
        ResetTimestepState();
        ResetState();
    }

    public override void ResetState(int? stepIndex = null)
    {
        base.ResetState(stepIndex);
        _etsCount = 0;
        _counter = 0;
    }

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (NumInferenceSteps == 0) throw new InvalidOperationException("call SetTimesteps first");
        int stride = NumTrainTimesteps / NumInferenceSteps;
        int t = CheckedTimestepIndex(timestep);
        int prevT = t - stride;
        int len = sample.Length;
        if (_counter != 1)
        {
            // ets = ets[-3:] + [model_output]; the oldest buffer is recycled
            if (_etsCount == 4)
            {
                var oldest = _ets[0];
                Array.Copy(_ets, 1, _ets, 0, 3);
                _ets[3] = oldest;
                _etsCount = 3;
            }
            var slot = _ets[_etsCount];
            if (slot is null || slot.Length != len) slot = _ets[_etsCount] = new float[len];
            modelOutput.CopyTo(slot);
            _etsCount++;
        }
        else
        {
            prevT = t;
            t += stride;
        }
        var combined = Buffer(ref _combined, len);
        ReadOnlySpan<float> x = sample;
        if (_etsCount == 1 && _counter == 0)
        {
            modelOutput.CopyTo(combined);
            sample.CopyTo(Buffer(ref _curSample, len));
        }
        else if (_etsCount == 1 && _counter == 1)
        {
            var e = _ets[0]!;
            Lanes.AxpBy(0.5f, modelOutput, 0.5f, e, combined);
            x = _curSample!;
        }
        else if (_etsCount == 2)
        {
            var e1 = _ets[1]!; var e2 = _ets[0]!;
            Lanes.AxpBy(1.5f, e1, -0.5f, e2, combined);
        }
        else if (_etsCount == 3)
        {
            var e1 = _ets[2]!; var e2 = _ets[1]!; var e3 = _ets[0]!;
            Lanes.AxpBypCz(23f / 12f, e1, -16f / 12f, e2, 5f / 12f, e3, combined);
        }
        else
        {
            var e1 = _ets[3]!; var e2 = _ets[2]!; var e3 = _ets[1]!; var e4 = _ets[0]!;
            Lanes.AxpBypCz(55f / 24f, e1, -59f / 24f, e2, 37f / 24f, e3, combined);
            Lanes.AxpBy(1f, combined, -9f / 24f, e4, combined);
        }
        PrevSample(x, t, prevT, combined, sample);
        _counter++;
    }

    private void PrevSample(ReadOnlySpan<float> x, int t, int prevT, Span<float> modelOutput, Span<float> destination)
    {
        float aT = AlphasCumprod[t];
        float aPrev = prevT >= 0 ? AlphasCumprod[prevT] : _finalAlphaCumprod;
        float bT = 1f - aT, bPrev = 1f - aPrev;
        if (Prediction == PredictionType.VPrediction)
            Lanes.AxpBy(MathF.Sqrt(aT), modelOutput, MathF.Sqrt(bT), x, modelOutput);
        else if (Prediction == PredictionType.Sample)
            throw new NotSupportedException("PNDM does not support prediction_type 'sample'");
        float sampleCoeff = MathF.Sqrt(aPrev / aT);
        float denom = aT * MathF.Sqrt(bPrev) + MathF.Sqrt(aT * bT * aPrev);
        float diff = aPrev - aT;
        Lanes.AxpBy(sampleCoeff, x, -diff / denom, modelOutput, destination);
    }

    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination) =>
        AddNoiseByAlpha(original, noise, timestep, destination);
}
