using System.Text.Json;
using InpaintSuite.Runtime.Schedulers;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests;

public class TrainScheduleTests
{
    [Fact]
    public void Sd15BetasAndAlphasCumprodAreBitExact()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.DiffusersReference, "schedulers", "train_schedule.json")));
        var betas = SchedulerReferenceTests.Floats(doc.RootElement.GetProperty("betas"));
        var acp = SchedulerReferenceTests.Floats(doc.RootElement.GetProperty("alphas_cumprod"));
        var s = TrainSchedule.FromConfig(SchedulerConfig.StableDiffusion15);
        Assert.Equal(betas, s.Betas);
        Assert.Equal(acp, s.AlphasCumprod);
    }

    [Fact]
    public void LinearAndCosineSchedulesAreMonotonic()
    {
        foreach (var kind in new[] { "linear", "squaredcos_cap_v2" })
        {
            var s = TrainSchedule.FromConfig(SchedulerConfig.StableDiffusion15.With("beta_schedule", kind));
            Assert.Equal(1000, s.AlphasCumprod.Length);
            for (int i = 1; i < 1000; i++) Assert.True(s.AlphasCumprod[i] < s.AlphasCumprod[i - 1], kind);
        }
    }

    [Fact]
    public void UnknownBetaScheduleIsRejected()
    {
        Assert.Throws<NotSupportedException>(() => TrainSchedule.FromConfig(SchedulerConfig.StableDiffusion15.With("beta_schedule", "sigmoid")));
    }
}
