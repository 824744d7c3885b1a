namespace InpaintSuite.Runtime.Schedulers;

/// <summary>numpy parts of diffusers' sigma-based set_timesteps, with numpy's dtypes (float32 tables, float64 math).</summary>
internal static class SigmaMath
{
    /// <summary>((1 - acp) / acp) ** 0.5 as torch float32.</summary>
    public static float[] TrainSigmas(ReadOnlySpan<float> acp)
    {
        var s = new float[acp.Length];
        for (int i = 0; i < s.Length; i++) s[i] = MathF.Sqrt((1f - acp[i]) / acp[i]);
        return s;
    }

    /// <summary>np.log of a float32 array (float32 result).</summary>
    public static float[] Log(float[] x) => x.Select(v => (float)Math.Log(v)).ToArray();

    /// <summary>np.interp(x, arange(len(fp)), fp) in float64.</summary>
    public static double Interp(double x, ReadOnlySpan<float> fp)
    {
        int n = fp.Length;
        if (x <= 0) return fp[0];
        if (x >= n - 1) return fp[n - 1];
        int j = (int)Math.Floor(x);
        if (j == x) return fp[j];
        double slope = ((double)fp[j + 1] - fp[j]) / 1.0;
        return slope * (x - j) + fp[j];
    }

    /// <summary>diffusers _convert_to_karras (rho 7) from in_sigmas[0] (max) and in_sigmas[-1] (min).</summary>
    public static double[] Karras(double sigmaMax, double sigmaMin, int n)
    {
        const double rho = 7.0;
        var ramp = NoiseScheduler.NpLinspace(0, 1, n);
        double minInv = Math.Pow(sigmaMin, 1 / rho), maxInv = Math.Pow(sigmaMax, 1 / rho);
        var r = new double[n];
        for (int i = 0; i < n; i++) r[i] = Math.Pow(maxInv + ramp[i] * (minInv - maxInv), rho);
        return r;
    }

    /// <summary>diffusers _sigma_to_t: fractional training timestep of a sigma by log-linear interpolation.</summary>
    public static double SigmaToT(double sigma, ReadOnlySpan<float> logSigmas)
    {
        double logSigma = Math.Log(Math.Max(sigma, 1e-10));
        // low_idx = last index with log_sigmas[i] <= log_sigma (cumsum(dists >= 0).argmax()), clipped to n-2
        int low = 0, count = 0, best = -1;
        for (int i = 0; i < logSigmas.Length; i++)
        {
            if (logSigma - logSigmas[i] >= 0) count++;
            if (count > best) { best = count; low = i; }
        }
        low = Math.Min(low, logSigmas.Length - 2);
        int high = low + 1;
        double lo = logSigmas[low], hi = logSigmas[high];
        double w = (lo - logSigma) / (lo - hi);
        w = Math.Clamp(w, 0, 1);
        return (1 - w) * low + w * high;
    }

    /// <summary>(alpha_t, sigma_t) = (1/sqrt(sigma²+1), sigma·alpha_t) in float32.</summary>
    public static (float Alpha, float Sigma) AlphaSigma(float sigma)
    {
        float alpha = 1f / MathF.Sqrt(sigma * sigma + 1f);
        return (alpha, sigma * alpha);
    }

    /// <summary>lambda = log(alpha) - log(sigma) in float32 (+inf when sigma is 0).</summary>
    public static float Lambda(float alpha, float sigma) => MathF.Log(alpha) - MathF.Log(sigma);
}
