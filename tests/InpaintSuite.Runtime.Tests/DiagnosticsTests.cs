using System.Text.Json;
using InpaintSuite.Runtime.Diagnostics;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests;

public class DiagnosticsTests
{
    private static string TokenizerDir => Path.Combine(TestPaths.DiffusersReference, "tokenizer");

    [Fact]
    public void TokenizeGivesThe77RowAndCount()
    {
        var r = RuntimeDiagnostics.Tokenize("a photo of a cat, 8k, (masterpiece:1.2)", TokenizerDir);
        Assert.Equal(77, r.Ids.Length);
        Assert.Equal(16, r.Count);
        Assert.Equal([49406, 320, 1125, 539, 320, 2368, 267, 279, 330, 267, 263, 12066, 281, 272, 269, 273, 264, 49407], r.Ids[..18]);
        Assert.False(r.Truncated);
        using var doc = JsonDocument.Parse(RuntimeDiagnostics.ToJson(r));
        Assert.Equal(77, doc.RootElement.GetProperty("ids").GetArrayLength());
        Assert.Equal(16, doc.RootElement.GetProperty("count").GetInt32());
        Assert.False(doc.RootElement.TryGetProperty("chunks", out _));
        var c = RuntimeDiagnostics.Tokenize("a (cat:1.5)", TokenizerDir, chunks: true);
        Assert.Equal(1.5f, Assert.Single(c.Chunks!).Weights[2]);
    }

    [Fact]
    public void TokenizeWithoutATokenizerSaysWhatToPass()
    {
        var e = Assert.Throws<FileNotFoundException>(() => RuntimeDiagnostics.Tokenize("x"));
        Assert.Contains("--model", e.Message);
    }

    [Fact]
    public void ScheduleMatchesTheReferenceTimesteps()
    {
        var r = RuntimeDiagnostics.Schedule("euler", 4);
        Assert.Equal([999f, 666f, 333f, 0f], r.Timesteps);
        Assert.Equal(5, r.Sigmas!.Length);
        Assert.Equal(14.614645f, r.InitNoiseSigma);
        string json = RuntimeDiagnostics.ToJson(r);
        Assert.Contains("\"timesteps\":[999,666,333,0]", json);
        Assert.Contains("\"init_noise_sigma\":14.614645", json);
        var ddim = RuntimeDiagnostics.Schedule("ddim", 4, Path.Combine(TestPaths.DiffusersReference, "tiny_models", "onnx", "scheduler", "scheduler_config.json"));
        Assert.Equal([751f, 501f, 251f, 1f], ddim.Timesteps);
        Assert.Null(ddim.Sigmas);
        Assert.DoesNotContain("sigmas", RuntimeDiagnostics.ToJson(ddim));
        var img = RuntimeDiagnostics.Schedule("dpmpp_2m_karras", 20, strength: 0.75);
        Assert.Equal(5, img.StartIndex);
        Assert.Equal(772f, img.TimestepsToRun![0]);
        Assert.Throws<ArgumentException>(() => RuntimeDiagnostics.Schedule("heun", 4));
    }
}
