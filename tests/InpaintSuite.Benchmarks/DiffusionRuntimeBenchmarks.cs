using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using InpaintSuite.Runtime.Noise;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Benchmarks;

/// <summary>
/// In-process (no boilerplate project build, which times out on a loaded machine), 3 warm-up + 15 measured
/// iterations, memory diagnoser, median column.
/// </summary>
public sealed class QuickInProcessConfig : ManualConfig
{
    public QuickInProcessConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(15));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median);
    }
}

/// <summary>Where the diffusers reference lives (INPAINTSUITE_DIFFUSERS_REFERENCE_DIR, ../shared beside the repo, or the copy in tests/data/shared).</summary>
internal static class DiffusersReference
{
    public static string Dir
    {
        get
        {
            if (Environment.GetEnvironmentVariable("INPAINTSUITE_DIFFUSERS_REFERENCE_DIR") is { Length: > 0 } d) return d;
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
            if (dir is null) throw new InvalidOperationException("repository root not found; set INPAINTSUITE_DIFFUSERS_REFERENCE_DIR");
            string beside = Path.Combine(dir.FullName, "..", "shared", "reference", "diffusers");
            return Directory.Exists(beside) ? beside : Path.Combine(dir.FullName, "tests", "data", "shared", "reference", "diffusers");
        }
    }
}

/// <summary>
/// CLIP tokenizer throughput on the 30 reference prompts per operation (prompts/s = 30 / time):
/// the BPE cache off (baseline, every pre-token merged from bytes) vs on (the daemon's steady state), and the 77-id row.
/// </summary>
[Config(typeof(QuickInProcessConfig))]
public class TokenizerBenchmarks
{
    private ClipTokenizer _cold = null!, _warm = null!;
    private string[] _prompts = [];

    [GlobalSetup]
    public void Setup()
    {
        string dir = Path.Combine(DiffusersReference.Dir, "tokenizer");
        _cold = ClipTokenizer.FromDirectory(dir);
        _cold.UseCache = false;
        _warm = ClipTokenizer.FromDirectory(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_cases.json")));
        _prompts = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("prompt").GetString()!).ToArray();
        foreach (var p in _prompts) _warm.Encode(p);
    }

    [Benchmark(Baseline = true, Description = "30 prompts, BPE cache off")]
    public int EncodeNoCache()
    {
        int n = 0;
        foreach (var p in _prompts) n += _cold.Encode(p).Count;
        return n;
    }

    [Benchmark(Description = "30 prompts, BPE cache on")]
    public int EncodeCached()
    {
        int n = 0;
        foreach (var p in _prompts) n += _warm.Encode(p).Count;
        return n;
    }

    [Benchmark(Description = "30 prompts, 77-id rows, cache on")]
    public int EncodeFramed()
    {
        int n = 0;
        foreach (var p in _prompts) n += _warm.EncodeFramed(p)[1];
        return n;
    }
}

/// <summary>
/// One scheduler step on a 4x128x128 latent (SD at 1024 px) in steady state — must allocate 0 B.
/// Baseline: the scalar reference of the Euler step the vectorised kernel is tested against.
/// </summary>
[Config(typeof(QuickInProcessConfig))]
public class SchedulerStepBenchmarks
{
    private const int N = 4 * 128 * 128;
    private readonly float[] _sample = new float[N], _modelOutput = new float[N], _pred = new float[N], _scaled = new float[N];
    private NoiseScheduler _euler = null!, _eulerA = null!, _dpm = null!, _unipc = null!, _ddim = null!, _pndm = null!;
    private GaussianNoise _noise = null!;
    private const int Step = 8;

    [GlobalSetup]
    public void Setup()
    {
        GaussianNoise.Fill(1, 0, _pristine);
        _pristine.CopyTo(_sample);
        GaussianNoise.Fill(2, 0, _modelOutput);
        _noise = new GaussianNoise(3);
        _euler = Prepare("euler");
        _eulerA = Prepare("euler_ancestral");
        _dpm = Prepare("dpmpp_2m");
        _unipc = Prepare("unipc");
        _ddim = Prepare("ddim");
        _pndm = Prepare("pndm");
    }

    private NoiseScheduler Prepare(string name)
    {
        var s = NoiseScheduler.Create(name);
        s.SetTimesteps(20);
        var x = (float[])_sample.Clone();
        // run up to the benchmarked step so multistep history (and its buffers) exist
        for (int i = 0; i <= Step; i++) s.Step(_modelOutput, s.Timesteps[i], x, _noise);
        return s;
    }

    private readonly float[] _pristine = new float[N];
    private int _calls;

    private void Run(NoiseScheduler s)
    {
        // repeated in-place steps would drift the latent towards inf; restore it now and then (amortised copy)
        if ((++_calls & 255) == 0) _pristine.CopyTo(_sample);
        s.SetStepIndexKeepingHistory(Step);
        s.Step(_modelOutput, s.Timesteps[Step], _sample, _noise);
    }

    [Benchmark(Baseline = true, Description = "Euler step, scalar reference")]
    public void EulerScalar()
    {
        EulerDiscreteScheduler.EpsilonStepScalar(_modelOutput, _sample, _pred, 2.5f, -0.1f);
    }

    [Benchmark(Description = "Euler step")]
    public void Euler() => Run(_euler);

    [Benchmark(Description = "Euler scale_model_input")]
    public void EulerScale() => _euler.ScaleModelInput(_sample, _euler.Timesteps[Step], _scaled);

    [Benchmark(Description = "Euler ancestral step (incl. Philox noise)")]
    public void EulerAncestral() => Run(_eulerA);

    [Benchmark(Description = "DPM++ 2M step (2nd order)")]
    public void DpmPlusPlus2M() => Run(_dpm);

    [Benchmark(Description = "UniPC step (corrector + 2nd order)")]
    public void UniPc() => Run(_unipc);

    [Benchmark(Description = "DDIM step")]
    public void Ddim() => Run(_ddim);

    [Benchmark(Description = "PNDM step (4th order)")]
    public void Pndm()
    {
        Run(_pndm);
    }
}
