using InpaintSuite.Runtime.Onnx;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Runtime.Tests.Onnx;

public sealed class BindingTests(ITestOutputHelper output)
{
    private static readonly OrtSessionOptions Cpu = new() { ExecutionProvider = ExecutionProviderKind.Cpu, IntraOpThreads = 1 };

    private static byte[] IdentityModel(OrtElementType type) =>
        new OnnxModelBuilder()
            .Input("x", type, "n", 3L)
            .Node("Identity", ["x"], ["y"])
            .Output("y", type, "n", 3L)
            .Build();

    [Fact]
    public void EveryElementTypeRoundTripsThroughPinnedInputsAndOrtAllocatedOutputs()
    {
        // 2x3, a non-square shape.
        Check(OrtTensor.Create(new[] { 1.5f, -2f, float.NaN, 0f, 1e-30f, 65504f }, 2, 3));
        Check(OrtTensor.Create(new[] { (Half)1.5f, (Half)(-2f), Half.NaN, Half.Epsilon, Half.MaxValue, (Half)0.1f }, 2, 3));
        Check(OrtTensor.Create(new[] { long.MinValue, -1L, 0L, 1L, long.MaxValue, 42L }, 2, 3));
        Check(OrtTensor.Create(new[] { int.MinValue, -1, 0, 1, int.MaxValue, 42 }, 2, 3));
        Check(OrtTensor.Create(new byte[] { 0, 1, 127, 128, 255, 42 }, 2, 3));
        Check(OrtTensor.Create(new[] { true, false, false, true, true, false }, 2, 3));
        Check(OrtTensor.Create(Array.Empty<float>(), 0, 3));

        static void Check<T>(OrtTensor<T> input) where T : unmanaged
        {
            using var session = InferenceSession.Load(IdentityModel(input.ElementType), Cpu);
            Assert.Equal(input.ElementType, session.Inputs[0].ElementType);
            Assert.Equal([-1L, 3], session.Inputs[0].Dimensions);
            var result = Assert.IsType<OrtTensor<T>>(session.Run(new Dictionary<string, OrtTensor> { ["x"] = input })["y"]);
            Assert.Equal(input.Shape, result.Shape);
            Assert.Null(TensorAssert.Compare(input, result, 0, 0));
            Assert.False(result.Memory.Equals(input.Memory)); // a copy, not the pinned input
        }
    }

