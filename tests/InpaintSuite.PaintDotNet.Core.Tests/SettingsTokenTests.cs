using InpaintSuite.PaintDotNet.Core;
using Xunit;

namespace InpaintSuite.PaintDotNet.Core.Tests;

public class SettingsTokenTests
{
    public static TheoryData<InpaintSettings> Samples() => new()
    {
        new InpaintSettings(),
        new InpaintSettings { Prompt = "a wooden floor, \"oak\"\n\tsunlit — 日本語 🙂", NegativePrompt = "blurry, text", Engine = "sd15-inpainting", Strength = 0.35f, Steps = 28, Scheduler = "ddpm", Seed = ulong.MaxValue, Grow = -7, Feather = 12.5f, ContextPadding = 300, DaemonAddress = "http://127.0.0.1:6000" },
        new InpaintSettings { Strength = 0.1f, Feather = 0.3f, Seed = 0, Grow = 256 },
        new InpaintSettings { Strength = 1f / 3f, Feather = float.Epsilon, Seed = 9007199254740993UL, Engine = "content-aware" },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Token_round_trips_through_string_and_bytes(InpaintSettings settings)
    {
        Assert.Equal(settings, InpaintSettings.Parse(settings.Serialize()));
        Assert.Equal(settings, InpaintSettings.FromBytes(settings.ToBytes()));
        // Stable: serializing the parsed token gives the same text.
        Assert.Equal(settings.Serialize(), InpaintSettings.Parse(settings.Serialize()).Serialize());
    }

    [Fact]
    public void Missing_fields_keep_defaults_and_unknown_fields_are_ignored()
    {
        var s = InpaintSettings.Parse("{\"v\":1,\"prompt\":\"sky\",\"future\":[1,2]}");
        Assert.Equal(new InpaintSettings { Prompt = "sky" }, s);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1]")]
    [InlineData("{\"steps\":\"many\"}")]
    [InlineData("{\"seed\":\"-1\"}")]
    [InlineData("{\"v\":99}")]
    public void Bad_tokens_fail_with_FormatException(string text)
    {
        var e = Assert.Throws<FormatException>(() => InpaintSettings.Parse(text));
        Assert.Contains("InpaintSuite settings", e.Message);
    }

    [Fact]
    public void Validate_names_the_bad_field()
    {
        Assert.Null(new InpaintSettings().Validate());
        Assert.Contains("strength", new InpaintSettings { Strength = 1.5f }.Validate());
        Assert.Contains("steps", new InpaintSettings { Steps = -1 }.Validate());
        Assert.Contains("scheduler 'heun'", new InpaintSettings { Scheduler = "heun" }.Validate());
        foreach (var name in InpaintSettings.Schedulers) Assert.Null(new InpaintSettings { Scheduler = name }.Validate());
        Assert.Contains("ddpm", InpaintSettings.Schedulers);
        Assert.Equal("ddpm", InpaintPlanner.ToWire(new InpaintSettings { Scheduler = "ddpm" }).Scheduler);
        Assert.Equal("", InpaintPlanner.ToWire(new InpaintSettings()).Scheduler);
        Assert.Contains("daemon address", new InpaintSettings { DaemonAddress = "localhost:1" }.Validate());
    }
}
