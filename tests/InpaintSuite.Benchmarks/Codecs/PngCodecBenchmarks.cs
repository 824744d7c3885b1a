using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Benchmarks.Codecs;

/// <summary>
/// PNG decode and encode of a 4096x4096 RGBA8 photo (skimage's astronaut upscaled, soft alpha vignette), the
/// same bytes tests/bench/png_codec_vs_opencv.py feeds to cv2.imdecode / cv2.imencode. Decode input is the
/// OpenCV-written file; encode uses default options. Image path: INPAINTSUITE_BENCH_PNG (made if missing).
/// </summary>
[Config(typeof(Config))]
public class PngCodecBenchmarks
{
    /// <summary>
    /// In-process: on this shared 2-core machine BenchmarkDotNet's per-benchmark rebuild of the whole solution
    /// exceeded its 120 s build timeout. Each operation takes ~1 s, so 9 iterations after 2 warm-ups suffice.
    /// </summary>
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(9).WithInvocationCount(1).WithUnrollFactor(1));
    }

    private byte[] _png = [];
    private RgbaImage _image = null!;
    private readonly MemoryStream _sink = new(64 << 20);

    public static string ImagePath => Environment.GetEnvironmentVariable("INPAINTSUITE_BENCH_PNG") is { Length: > 0 } p
        ? p
        : Path.Combine(Path.GetTempPath(), "inpaintsuite-bench", "photo4096.png");

    /// <summary>Creates the benchmark image with tests/bench/make_bench_photo.py (Debian python3 + OpenCV + skimage).</summary>
    public static void EnsureImage()
    {
        if (File.Exists(ImagePath)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(ImagePath)!);
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "InpaintSuite.sln"))) dir = dir.Parent;
        if (dir == null) throw new InvalidOperationException("InpaintSuite.sln not found; set INPAINTSUITE_BENCH_PNG");
        var psi = new ProcessStartInfo("/usr/bin/python3", [Path.Combine(dir.FullName, "tests", "bench", "make_bench_photo.py"), ImagePath]);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        if (p.ExitCode != 0 || !File.Exists(ImagePath)) throw new InvalidOperationException("make_bench_photo.py failed (needs python3-opencv, python3-skimage)");
    }

    [GlobalSetup]
    public void Setup()
    {
        EnsureImage();
        _png = File.ReadAllBytes(ImagePath);
        _image = ImageCodec.Decode(_png);
        if (_image.Width != 4096 || _image.Height != 4096 || _image.Depth != PixelDepth.U8)
            throw new InvalidOperationException($"benchmark image is {_image.Width}x{_image.Height} {_image.Depth}, expected 4096x4096 U8");
    }

    [Benchmark]
    public RgbaImage PngDecode() => ImageCodec.Decode(_png);

    [Benchmark]
    public long PngEncode()
    {
        _sink.SetLength(0);
        PngEncoder.Encode(_image, _sink);
        return _sink.Length;
    }
}
