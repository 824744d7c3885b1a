using System.Text.Json;
using InpaintSuite.Runtime.Noise;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests;

/// <summary>
/// DDPM beyond the fixed_small / epsilon reference trace (SchedulerReferenceTests covers that against diffusers):
/// the other variance types, predictions, clip_sample and thresholding against an independent float64 implementation of
/// the formulas in the schedulers README (alphas_cumprod taken from train_schedule.json, not from our TrainSchedule),
/// the spacings and the t = 0 rule, and zero allocations per step.
/// </summary>
public class DdpmSchedulerTests
{
    private const double Tol = 1e-5;
    private static string Dir => Path.Combine(TestPaths.DiffusersReference, "schedulers");

    private static readonly Lazy<double[]> RefAcp = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "train_schedule.json")));
        return doc.RootElement.GetProperty("alphas_cumprod").EnumerateArray().Select(v => (double)v.GetSingle()).ToArray();
    });

    private static SchedulerConfig Config(params (string Key, object? Value)[] overrides) =>
        SchedulerConfig.StableDiffusion15.With(overrides.Select(o => KeyValuePair.Create(o.Key, o.Value)));

    /// <summary>
    /// README "One step at timestep t", in float64, with diffusers' other branches: x0 from v (sqrt(ab)·x - sqrt(1-ab)·v)
    /// or the output itself, clip to ±range, dynamic thresholding, fixed_large variance = b_t.
    /// </summary>
    private static double[] ReferenceStep(double[] x, double[] output, int t, int prev, string prediction, string variance,
        bool clip, bool threshold, double[] z, out double[] x0)
    {
        var acp = RefAcp.Value;
        double abT = acp[t], abP = prev >= 0 ? acp[prev] : 1.0;
        double aT = abT / abP, bT = 1 - aT;
        int n = x.Length;
        x0 = new double[n];
        for (int i = 0; i < n; i++)
            x0[i] = prediction switch
            {
                "epsilon" => (x[i] - Math.Sqrt(1 - abT) * output[i]) / Math.Sqrt(abT),
                "v_prediction" => Math.Sqrt(abT) * x[i] - Math.Sqrt(1 - abT) * output[i],
                _ => output[i],
            };
        if (threshold)
        {
            var sorted = x0.Select(Math.Abs).OrderBy(v => v).ToArray();
            double rank = 0.995 * (n - 1);
            int lo = (int)Math.Floor(rank);
            double q = sorted[lo] + (rank - lo) * (sorted[Math.Min(lo + 1, n - 1)] - sorted[lo]);
            double s = Math.Min(Math.Max(q, 1), 1.0);
            for (int i = 0; i < n; i++) x0[i] = Math.Clamp(x0[i], -s, s) / s;
        }
        else if (clip)
        {
            for (int i = 0; i < n; i++) x0[i] = Math.Clamp(x0[i], -1, 1);
        }
        double var = variance == "fixed_large" ? bT : Math.Max((1 - abP) / (1 - abT) * bT, 1e-20);
        var r = new double[n];
        for (int i = 0; i < n; i++)
        {
            double mean = Math.Sqrt(abP) * bT / (1 - abT) * x0[i] + Math.Sqrt(aT) * (1 - abP) / (1 - abT) * x[i];
            r[i] = t > 0 ? mean + Math.Sqrt(var) * z[i] : mean;
        }
        return r;
    }

    private static float[] Gauss(ulong seed, int n, float scale = 1f)
    {
        var a = new float[n];
        new GaussianNoise(seed).NextGaussian(a);
        for (int i = 0; i < n; i++) a[i] *= scale;
        return a;
    }

    private static void AssertClose(double[] expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - actual[i]);
            Assert.True(d <= Tol || d <= Tol * Math.Abs(expected[i]), $"{where}[{i}]: {actual[i]:R} vs {expected[i]:R} (diff {d:E2})");
        }
    }

    [Theory]
    [InlineData("epsilon", "fixed_small", false, false)]
    [InlineData("epsilon", "fixed_large", false, false)]
    [InlineData("v_prediction", "fixed_small", false, false)]
    [InlineData("v_prediction", "fixed_large", false, false)]
    [InlineData("sample", "fixed_small", false, false)]
    [InlineData("epsilon", "fixed_small", true, false)]
    [InlineData("sample", "fixed_large", true, false)]
    [InlineData("epsilon", "fixed_small", false, true)]
    [InlineData("v_prediction", "fixed_large", true, true)]
    [InlineData("epsilon", "fixed_small_log", false, false)]
    public void Whole_trace_follows_the_readme_formulas(string prediction, string variance, bool clip, bool threshold)
    {
        var s = new DdpmScheduler(Config(("prediction_type", prediction), ("variance_type", variance), ("clip_sample", clip), ("thresholding", threshold)));
        Assert.Equal("ddpm", s.Name);
        s.SetTimesteps(10);
        Assert.Equal([901f, 801f, 701f, 601f, 501f, 401f, 301f, 201f, 101f, 1f], s.Timesteps);
        // 3 x 5 x 7: an odd, non-square latent; values large enough that clipping and thresholding bite
        const int n = 3 * 5 * 7;
        var sample = Gauss(1, n, 1.5f);
        var x = sample.Select(v => (double)v).ToArray();
        for (int i = 0; i < s.Timesteps.Length; i++)
        {
            int t = (int)s.Timesteps[i];
            int prev = i + 1 < s.Timesteps.Length ? (int)s.Timesteps[i + 1] : -1;
            Assert.Equal(prev, s.PreviousTimestep(t));
            var output = Gauss(100 + (ulong)i, n);
            var z = Gauss(500 + (ulong)i, n);
            // the reference continues from our float32 sample so float32 rounding does not accumulate over 10 steps
            var expected = ReferenceStep(sample.Select(v => (double)v).ToArray(), output.Select(v => (double)v).ToArray(), t, prev,
                prediction, variance, clip, threshold, z.Select(v => (double)v).ToArray(), out var x0);
            var noise = new QueuedNoise([z]);
            s.Step(output, t, sample, noise);
            Assert.Equal(0, noise.Remaining);
            string where = $"{prediction}/{variance}/clip={clip}/threshold={threshold} step {i} t={t}";
            AssertClose(x0, s.PredictedOriginal, where + " x0");
            AssertClose(expected, sample, where + " prev_sample");
            if (clip || threshold) Assert.True(s.PredictedOriginal.ToArray().All(v => Math.Abs(v) <= 1f), where + ": x0 outside [-1, 1]");
        }
    }

    [Fact]
    public void Clip_sample_defaults_on_as_in_the_diffusers_class_and_the_sd_config_turns_it_off()
    {
        var noClip = SchedulerConfig.Parse("""{"num_train_timesteps":1000,"beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012}""");
        Assert.True(new DdpmScheduler(noClip).ClipSample);
        Assert.False(new DdpmScheduler(SchedulerConfig.StableDiffusion15).ClipSample);
        Assert.Equal(DdpmVarianceType.FixedSmall, new DdpmScheduler(SchedulerConfig.StableDiffusion15).Variance);
        Assert.Throws<NotSupportedException>(() => new DdpmScheduler(Config(("variance_type", "learned_range"))));
    }

    [Theory]
    [InlineData("leading", 1, 4, new float[] { 751, 501, 251, 1 })]
    [InlineData("leading", 0, 4, new float[] { 750, 500, 250, 0 })]
    [InlineData("linspace", 1, 4, new float[] { 999, 666, 333, 0 })]
    [InlineData("trailing", 1, 4, new float[] { 999, 749, 499, 249 })]
    [InlineData("linspace", 0, 7, new float[] { 999, 832, 666, 500, 333, 166, 0 })]
    public void Spacing_and_offset_come_from_the_config_and_t0_draws_nothing(string spacing, int offset, int n, float[] expected)
    {
        var s = NoiseScheduler.Create("ddpm", Config(("timestep_spacing", spacing), ("steps_offset", offset)));
        s.SetTimesteps(n);
        Assert.Equal(expected, s.Timesteps);
        const int len = 2 * 3 * 5;
        var sample = Gauss(3, len);
        int drawn = 0;
        foreach (float t in s.Timesteps)
        {
            var counting = new CountingNoise();
            s.Step(Gauss(4, len), t, sample, counting);
            Assert.Equal(t > 0 ? 1 : 0, counting.Calls);
            drawn += counting.Calls;
        }
        Assert.Equal(expected.Count(t => t > 0), drawn);
        Assert.All(sample, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Img2img_start_keeps_the_full_schedule_for_the_previous_timestep()
    {
        var s = NoiseScheduler.Create("ddpm");
        float first = s.SetTimestepsForStrength(20, 0.75);
        Assert.Equal(701f, first);
        Assert.Null(s.BeginIndex);
        Assert.Equal(15, s.ActiveTimesteps.Length);
        Assert.Equal(651, ((DdpmScheduler)s).PreviousTimestep(701));
        Assert.Equal(-1, ((DdpmScheduler)s).PreviousTimestep(1));
        Assert.Throws<ArgumentException>(() => s.Step(new float[8], 700, new float[8], new GaussianNoise(1)));
        Assert.Throws<ArgumentNullException>(() => s.Step(new float[8], 701, new float[8], null));
    }

    [Theory]
    [InlineData("ddpm")]
    [InlineData("ddim")]
    [InlineData("euler")]
    [InlineData("euler_ancestral")]
    [InlineData("dpmpp_2m")]
    [InlineData("lcm")]
    [InlineData("pndm")]
    [InlineData("unipc")]
    public void Steps_allocate_nothing(string name)
    {
        // DDPM also with thresholding (its sort buffer) and v-prediction
        var configs = name == "ddpm"
            ? new[] { SchedulerConfig.StableDiffusion15, Config(("thresholding", true), ("prediction_type", "v_prediction")) }
            : [SchedulerConfig.StableDiffusion15];
        foreach (var cfg in configs)
        {
            var s = NoiseScheduler.Create(name, cfg);
            s.SetTimesteps(12);
            const int len = 4 * 9 * 13;
            var sample = Gauss(1, len);
            var output = Gauss(2, len);
            var scaled = new float[len];
            var noise = new GaussianNoise(9);
            var ts = s.Timesteps;
            // a first run allocates the reused buffers (multistep histories fill over the first steps); a second run of
            // the same schedule, as every further generation of that size, allocates nothing
            for (int run = 0; run < 2; run++)
            {
                s.ResetState();
                long before = GC.GetAllocatedBytesForCurrentThread();
                foreach (float t in ts)
                {
                    s.ScaleModelInput(sample, t, scaled);
                    s.Step(output, t, sample, noise);
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (run == 1) Assert.True(allocated == 0, $"{name}: {allocated} bytes allocated over {ts.Length} steps");
            }
        }
    }

    private sealed class CountingNoise : INoiseSource
    {
        public int Calls;
        public void NextGaussian(Span<float> destination)
        {
            Calls++;
            new GaussianNoise((ulong)Calls).NextGaussian(destination);
        }
    }
}
