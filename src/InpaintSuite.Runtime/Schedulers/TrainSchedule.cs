namespace InpaintSuite.Runtime.Schedulers;

/// <summary>
/// The training noise schedule shared by every scheduler: <c>betas</c> and <c>alphas_cumprod</c> as float32,
/// computed bit-for-bit like diffusers on torch's CPU kernels (see <see cref="TorchLinspace"/>).
/// </summary>
public sealed class TrainSchedule
{
    public float[] Betas { get; }
    public float[] AlphasCumprod { get; }
    public int NumTrainTimesteps => Betas.Length;

    private TrainSchedule(float[] betas, float[] alphasCumprod)
    {
        Betas = betas;
        AlphasCumprod = alphasCumprod;
    }

    public static TrainSchedule FromConfig(SchedulerConfig c)
    {
        int n = c.GetInt("num_train_timesteps", 1000);
        if (n < 2) throw new FormatException("num_train_timesteps must be at least 2");
        double start = c.GetDouble("beta_start", 0.0001), end = c.GetDouble("beta_end", 0.02);
        string schedule = c.GetString("beta_schedule", "linear")!;
        float[] betas;
        if (c.GetDoubleArray("trained_betas") is { } trained)
        {
            betas = trained.Select(b => (float)b).ToArray();
        }
        else
        {
            switch (schedule)
            {
                case "linear":
                    betas = TorchLinspace((float)start, (float)end, n);
                    break;
                case "scaled_linear":
                    // torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=float32) ** 2
                    betas = TorchLinspace((float)Math.Sqrt(start), (float)Math.Sqrt(end), n);
                    for (int i = 0; i < n; i++) betas[i] *= betas[i];
                    break;
                case "squaredcos_cap_v2":
                    betas = new float[n];
                    for (int i = 0; i < n; i++)
                    {
                        double t1 = (double)i / n, t2 = (double)(i + 1) / n;
                        betas[i] = (float)Math.Min(1 - AlphaBarCosine(t2) / AlphaBarCosine(t1), 0.999);
                    }
                    break;
                default:
                    throw new NotSupportedException($"beta_schedule '{schedule}' is not supported (linear, scaled_linear, squaredcos_cap_v2)");
            }
        }
        if (c.GetBool("rescale_betas_zero_snr", false)) betas = RescaleZeroTerminalSnr(betas);
        var acp = new float[betas.Length];
        // torch.cumprod on CPU accumulates float32 inputs in double and rounds each output.
        double acc = 1.0;
        for (int i = 0; i < betas.Length; i++)
        {
            acc *= 1f - betas[i];
            acp[i] = (float)acc;
        }
        return new TrainSchedule(betas, acp);
    }

    private static double AlphaBarCosine(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);

    private static float[] RescaleZeroTerminalSnr(float[] betas)
    {
        int n = betas.Length;
        var sq = new double[n];
        double acc = 1;
        for (int i = 0; i < n; i++) { acc *= 1 - betas[i]; sq[i] = Math.Sqrt(acc); }
        double a0 = sq[0], aT = sq[n - 1];
        for (int i = 0; i < n; i++) sq[i] = (sq[i] - aT) * (a0 / (a0 - aT));
        var outBetas = new float[n];
        outBetas[0] = (float)(1 - sq[0] * sq[0]);
        for (int i = 1; i < n; i++) outBetas[i] = (float)(1 - (sq[i] * sq[i]) / (sq[i - 1] * sq[i - 1]));
        return outBetas;
    }

    /// <summary>
    /// torch.linspace(start, end, n, dtype=float32) as its CPU kernel computes it: blocks of 8 lanes
    /// (base = start + step*i from the front half, end - step*(n-1-i) from the back half, lanes base + j*step,
    /// compiled with fused multiply-add), and the tail after the last pair of blocks element by element.
    /// Verified bit-exact against the SD1.5 betas in the diffusers reference.
    /// </summary>
    public static float[] TorchLinspace(float start, float end, int n)
    {
        var r = new float[n];
        if (n == 1) { r[0] = start; return r; }
        float step = (end - start) / (n - 1);
        int halfway = n / 2;
        const int lanes = 8;
        int vecEnd = n / (2 * lanes) * (2 * lanes);
        for (int b = 0; b < vecEnd; b += lanes)
        {
            float baseValue = b < halfway ? MathF.FusedMultiplyAdd(step, b, start) : MathF.FusedMultiplyAdd(-step, n - b - 1, end);
            for (int j = 0; j < lanes; j++) r[b + j] = MathF.FusedMultiplyAdd(j, step, baseValue);
        }
        for (int i = vecEnd; i < n; i++)
            r[i] = i < halfway ? MathF.FusedMultiplyAdd(step, i, start) : MathF.FusedMultiplyAdd(-step, n - i - 1, end);
        return r;
    }
}