    [Fact]
    public void Float32IsConvertedWhenTheModelWantsFloat16()
    {
        var model = new OnnxModelBuilder()
            .Input("x", OrtElementType.Float16, 2L, 3L)
            .Node("Cast", ["x"], ["y"], ("to", (long)OrtElementType.Float))
            .Node("Identity", ["x"], ["h"])
            .Output("y", OrtElementType.Float, 2L, 3L)
            .Output("h", OrtElementType.Float16, 2L, 3L)
            .Build();
        using var session = InferenceSession.Load(model, Cpu);
        var values = new[] { 0.1f, 1f / 3, -2.5f, 70000f, 6e-8f, 1234.567f };
        var result = session.Run(new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Create(values, 2, 3) });
        var y = Assert.IsType<OrtTensor<float>>(result["y"]);
        var h = Assert.IsType<OrtTensor<Half>>(result["h"]);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal((float)(Half)values[i], y.Span[i]);
            Assert.Equal((float)(Half)values[i], h.ToFloat32().Span[i]);
        }
    }

    [Fact]
    public void ErrorsCarryTheOrtErrorCode()
    {
        var e = Assert.Throws<OnnxRuntimeException>(() => InferenceSession.Load(new byte[] { 1, 2, 3, 4, 5 }, Cpu));
        Assert.Equal(OrtErrorCode.InvalidProtobuf, e.ErrorCode);

        var fixedModel = new OnnxModelBuilder().Input("x", OrtElementType.Float, 2L, 3L).Node("Relu", ["x"], ["y"]).Output("y", OrtElementType.Float, 2L, 3L).Build();
        using var session = InferenceSession.Load(fixedModel, Cpu);
        var wrongShape = Assert.Throws<OnnxRuntimeException>(() => session.Run(new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Zeros<float>(3, 2) }));
        Assert.Equal(OrtErrorCode.InvalidArgument, wrongShape.ErrorCode);
        output.WriteLine(wrongShape.Message);
        Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, OrtTensor> { ["nope"] = OrtTensor.Zeros<float>(2, 3) }));
        Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Zeros<int>(2, 3) }));
        Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Zeros<float>(2, 3) }, ["missing"]));
        // The session is still fine after every failure above.
        var ok = (OrtTensor<float>)session.Run(new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Create(new[] { -1f, 2, -3, 4, -5, 6 }, 2, 3) })["y"];
        Assert.Equal([0f, 2, 0, 4, 0, 6], ok.Span.ToArray());
        Assert.Throws<FileNotFoundException>(() => InferenceSession.Load(Path.Combine(Path.GetTempPath(), "does-not-exist.onnx"), Cpu));
    }

    [Fact]
    public void VersionAndProvidersAreReported()
    {
        var status = OnnxRuntimeInfo.Describe();
        output.WriteLine(status.ToString());
        Assert.True(status.Available, status.Error);
        Assert.Contains("CPUExecutionProvider", status.Providers);
        var v = Version.Parse(status.Version!.Split('-')[0]);
        Assert.True(v >= new Version(1, 30), $"version {status.Version}");
        Assert.False(string.IsNullOrEmpty(status.LibraryPath));
        Assert.Contains("ONNX Runtime " + status.Version, status.ToString());
    }

    [Fact]
    public void ProviderChoiceIsExplicitOrFallsBackWithAReason()
    {
        var model = IdentityModel(OrtElementType.Float);
        using (var cpu = InferenceSession.Load(model, Cpu)) Assert.Equal("CPU", cpu.ExecutionProvider);
        if (!OperatingSystem.IsWindows())
        {
            var dml = Assert.Throws<OnnxRuntimeException>(() => InferenceSession.Load(model, Cpu with { ExecutionProvider = ExecutionProviderKind.DirectML }));
            Assert.Contains("DirectML", dml.Message);
        }
        using var auto = InferenceSession.Load(model, new OrtSessionOptions());
        output.WriteLine($"auto -> {auto.ExecutionProvider}: {auto.ProviderNote}");
        InferenceSession? cuda = null;
        try { cuda = InferenceSession.Load(model, Cpu with { ExecutionProvider = ExecutionProviderKind.Cuda }); }
        catch (OnnxRuntimeException e)
        {
            // The bundled build has no CUDA libraries: the explicit choice must fail clearly, auto must fall back and say why.
            output.WriteLine(e.Message);
            Assert.Equal(OrtErrorCode.EpFail, e.ErrorCode);
            Assert.Contains(OrtLibrary.EnvironmentVariable, e.Message);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal("CPU", auto.ExecutionProvider);
                Assert.Contains("CUDA unavailable", auto.ProviderNote);
                Assert.Contains("CUDA unavailable", OnnxRuntimeInfo.Describe().ProviderNote);
            }
        }
        if (cuda != null)
        {
            Assert.Equal("CUDA", cuda.ExecutionProvider);
            cuda.Dispose();
        }
    }

    [Fact]
    public void LibraryProbeExplainsMissingAndForeignLibraries()
    {
        var missing = OrtLibrary.Probe(Path.Combine(Path.GetTempPath(), "no-such-dir", "libonnxruntime.so.1"));
        Assert.NotNull(missing);
        Assert.Contains("not found", missing);
        Assert.Null(OrtLibrary.Probe(OrtLibrary.LibraryPath));
        if (OperatingSystem.IsLinux())
        {
            var libz = new[] { "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1" }.FirstOrDefault(File.Exists);
            if (libz != null)
            {
                var foreign = OrtLibrary.Probe(libz);
                Assert.Contains("does not export OrtGetApiBase", foreign);
            }
        }
    }

    [Fact]
    public void OptimizedModelCacheIsWrittenAndReused()
    {
        var dir = Directory.CreateTempSubdirectory("ort-cache-");
        try
        {
            var modelPath = Path.Combine(dir.FullName, "model.onnx");
            File.WriteAllBytes(modelPath, new OnnxModelBuilder()
                .Input("x", OrtElementType.Float, "n", 4L)
                .Initializer("w", Enumerable.Range(0, 16).Select(i => i * 0.25f).ToArray(), 4, 4)
                .Node("MatMul", ["x", "w"], ["m"]).Node("Relu", ["m"], ["y"])
                .Output("y", OrtElementType.Float, "n", 4L).Build());
            File.SetLastWriteTimeUtc(modelPath, DateTime.UtcNow.AddMinutes(-1));
            var cache = Path.Combine(dir.FullName, "cache", "model.opt.onnx");
            var options = Cpu with { OptimizedModelCachePath = cache };
            var input = new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Create(new[] { 1f, -2, 3, -4, 0.5f, 0.25f, -1, 2 }, 2, 4) };
            OrtTensor first;
            using (var s = InferenceSession.Load(modelPath, options)) first = s.Run(input)["y"];
            Assert.True(File.Exists(cache), "optimised model not written");
            var stamp = File.GetLastWriteTimeUtc(cache);
            using (var s = InferenceSession.Load(modelPath, options))
                Assert.Null(TensorAssert.Compare(first, s.Run(input)["y"], 0, 0));
            Assert.Equal(stamp, File.GetLastWriteTimeUtc(cache)); // read, not rewritten
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public async Task RunAsyncGivesTheSameResultAndHonoursAnAlreadyCancelledToken()
    {
        using var session = InferenceSession.Load(IdentityModel(OrtElementType.Float), Cpu);
        var input = new Dictionary<string, OrtTensor> { ["x"] = OrtTensor.Create(new[] { 1f, 2, 3 }, 1, 3) };
        var result = await session.RunAsync(input);
        Assert.Equal([1f, 2, 3], ((OrtTensor<float>)result["y"]).Span.ToArray());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => session.RunAsync(input, new CancellationToken(true)));
        Assert.ThrowsAny<OperationCanceledException>(() => session.Run(input, new CancellationToken(true)));
    }
}
