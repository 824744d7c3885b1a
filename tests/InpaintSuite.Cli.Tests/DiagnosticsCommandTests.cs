using System.Text.Json;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>`inpaintsuite tokenize` and `inpaintsuite schedule` print one JSON object.</summary>
public class DiagnosticsCommandTests
{
    private static Task<(int Code, string Out, string Err)> Cli(params string[] args) => CliHarness.RunAsync(args);

    [Fact]
    public async Task TokenizePrintsIdsAndCount()
    {
        var (code, stdout, err) = await Cli("tokenize", "a photo of a cat", "--model", Path.Combine(TestPaths.DiffusersReference, "tokenizer"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(77, ids.Length);
        Assert.Equal([49406, 320, 1125, 539, 320, 2368, 49407, 49407], ids[..8]);
        Assert.Equal(5, doc.RootElement.GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task TokenizeWithoutModelIsAUsageError()
    {
        var (code, _, err) = await Cli("tokenize", "a cat");
        Assert.Equal(2, code);
        Assert.Contains("--model", err);
    }

    [Fact]
    public async Task SchedulePrintsTimestepsSigmasAndInitNoiseSigma()
    {
        var (code, stdout, err) = await Cli("schedule", "--scheduler", "euler", "--steps", "4");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal([999.0, 666.0, 333.0, 0.0], doc.RootElement.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(5, doc.RootElement.GetProperty("sigmas").GetArrayLength());
        Assert.Equal(14.614645, doc.RootElement.GetProperty("init_noise_sigma").GetDouble(), 5);
        var (code2, stdout2, _) = await Cli("schedule", "--scheduler", "pndm", "--steps", "4", "--config",
            Path.Combine(TestPaths.DiffusersReference, "tiny_models", "onnx", "scheduler", "scheduler_config.json"));
        Assert.Equal(0, code2);
        using var pndm = JsonDocument.Parse(stdout2);
        Assert.Equal([751.0, 501.0, 501.0, 251.0, 1.0], pndm.RootElement.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()));
        Assert.False(pndm.RootElement.TryGetProperty("sigmas", out _));
    }

    [Fact]
    public async Task SchedulePrintsDdpmTimestepsAndTheImg2imgStart()
    {
        var (code, stdout, err) = await Cli("schedule", "--scheduler", "ddpm", "--steps", "4");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal([751.0, 501.0, 251.0, 1.0], doc.RootElement.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()));
        Assert.False(doc.RootElement.TryGetProperty("sigmas", out _));
        Assert.Equal(1.0, doc.RootElement.GetProperty("init_noise_sigma").GetDouble());
        var (code2, stdout2, err2) = await Cli("schedule", "--scheduler", "ddpm", "--steps", "20", "--strength", "0.75");
        Assert.True(code2 == 0, err2);
        Assert.Contains("701", stdout2);
    }

    [Fact]
    public async Task UnknownSchedulerIsAUsageError()
    {
        var (code, _, err) = await Cli("schedule", "--scheduler", "heun", "--steps", "4");
        Assert.Equal(2, code);
        Assert.Contains("unknown scheduler 'heun'", err);
    }
}
