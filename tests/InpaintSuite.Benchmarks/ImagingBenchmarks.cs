using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using InpaintSuite.Imaging;

namespace InpaintSuite.Benchmarks;

/// <summary>The imaging issue's benchmark image: 4096x4096 RGBA8, smooth gradients plus noise (not compressible to nothing).</summary>
public static class BenchImages
{
    public static RgbaImage Make4096()
    {
        const int n = 4096;
        var img = new RgbaImage(n, n);
        var rng = new Random(1234);
        Parallel.For(0, n, y =>
        {
            var r = img.Row8(y);
            var local = new Random(y);
            for (int x = 0; x < n; x++)
            {
                r[x * 4] = (byte)((x * 255 / n + local.Next(32)) & 255);
                r[x * 4 + 1] = (byte)((y * 255 / n + local.Next(32)) & 255);
                r[x * 4 + 2] = (byte)(((x ^ y) >> 4) & 255);
                r[x * 4 + 3] = 255;
            }
        });
        _ = rng;
        return img;
    }
}

/// <summary>BenchmarkDotNet: `dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- --filter '*ImagingBenchmarks*'`.</summary>
[MemoryDiagnoser]
public class ImagingBenchmarks
{
    private RgbaImage _image = null!;
    private Mask _mask = null!;

    [GlobalSetup]
    public void Setup()
    {
        _image = BenchImages.Make4096();
        _mask = new Mask(4096, 4096);
        for (int y = 1000; y < 3000; y++) _mask.Row(y).Slice(800, 2500).Fill(255);
    }

    [Benchmark(Description = "Gaussian sigma 16, 4096^2 RGBA8")]
    public RgbaImage GaussianSigma16() => GaussianBlur.Blur(_image, 16);

    [Benchmark(Description = "Lanczos-3 4096^2 -> 1024^2 RGBA8")]
    public RgbaImage LanczosDown() => Resampler.Resize(_image, 1024, 1024);

    [Benchmark(Description = "Feather sigma 16, 4096^2 mask")]
    public Mask MaskFeather16() => MaskOps.Feather(_mask, 16);

    [Benchmark(Description = "Blend weight (8 px band outside the mask), 4096^2")]
    public Mask BlendWeight8() => MaskOps.BlendWeight(_mask, 8);
}

/// <summary>
/// Side-by-side driver for tests/bench/imaging_vs_opencv.sh: times each operation N times in-process and prints
/// `name median_ms` lines (the script runs the OpenCV equivalents the same way and prints the ratios).
/// </summary>
public sealed class ImagingBenchTool : IBenchTool
{
    public string Name => "imaging-bench";
    public string Description => "median ms of the imaging ops on a 4096x4096 RGBA8 image (args: [runs])";

    public int Run(string[] args)
    {
        int runs = args.Length > 0 ? int.Parse(args[0]) : 7;
        var b = new ImagingBenchmarks();
        b.Setup();
        Report("gaussian_sigma16", runs, () => b.GaussianSigma16());
        Report("lanczos_4096_to_1024", runs, () => b.LanczosDown());
        Report("mask_feather_sigma16", runs, () => b.MaskFeather16());
        return 0;
    }

    private static void Report(string name, int runs, Func<object> op)
    {
        op(); // warm-up (JIT, pools)
        var t = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            op();
            t[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(t);
        Console.WriteLine($"{name} {t[runs / 2]:F1}");
    }
}
