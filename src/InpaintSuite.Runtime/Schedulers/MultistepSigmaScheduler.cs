namespace InpaintSuite.Runtime.Schedulers;

/// <summary>
/// Shared parts of DPM-Solver++ and UniPC: integer timesteps over n+1 points (last dropped), sigma table with a
/// final sigma, optional Karras sigmas, x0 conversion, alpha/sigma add_noise, identity scale_model_input.
/// </summary>
public abstract class MultistepSigmaScheduler : NoiseScheduler
{
    private protected float[]?[] History = new float[]?[2];
    private protected int LowerOrderNums;

    protected MultistepSigmaScheduler(SchedulerConfig config) : base(config, TimestepSpacing.Linspace)
    {
        SolverOrder = config.GetInt("solver_order", 2);
        if (SolverOrder is < 1 or > 2) throw new NotSupportedException($"solver_order {SolverOrder} is not supported (1 or 2)");
        UseKarras = config.GetBool("use_karras_sigmas", false);
        LowerOrderFinal = config.GetBool("lower_order_final", true);
        FinalSigmasType = config.GetString("final_sigmas_type", "zero")!;
        if (config.GetBool("thresholding", false)) throw new NotSupportedException("thresholding is not supported");
    }

    public int SolverOrder { get; }
    public bool UseKarras { get; }
    public bool LowerOrderFinal { get; }
    public string FinalSigmasType { get; }
    public override bool IntegerTimesteps => true;
    public override float InitNoiseSigma => 1f;

    /// <summary>Upper end of the timestep range (DPM-Solver clips by lambda_min_clipped; UniPC uses all).</summary>
    private protected virtual int LastTimestep => NumTrainTimesteps;

    public override void SetTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > NumTrainTimesteps) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps));
        int n = numInferenceSteps, T = NumTrainTimesteps, last = LastTimestep;
        var ts = new double[n];
        switch (Spacing)
        {
            case TimestepSpacing.Linspace:
                var l = NpLinspace(0, last - 1, n + 1);
                for (int i = 0; i < n; i++) ts[i] = (long)NpRound(l[n - i]);
                break;
            case TimestepSpacing.Leading:
                int ratio = last / (n + 1);
                for (int i = 0; i < n; i++) ts[i] = (long)(n - i) * ratio + StepsOffset;
                break;
            default:
                double r = (double)T / n;
                for (int i = 0; i < n; i++) ts[i] = (long)NpRound(last - i * r) - 1;
                break;
        }
        var train = SigmaMath.TrainSigmas(AlphasCumprod);
        var sig = new double[n];
        if (UseKarras)
        {
            var logSigmas = SigmaMath.Log(train);
            sig = SigmaMath.Karras(train[T - 1], train[0], n);
            for (int i = 0; i < n; i++) ts[i] = NpRound(SigmaMath.SigmaToT(sig[i], logSigmas));
        }
        else
        {
            for (int i = 0; i < n; i++) sig[i] = SigmaMath.Interp(ts[i], train);
        }
        var sigmas = new float[n + 1];
        for (int i = 0; i < n; i++) sigmas[i] = (float)sig[i];
        sigmas[n] = FinalSigmasType switch
        {
            "zero" => 0f,
            "sigma_min" => UseKarras ? (float)sig[n - 1] : train[0],
            var f => throw new NotSupportedException($"final_sigmas_type '{f}' is not supported"),
        };
        Sigmas = sigmas;
        Timesteps = ts.Select(t => (float)t).ToArray();
        NumInferenceSteps = n;
        ResetTimestepState();
        ResetState();
    }

    public override void ResetState(int? stepIndex = null)
    {
        base.ResetState(stepIndex);
        LowerOrderNums = 0;
        ResetHistory();
    }

    private protected virtual void ResetHistory() { }

    /// <summary>alpha_t·x + sigma_t·noise with sigma at the begin index (img2img) or looked up by timestep.</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination)
    {
        int index = BeginIndex is null ? IndexForTimestep(timestep, Timesteps.Length - 1) : StepIndex ?? BeginIndex.Value;
        var (alpha, sigma) = SigmaMath.AlphaSigma(Sigmas![index]);
        Lanes.AxpBy(alpha, original, sigma, noise, destination);
    }

    private protected void InitIndex(float timestep)
    {
        if (StepIndex is null) StepIndex = BeginIndex ?? IndexForTimestep(timestep, Timesteps.Length - 1);
    }

    /// <summary>diffusers convert_model_output for x0-predicting solvers (dpmsolver++ / UniPC predict_x0).</summary>
    private protected void ConvertToX0(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float sigma, Span<float> x0)
    {
        var (alpha, sigmaT) = SigmaMath.AlphaSigma(sigma);
        switch (Prediction)
        {
            case PredictionType.Epsilon:
                Lanes.AxpBy(1f / alpha, sample, -sigmaT / alpha, modelOutput, x0);
                break;
            case PredictionType.VPrediction:
                Lanes.AxpBy(alpha, sample, -sigmaT, modelOutput, x0);
                break;
            default:
                modelOutput.CopyTo(x0);
                break;
        }
    }

    /// <summary>Takes the oldest history slot for the newest x0 and shifts the ring (model_outputs[:-1] = model_outputs[1:]).</summary>
    private protected float[] PushHistorySlot(int length)
    {
        var slot = History[0];
        if (slot is null || slot.Length != length) slot = new float[length];
        History[0] = History[1];
        History[1] = slot;
        return slot;
    }
}
