using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>Shared parts of Euler and Euler ancestral: float timesteps, sigma table, scale_model_input, add_noise.</summary>
public abstract class EulerFamilyScheduler : NoiseScheduler
{
    private protected float[]? PredBuffer;

    protected EulerFamilyScheduler(SchedulerConfig config) : base(config, TimestepSpacing.Linspace)
    {
        FinalSigmasType = config.GetString("final_sigmas_type", "zero")!;
        UseKarras = config.GetBool("use_karras_sigmas", false);
        // before set_timesteps diffusers' init_noise_sigma is already sigma_max
        SetTimestepsCore(NumTrainTimesteps, allowKarras: false);
        NumInferenceSteps = 0;
    }

    public string FinalSigmasType { get; }
    public bool UseKarras { get; }
    public override bool IntegerTimesteps => false;
    public override ReadOnlySpan<float> PredictedOriginal => PredBuffer;

    public override float InitNoiseSigma
    {
        get
        {
            float max = Sigmas!.Max();
            return Spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing ? max : MathF.Sqrt(max * max + 1f);
        }
    }

    public override void SetTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > NumTrainTimesteps) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps));
        SetTimestepsCore(numInferenceSteps, allowKarras: true);
        ResetTimestepState();
    }

    private void SetTimestepsCore(int n, bool allowKarras)
    {
        NumInferenceSteps = n;
        int T = NumTrainTimesteps;
        var ts = new double[n];
        switch (Spacing)
        {
            case TimestepSpacing.Linspace:
                var l = NpLinspace(0, T - 1, n);
                for (int i = 0; i < n; i++) ts[i] = (float)l[n - 1 - i];
                break;
            case TimestepSpacing.Leading:
                int ratio = T / n;
                for (int i = 0; i < n; i++) ts[i] = (float)((double)(n - 1 - i) * ratio) + StepsOffset;
                break;
            default:
                double r = (double)T / n;
                for (int i = 0; i < n; i++) ts[i] = (float)NpRound(T - i * r) - 1;
                break;
        }
        var train = SigmaMath.TrainSigmas(AlphasCumprod);
        var logSigmas = SigmaMath.Log(train);
        var sig = new double[n];
        for (int i = 0; i < n; i++) sig[i] = SigmaMath.Interp(ts[i], train);
        if (UseKarras && allowKarras)
        {
            sig = SigmaMath.Karras(sig[0], sig[n - 1], n);
            for (int i = 0; i < n; i++) ts[i] = SigmaMath.SigmaToT(sig[i], logSigmas);
        }
        var sigmas = new float[n + 1];
        for (int i = 0; i < n; i++) sigmas[i] = (float)sig[i];
        sigmas[n] = FinalSigmasType switch
        {
            "zero" => 0f,
            "sigma_min" => train[0],
            var f => throw new NotSupportedException($"final_sigmas_type '{f}' is not supported"),
        };
        Sigmas = sigmas;
        Timesteps = ts.Select(t => (float)t).ToArray();
    }

    /// <summary>sample / sqrt(sigma² + 1) with the sigma of the current step.</summary>
    public override void ScaleModelInput(ReadOnlySpan<float> sample, float timestep, Span<float> destination)
    {
        if (StepIndex is null) InitStepIndex(timestep);
        float sigma = Sigmas![StepIndex!.Value];
        TensorPrimitives.Divide(sample, MathF.Sqrt(sigma * sigma + 1f), destination);
    }

    /// <summary>original + noise * sigma, sigma taken at the begin index (img2img) or looked up by timestep.</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination)
    {
        float sigma = Sigmas![NoiseIndex(timestep)];
        Lanes.AxpBy(1f, original, sigma, noise, destination);
    }

    private protected int NoiseIndex(float timestep) =>
        BeginIndex is null ? IndexForTimestep(timestep) : StepIndex ?? BeginIndex.Value;

    /// <summary>x0 prediction for the current sigma into <see cref="PredBuffer"/> (epsilon: x - sigma·eps).</summary>
    private protected void PredictOriginal(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float sigma, Span<float> pred)
    {
        switch (Prediction)
        {
            case PredictionType.Epsilon:
                Lanes.AxpBy(1f, sample, -sigma, modelOutput, pred);
                break;
            case PredictionType.VPrediction:
                float s2 = sigma * sigma + 1f;
                float c = -sigma / MathF.Sqrt(s2);
                for (int i = 0; i < pred.Length; i++) pred[i] = modelOutput[i] * c + sample[i] / s2;
                break;
            default:
                modelOutput.CopyTo(pred);
                break;
        }
    }
}

