using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>What the model's output predicts (diffusers <c>prediction_type</c>).</summary>
public enum PredictionType { Epsilon, VPrediction, Sample }

/// <summary>How inference timesteps are spread over the training range (diffusers <c>timestep_spacing</c>).</summary>
public enum TimestepSpacing { Linspace, Leading, Trailing }

/// <summary>
/// A diffusers-compatible noise scheduler. Usage per generation:
/// <code>
/// s.SetTimesteps(steps);                       // or s.SetTimestepsForStrength(steps, strength) for img2img
/// latents *= s.InitNoiseSigma (txt2img / inpaint), or s.AddNoise(original, noise, s.Timesteps[s.BeginIndex], latents)
/// foreach t in s.ActiveTimesteps: s.ScaleModelInput(latents, t, unetInput); unet; s.Step(noisePred, t, latents, noise)
/// </code>
/// All arithmetic is in place on <see cref="Span{T}"/> of float32 (NCHW, any shape); history buffers are allocated on
/// the first step for a given element count and reused, so steps allocate nothing.
/// </summary>
public abstract class NoiseScheduler
{
    private readonly float[] _acp;

    protected NoiseScheduler(SchedulerConfig config, TimestepSpacing defaultSpacing)
    {
        Config = config;
        Train = TrainSchedule.FromConfig(config);
        _acp = Train.AlphasCumprod;
        NumTrainTimesteps = Train.NumTrainTimesteps;
        StepsOffset = config.GetInt("steps_offset", 0);
        Spacing = ParseSpacing(config.GetString("timestep_spacing", null), defaultSpacing);
        Prediction = config.GetString("prediction_type", "epsilon") switch
        {
            "epsilon" => PredictionType.Epsilon,
            "v_prediction" => PredictionType.VPrediction,
            "sample" => PredictionType.Sample,
            var p => throw new NotSupportedException($"prediction_type '{p}' is not supported"),
        };
    }

    /// <summary>The CLI / protocol name: ddim, euler, euler_ancestral, dpmpp_2m, dpmpp_2m_karras, lcm, pndm, unipc, ddpm.</summary>
    public abstract string Name { get; }

    public SchedulerConfig Config { get; }
    public TrainSchedule Train { get; }
    public int NumTrainTimesteps { get; }
    public int StepsOffset { get; }
    public TimestepSpacing Spacing { get; }
    public PredictionType Prediction { get; }

    /// <summary>float32 alphas_cumprod of the training schedule.</summary>
    protected ReadOnlySpan<float> AlphasCumprod => _acp;

    /// <summary>All timesteps from <see cref="SetTimesteps"/> (float32; integral for every scheduler except Euler's fractional linspace).</summary>
    public float[] Timesteps { get; protected set; } = [];

    /// <summary>The sigma schedule (n+1 entries, last the final sigma) for sigma-based schedulers, else null.</summary>
    public float[]? Sigmas { get; protected set; }

    /// <summary>True where diffusers keeps timesteps as int64 (all but Euler / Euler ancestral).</summary>
    public abstract bool IntegerTimesteps { get; }

    /// <summary>Factor for the initial latent noise of txt2img / inpaint (not applied by <see cref="AddNoise"/>).</summary>
    public abstract float InitNoiseSigma { get; }

    /// <summary>diffusers' <c>scheduler.order</c> (1 for every scheduler here).</summary>
    public virtual int Order => 1;

    /// <summary>The requested number of inference steps (PNDM runs one more step than this).</summary>
    public int NumInferenceSteps { get; protected set; }

    /// <summary>Index into <see cref="Timesteps"/> of the next step; null until the first ScaleModelInput/Step.</summary>
    public int? StepIndex { get; protected set; }

    /// <summary>Set by <see cref="SetBeginIndex"/> (img2img start) for schedulers that have it; null otherwise.</summary>
    public int? BeginIndex { get; protected set; }

    /// <summary>Whether diffusers' class has <c>set_begin_index</c> (not DDIM, PNDM, DDPM).</summary>
    public virtual bool HasBeginIndex => true;

    /// <summary>True for schedulers that draw random noise inside <see cref="Step"/> (Euler ancestral, LCM, DDPM).</summary>
    public virtual bool IsStochastic => false;

    /// <summary>The x0 prediction of the last step where the scheduler computes one (diffusers' pred_original_sample / LCM's denoised).</summary>
    public virtual ReadOnlySpan<float> PredictedOriginal => default;

    /// <summary>Timesteps still to run: all of them, or those from the img2img start.</summary>
    public ReadOnlySpan<float> ActiveTimesteps => Timesteps.AsSpan(ActiveStart);

    /// <summary>Index of the first timestep to run (0, or t_start*order after <see cref="SetTimestepsForStrength"/>).</summary>
    public int ActiveStart { get; private set; }

