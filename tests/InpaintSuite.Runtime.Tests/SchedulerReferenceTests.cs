using System.Text.Json;
using InpaintSuite.Runtime.Noise;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Runtime.Tests;

/// <summary>
/// Every scheduler against diffusers' own traces (schedulers/*.json in the diffusers reference folder, or
/// INPAINTSUITE_DIFFUSERS_REFERENCE_DIR): timesteps exactly, sigmas / init_noise_sigma / every step's arrays within
/// 1e-5 absolute or relative, for every run the files hold (4 and 20 steps here) and the img2img start.
/// </summary>
public class SchedulerReferenceTests(ITestOutputHelper output)
{
    private const double Tol = 1e-5;

    private static string Dir => Path.Combine(TestPaths.DiffusersReference, "schedulers");

    /// <summary>
    /// The schedulers with a trace: every index.json entry, plus a runtime scheduler whose &lt;name&gt;.json sits in the
    /// folder without an index entry (ddpm.json was added after index.json was written).
    /// </summary>
    private static List<string> NameList() => TraceFiles().Keys.ToList();

    private static Dictionary<string, string> TraceFiles()
    {
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "index.json")));
        var files = index.RootElement.GetProperty("schedulers").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetProperty("file").GetString()!);
        foreach (var n in NoiseScheduler.Names)
            if (!files.ContainsKey(n) && File.Exists(Path.Combine(Dir, n + ".json"))) files[n] = n + ".json";
        return files;
    }

    public static TheoryData<string> Names() => new(NameList());

    [Fact]
    public void EverySchedulerTheRuntimeSupportsHasATrace()
    {
        var names = NameList().ToHashSet();
        foreach (var n in NoiseScheduler.Names) Assert.Contains(n, names);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ReproducesReferenceTraces(string name)
    {
        string file = TraceFiles()[name];
        using var doc = JsonDocument.Parse(SchedulerConfig.QuoteNonFiniteLiterals(File.ReadAllText(Path.Combine(Dir, file))));
        var root = doc.RootElement;
        var inputs = Inputs.Value;
        var config = SchedulerConfig.Parse(root.GetProperty("sd15_config").GetRawText());
        int cases = 0, arrays = 0;
        foreach (var run in root.GetProperty("runs").EnumerateObject())
        {
            var r = run.Value;
            int n = r.GetProperty("num_inference_steps").GetInt32();
            var s = NoiseScheduler.Create(name, config);
            s.SetTimesteps(n);
            string where = $"{name} n={n}";
            AssertTimesteps(r.GetProperty("timesteps"), s.Timesteps, where);
            if (r.GetProperty("sigmas").ValueKind == JsonValueKind.Array) AssertClose(Floats(r.GetProperty("sigmas")), s.Sigmas!, where + " sigmas");
            else Assert.Null(s.Sigmas);
            AssertScalar(r.GetProperty("init_noise_sigma").GetDouble(), s.InitNoiseSigma, where + " init_noise_sigma");
            var sample = (float[])inputs.X0.Clone();
            arrays += RunTrace(s, r.GetProperty("steps"), sample, s.Timesteps, inputs, where);
            arrays += CompareRecord(r.GetProperty("final_sample"), sample, where + " final_sample");
            cases++;
        }
        var img = root.GetProperty("img2img_strength_0_75");
        {
            int n = img.GetProperty("num_inference_steps").GetInt32();
            double strength = img.GetProperty("strength").GetDouble();
            var s = NoiseScheduler.Create(name, config);
            string where = $"{name} img2img";
            var (init, tStart) = NoiseScheduler.StrengthStart(n, strength);
            Assert.Equal(img.GetProperty("init_timestep").GetInt32(), init);
            Assert.Equal(img.GetProperty("t_start").GetInt32(), tStart);
            float first = s.SetTimestepsForStrength(n, strength);
            AssertTimesteps(img.GetProperty("full_timesteps"), s.Timesteps, where + " full");
            AssertTimesteps(img.GetProperty("timesteps_truncated"), s.ActiveTimesteps.ToArray(), where + " truncated");
            Assert.Equal(Floats(img.GetProperty("latent_timestep"))[0], first);
            var begin = img.GetProperty("begin_index");
            if (begin.ValueKind == JsonValueKind.Null) Assert.Null(s.BeginIndex);
            else Assert.Equal(begin.GetInt32(), s.BeginIndex);
            var latents = new float[inputs.Original.Length];
            s.AddNoise(inputs.Original, inputs.Noise, first, latents);
            arrays += CompareRecord(img.GetProperty("add_noise_result"), latents, where + " add_noise");
            arrays += RunTrace(s, img.GetProperty("steps"), latents, s.ActiveTimesteps.ToArray(), inputs, where);
            arrays += CompareRecord(img.GetProperty("final_sample"), latents, where + " final_sample");
            cases++;
        }
        output.WriteLine($"{name}: {cases} cases (runs + img2img), {arrays} arrays compared, from {Dir}");
        Assert.True(cases >= 2);
    }

    private static int RunTrace(NoiseScheduler s, JsonElement steps, float[] sample, float[] timesteps, Inputs inputs, string where)
    {
        Assert.Equal(steps.GetArrayLength(), timesteps.Length);
        var scaled = new float[sample.Length];
        int arrays = 0, i = 0;
        foreach (var st in steps.EnumerateArray())
        {
            float t = timesteps[i];
            Assert.Equal(st.GetProperty("t").GetSingle(), t);
            string w = $"{where} step {i} (t={t})";
            s.ScaleModelInput(sample, t, scaled);
            arrays += CompareRecord(st.GetProperty("scaled_model_input"), scaled, w + " scaled_model_input");
            var noiseArrays = st.TryGetProperty("noise", out var nz) ? nz.EnumerateArray().Select(a => Floats(a.GetProperty("full"))).ToList() : [];
            var noise = new QueuedNoise(noiseArrays);
            // a step that drew noise in diffusers must belong to a stochastic scheduler here
            Assert.True(noiseArrays.Count == 0 || s.IsStochastic, $"{w}: reference drew noise, {s.Name} is not stochastic");
            s.Step(inputs.ModelOutputs[st.GetProperty("model_output_seed").GetInt32() - 100], t, sample, s.IsStochastic ? noise : null);
            Assert.Equal(0, noise.Remaining);
            arrays += CompareRecord(st.GetProperty("prev_sample"), sample, w + " prev_sample");
            if (st.TryGetProperty("pred_original_sample", out var po))
                arrays += CompareRecord(po, s.PredictedOriginal.ToArray(), w + " pred_original_sample");
            if (st.TryGetProperty("step_index_after", out var sia) && sia.ValueKind == JsonValueKind.Number)
                Assert.Equal(sia.GetInt32(), s.StepIndex);
            i++;
        }
        return arrays;
    }

    /// <summary>Full arrays element-wise; summaries (sum, mean, abs_sum, first16) with the bound the per-element tolerance implies.</summary>
    private static int CompareRecord(JsonElement rec, float[] actual, string where)
    {
        if (rec.TryGetProperty("full", out var full))
        {
            AssertClose(Floats(full), actual, where);
            return 1;
        }
        AssertClose(Floats(rec.GetProperty("first16")), actual.AsSpan(0, 16).ToArray(), where + " first16");
        double sum = 0, abs = 0;
        foreach (var v in actual) { sum += v; abs += Math.Abs(v); }
        double refAbs = rec.GetProperty("abs_sum").GetDouble();
        double bound = Tol * refAbs + Tol;
        Assert.True(Math.Abs(sum - rec.GetProperty("sum").GetDouble()) <= bound, $"{where}: sum {sum} vs {rec.GetProperty("sum").GetDouble()}");
        Assert.True(Math.Abs(abs - refAbs) <= bound, $"{where}: abs_sum {abs} vs {refAbs}");
        Assert.True(Math.Abs(sum / actual.Length - rec.GetProperty("mean").GetDouble()) <= bound / actual.Length, $"{where}: mean");
        return 1;
    }

    internal static void AssertClose(float[] expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.True(expected.Length == actual.Length, $"{where}: length {actual.Length} vs {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i], d = Math.Abs(e - a);
            if (!(d <= Tol || d <= Tol * Math.Abs(e)))
                Assert.Fail($"{where}[{i}]: {a:R} vs reference {e:R} (diff {d:E2})");
        }
    }

    private static void AssertScalar(double expected, double actual, string where)
    {
        double d = Math.Abs(expected - actual);
        Assert.True(d <= Tol || d <= Tol * Math.Abs(expected), $"{where}: {actual} vs {expected}");
    }

    private static void AssertTimesteps(JsonElement expected, float[] actual, string where)
    {
        var e = Floats(expected);
        Assert.True(e.SequenceEqual(actual), $"{where}: timesteps [{string.Join(", ", actual)}] vs reference [{string.Join(", ", e)}]");
    }

    internal static float[] Floats(JsonElement a) => a.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static readonly Lazy<Inputs> Inputs = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "inputs.json")));
        var r = doc.RootElement;
        return new Inputs(
            Floats(r.GetProperty("x0").GetProperty("full")),
            r.GetProperty("model_outputs").EnumerateArray().Select(m => Floats(m.GetProperty("full"))).ToArray(),
            Floats(r.GetProperty("img2img_original").GetProperty("full")),
            Floats(r.GetProperty("img2img_noise").GetProperty("full")));
    });
}

internal sealed record Inputs(float[] X0, float[][] ModelOutputs, float[] Original, float[] Noise);