/// <summary>diffusers EulerDiscreteScheduler (s_churn 0: deterministic; default spacing "linspace").</summary>
public sealed class EulerDiscreteScheduler : EulerFamilyScheduler
{
    public EulerDiscreteScheduler(SchedulerConfig config) : base(config) { }

    public override string Name => UseKarras ? "euler_karras" : "euler";

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (StepIndex is null) InitStepIndex(timestep);
        int i = StepIndex!.Value;
        float sigma = Sigmas![i];
        float sigmaHat = sigma * (0f + 1f);
        float dt = Sigmas[i + 1] - sigmaHat;
        var pred = Buffer(ref PredBuffer, sample.Length);
        if (Prediction == PredictionType.Epsilon) EpsilonStep(modelOutput, sample, pred, sigmaHat, dt);
        else
        {
            PredictOriginal(modelOutput, sample, sigma, pred);
            for (int k = 0; k < sample.Length; k++) sample[k] += (sample[k] - pred[k]) / sigmaHat * dt;
        }
        StepIndex = i + 1;
    }

    /// <summary>pred = x - s·eps; x += (x - pred) / s · dt — the torch op order, vectorised.</summary>
    internal static void EpsilonStep(ReadOnlySpan<float> eps, Span<float> x, Span<float> pred, float s, float dt)
    {
        int n = x.Length, k = 0;
        ref float re = ref MemoryMarshal.GetReference(eps);
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float rp = ref MemoryMarshal.GetReference(pred);
        if (Vector.IsHardwareAccelerated)
        {
            var vs = new Vector<float>(s);
            var vdt = new Vector<float>(dt);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var vx = Vector.LoadUnsafe(ref rx, (nuint)k);
                var vp = vx - vs * Vector.LoadUnsafe(ref re, (nuint)k);
                vp.StoreUnsafe(ref rp, (nuint)k);
                (vx + (vx - vp) / vs * vdt).StoreUnsafe(ref rx, (nuint)k);
            }
        }
        for (; k < n; k++)
        {
            float xv = Unsafe.Add(ref rx, k);
            float p = xv - s * Unsafe.Add(ref re, k);
            Unsafe.Add(ref rp, k) = p;
            Unsafe.Add(ref rx, k) = xv + (xv - p) / s * dt;
        }
    }

    /// <summary>Scalar reference of <see cref="EpsilonStep"/>.</summary>
    internal static void EpsilonStepScalar(ReadOnlySpan<float> eps, Span<float> x, Span<float> pred, float s, float dt)
    {
        for (int k = 0; k < x.Length; k++)
        {
            float p = x[k] - s * eps[k];
            pred[k] = p;
            x[k] = x[k] + (x[k] - p) / s * dt;
        }
    }
}

/// <summary>diffusers EulerAncestralDiscreteScheduler: Euler to sigma_down plus fresh noise times sigma_up every step.</summary>
public sealed class EulerAncestralScheduler : EulerFamilyScheduler
{
    private float[]? _noise;

    public EulerAncestralScheduler(SchedulerConfig config) : base(config) { }

    public override string Name => "euler_ancestral";
    public override bool IsStochastic => true;

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        var source = RequireNoise(noise, "Euler ancestral");
        if (StepIndex is null) InitStepIndex(timestep);
        int i = StepIndex!.Value;
        float sigma = Sigmas![i];
        var pred = Buffer(ref PredBuffer, sample.Length);
        PredictOriginal(modelOutput, sample, sigma, pred);
        float from = sigma, to = Sigmas[i + 1];
        float up = MathF.Sqrt(to * to * (from * from - to * to) / (from * from));
        float down = MathF.Sqrt(MathF.Max(to * to - up * up, 0f));
        float dt = down - sigma;
        // x + (x - pred)/sigma·dt with the coefficients folded
        Lanes.AxpBy(1f + dt / sigma, sample, -dt / sigma, pred, sample);
        var z = Buffer(ref _noise, sample.Length);
        source.NextGaussian(z);
        Lanes.AxpBy(1f, sample, up, z, sample);
        StepIndex = i + 1;
    }
}
