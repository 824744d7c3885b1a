using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>diffusers DPMSolverMultistepScheduler, algorithm dpmsolver++ with the midpoint solver (DPM++ 2M), orders 1–2.</summary>
public sealed class DpmSolverMultistepScheduler : MultistepSigmaScheduler
{
    private readonly string _name;
    private readonly bool _eulerAtFinal;

    public DpmSolverMultistepScheduler(SchedulerConfig config, string name = "dpmpp_2m") : base(config)
    {
        _name = name;
        var algorithm = config.GetString("algorithm_type", "dpmsolver++");
        if (algorithm != "dpmsolver++") throw new NotSupportedException($"algorithm_type '{algorithm}' is not supported (dpmsolver++)");
        var solverType = config.GetString("solver_type", "midpoint");
        if (solverType != "midpoint") throw new NotSupportedException($"solver_type '{solverType}' is not supported (midpoint)");
        _eulerAtFinal = config.GetBool("euler_at_final", false);
        if (!double.IsNegativeInfinity(config.GetDouble("lambda_min_clipped", double.NegativeInfinity)))
            throw new NotSupportedException("lambda_min_clipped is not supported");
    }

    public override string Name => _name;

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (Timesteps.Length == 0) throw new InvalidOperationException("call SetTimesteps first");
        InitIndex(timestep);
        int i = StepIndex!.Value, n = Timesteps.Length;
        bool lowerFinal = i == n - 1 && (_eulerAtFinal || (LowerOrderFinal && n < 15) || FinalSigmasType == "zero");
        bool lowerSecond = i == n - 2 && LowerOrderFinal && n < 15;
        var m0 = PushHistorySlot(sample.Length);
        ConvertToX0(modelOutput, sample, Sigmas![i], m0);

        var (alphaT, sigmaT) = SigmaMath.AlphaSigma(Sigmas[i + 1]);
        var (alphaS0, sigmaS0) = SigmaMath.AlphaSigma(Sigmas[i]);
        float lambdaT = SigmaMath.Lambda(alphaT, sigmaT), lambdaS0 = SigmaMath.Lambda(alphaS0, sigmaS0);
        float h = lambdaT - lambdaS0;
        float c1 = sigmaT / sigmaS0;
        float c2 = alphaT * (MathF.Exp(-h) - 1f);
        if (SolverOrder == 1 || LowerOrderNums < 1 || lowerFinal)
        {
            // x_t = (sigma_t/sigma_s)·x - alpha_t·(e^-h - 1)·D0
            Lanes.AxpBy(c1, sample, -c2, m0, sample);
        }
        else
        {
            _ = lowerSecond; // order 2 is the maximum here, so "lower order second" changes nothing
            var m1 = History[0]!;
            var (alphaS1, sigmaS1) = SigmaMath.AlphaSigma(Sigmas[i - 1]);
            float lambdaS1 = SigmaMath.Lambda(alphaS1, sigmaS1);
            float r0 = (lambdaS0 - lambdaS1) / h;
            float inv = 1f / r0;
            float c3 = 0.5f * c2;
            // midpoint: x_t = c1·x - c2·D0 - 0.5·c2·D1, D1 = (1/r0)(m0 - m1)
            float d = c3 * inv;
            Lanes.AxpBypCz(c1, sample, -c2 - d, m0, d, m1, sample);
        }
        if (LowerOrderNums < SolverOrder) LowerOrderNums++;
        StepIndex = i + 1;
    }
}