    public abstract void SetTimesteps(int numInferenceSteps);

    /// <summary>
    /// img2img / inpaint start (diffusers' <c>get_timesteps</c>): sets <paramref name="numInferenceSteps"/> timesteps, skips the
    /// first <c>n - min(int(n*strength), n)</c> (times order), sets the begin index where the class has one, and
    /// returns the first timestep to run (the one to pass to <see cref="AddNoise"/>).
    /// </summary>
    public float SetTimestepsForStrength(int numInferenceSteps, double strength)
    {
        if (strength is < 0 or > 1 || double.IsNaN(strength)) throw new ArgumentOutOfRangeException(nameof(strength), "strength must be in [0, 1]");
        SetTimesteps(numInferenceSteps);
        var (_, tStart) = StrengthStart(numInferenceSteps, strength);
        int start = tStart * Order;
        if (start >= Timesteps.Length) throw new ArgumentOutOfRangeException(nameof(strength), "strength leaves no denoising steps");
        ActiveStart = start;
        if (HasBeginIndex) SetBeginIndex(start);
        return Timesteps[start];
    }

    /// <summary>(init_timestep, t_start) exactly as diffusers' img2img/inpaint <c>get_timesteps</c> computes them.</summary>
    public static (int InitTimestep, int TStart) StrengthStart(int numInferenceSteps, double strength)
    {
        int init = Math.Min((int)(numInferenceSteps * strength), numInferenceSteps);
        return (init, Math.Max(numInferenceSteps - init, 0));
    }

    public virtual void SetBeginIndex(int index)
    {
        if (!HasBeginIndex) throw new NotSupportedException($"{Name} has no begin index (diffusers class has no set_begin_index)");
        BeginIndex = index;
    }

    /// <summary>Resets per-run state so the same timesteps can be run again (also used to benchmark one step).</summary>
    public virtual void ResetState(int? stepIndex = null)
    {
        StepIndex = stepIndex;
    }

    /// <summary>Moves to step <paramref name="index"/> keeping solver history (benchmarks time one steady-state step repeatedly).</summary>
    internal void SetStepIndexKeepingHistory(int index) => StepIndex = index;

