using InpaintSuite.Protocol;
using InpaintSuite.Protocol.V1;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>GetCapabilities reports the ONNX Runtime flavour, the provider decision and why each GPU provider is unavailable.</summary>
public sealed class OnnxRuntimeCapabilitiesTests
{
    [Fact]
    public async Task Capabilities_name_the_build_the_provider_and_why_gpu_providers_are_skipped()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var caps = await client.GetCapabilitiesAsync();
        Assert.StartsWith("1.30", caps.OnnxruntimeVersion);
        Assert.Contains("CPUExecutionProvider", caps.ExecutionProviders);
        Assert.Equal("auto", caps.RequestedProvider);
        var cuda = Assert.Single(caps.ProviderAvailability, p => p.Provider == "CUDA");
        var dml = Assert.Single(caps.ProviderAvailability, p => p.Provider == "DirectML");
        if (!caps.ExecutionProviders.Contains("CUDAExecutionProvider"))
        {
            // The default (cpu) flavour: CUDA is ruled out by the build, in words, and auto runs on CPU.
            Assert.Equal("a CPU-only build", caps.OnnxruntimeBuild);
            Assert.False(cuda.Usable);
            Assert.Contains("CPU-only build without the CUDA provider", cuda.Reason);
            Assert.Contains("-p:OnnxRuntimeFlavor=cuda", cuda.Reason);
            Assert.Equal("CPU", caps.ActiveProvider);
            Assert.Contains("CUDA unavailable", caps.ProviderNote);
        }
        if (!OperatingSystem.IsWindows())
        {
            Assert.False(dml.Usable);
            Assert.Contains("only on Windows", dml.Reason);
        }
        Assert.All(caps.ProviderAvailability, p => Assert.Equal(p.Usable, p.Reason.Length == 0));
    }
}