    /// <summary>
    /// diffusers' integer timesteps for DDIM and DDPM (descending): linspace rounded, leading (ratio * i + offset) or
    /// trailing (np.round(np.arange(T, 0, -T/n)) - 1), as the config's timestep_spacing says.
    /// </summary>
    protected void SetDiscreteTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > NumTrainTimesteps) throw new ArgumentOutOfRangeException(nameof(numInferenceSteps));
        NumInferenceSteps = numInferenceSteps;
        int n = numInferenceSteps, T = NumTrainTimesteps;
        var ts = new float[n];
        switch (Spacing)
        {
            case TimestepSpacing.Linspace:
                var l = NpLinspace(0, T - 1, n);
                for (int i = 0; i < n; i++) ts[i] = (long)NpRound(l[n - 1 - i]);
                break;
            case TimestepSpacing.Leading:
                int ratio = T / n;
                for (int i = 0; i < n; i++) ts[i] = (long)(n - 1 - i) * ratio + StepsOffset;
                break;
            default:
                double r = (double)T / n;
                for (int i = 0; i < n; i++) ts[i] = (long)NpRound(T - i * r) - 1;
                break;
        }
        Timesteps = ts;
        ResetTimestepState();
    }

    protected void ResetTimestepState()
    {
        StepIndex = null;
        BeginIndex = null;
        ActiveStart = 0;
    }

    /// <summary>Scales the denoising input (Euler: x / sqrt(sigma^2+1)); identity for the others. Writes <paramref name="destination"/> (may alias <paramref name="sample"/>).</summary>
    public virtual void ScaleModelInput(ReadOnlySpan<float> sample, float timestep, Span<float> destination)
    {
        if (!sample.Overlaps(destination)) sample.CopyTo(destination);
    }

    /// <summary>
    /// One denoising step: replaces <paramref name="sample"/> (x_t) with x_{t-1} in place. Stochastic schedulers draw
    /// their noise from <paramref name="noise"/> (required for them; see <see cref="IsStochastic"/>).
    /// </summary>
    public abstract void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null);

    /// <summary>Forward diffusion to <paramref name="timestep"/> (img2img start): destination = noisy original.</summary>
    public abstract void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination);

    /// <summary>diffusers' index_for_timestep: the second match if the timestep occurs twice, the first otherwise.</summary>
    protected int IndexForTimestep(float timestep, int notFound = -1)
    {
        int first = -1;
        for (int i = 0; i < Timesteps.Length; i++)
        {
            if (Timesteps[i] != timestep) continue;
            if (first >= 0) return i;
            first = i;
        }
        if (first >= 0) return first;
        if (notFound >= 0) return notFound;
        throw new ArgumentException($"timestep {timestep} is not in the schedule");
    }

    protected void InitStepIndex(float timestep)
    {
        StepIndex = BeginIndex ?? IndexForTimestep(timestep);
    }

    /// <summary>sqrt(acp[t]) * x + sqrt(1 - acp[t]) * noise (DDPM/DDIM/PNDM/LCM add_noise).</summary>
    protected void AddNoiseByAlpha(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, float timestep, Span<float> destination)
    {
        float a = AlphasCumprod[CheckedTimestepIndex(timestep)];
        Lanes.AxpBy(MathF.Sqrt(a), original, MathF.Sqrt(1f - a), noise, destination);
    }

    protected int CheckedTimestepIndex(float timestep)
    {
        int t = (int)timestep;
        if (t < 0 || t >= NumTrainTimesteps || t != timestep) throw new ArgumentOutOfRangeException(nameof(timestep), $"timestep {timestep} is not an integer in [0, {NumTrainTimesteps})");
        return t;
    }

    /// <summary>A float buffer of exactly <paramref name="length"/>, reused across steps (reallocated only when the size changes).</summary>
    protected static float[] Buffer(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length != length) buffer = new float[length];
        return buffer;
    }

    protected static void CheckLengths(ReadOnlySpan<float> modelOutput, Span<float> sample)
    {
        if (modelOutput.Length != sample.Length) throw new ArgumentException($"model output has {modelOutput.Length} values, sample {sample.Length}");
    }

    protected static INoiseSource RequireNoise(INoiseSource? noise, string name) =>
        noise ?? throw new ArgumentNullException(nameof(noise), $"{name} draws noise in every step: pass a noise source (e.g. a seeded GaussianNoise)");

    private static TimestepSpacing ParseSpacing(string? s, TimestepSpacing fallback) => s switch
    {
        null => fallback,
        "linspace" => TimestepSpacing.Linspace,
        "leading" => TimestepSpacing.Leading,
        "trailing" => TimestepSpacing.Trailing,
        _ => throw new NotSupportedException($"timestep_spacing '{s}' is not supported (linspace, leading, trailing)"),
    };

    /// <summary>numpy.linspace(start, stop, num) in float64 (i*step + start, last = stop).</summary>
    internal static double[] NpLinspace(double start, double stop, int num, bool endpoint = true)
    {
        var r = new double[num];
        if (num == 0) return r;
        int div = endpoint ? num - 1 : num;
        double step = div > 0 ? (stop - start) / div : double.NaN;
        for (int i = 0; i < num; i++) r[i] = div > 0 ? i * step + start : start;
        if (endpoint && num > 1) r[num - 1] = stop;
        return r;
    }

    /// <summary>Python/numpy round(): round half to even.</summary>
    internal static double NpRound(double x) => Math.Round(x, MidpointRounding.ToEven);

    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "lcm", "pndm", "unipc", "ddpm"];

    /// <summary>
    /// Builds a scheduler by CLI name from a model's scheduler config (SD1.5's when null), applying the same overrides
    /// as <c>Cls.from_config(config, **overrides)</c> in the reference (DPM++ 2M: dpmsolver++, order 2, Karras on/off;
    /// PNDM: skip_prk_steps).
    /// </summary>
    public static NoiseScheduler Create(string name, SchedulerConfig? config = null)
    {
        config ??= SchedulerConfig.StableDiffusion15;
        return name switch
        {
            "ddim" => new DdimScheduler(config),
            "euler" => new EulerDiscreteScheduler(config),
            "euler_ancestral" => new EulerAncestralScheduler(config),
            "dpmpp_2m" => new DpmSolverMultistepScheduler(config.With([
                KeyValuePair.Create<string, object?>("algorithm_type", "dpmsolver++"),
                KeyValuePair.Create<string, object?>("solver_order", 2),
                KeyValuePair.Create<string, object?>("use_karras_sigmas", false)]), "dpmpp_2m"),
            "dpmpp_2m_karras" => new DpmSolverMultistepScheduler(config.With([
                KeyValuePair.Create<string, object?>("algorithm_type", "dpmsolver++"),
                KeyValuePair.Create<string, object?>("solver_order", 2),
                KeyValuePair.Create<string, object?>("use_karras_sigmas", true)]), "dpmpp_2m_karras"),
            "lcm" => new LcmScheduler(config),
            "pndm" => new PndmScheduler(config.With("skip_prk_steps", true)),
            "unipc" => new UniPcScheduler(config),
            "ddpm" => new DdpmScheduler(config),
            _ => throw new ArgumentException($"unknown scheduler '{name}' (known: {string.Join(", ", Names)})", nameof(name)),
        };
    }
}
