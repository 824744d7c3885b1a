using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using InpaintSuite.Protocol.V1;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>The HTTP/1.1 JSON bridge: proto3 JSON in, NDJSON JobEvents out, JSON errors.</summary>
public sealed class JsonBridgeTests
{
    private static StringContent Json(IMessage m) => new(JsonFormatter.Default.Format(m), Encoding.UTF8, "application/json");

    [Fact]
    public async Task InpaintStreamsNdjsonJobEventsInLowerCamelCase()
    {
        await using var d = await TestDaemon.StartAsync();
        using var http = d.BridgeClient();
        var request = TestDaemon.Inpaint(12, 9);
        using var resp = await http.PostAsync("/v1/inpaint", Json(request));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Equal("application/x-ndjson", resp.Content.Headers.ContentType?.MediaType);
        var lines = (await resp.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        Assert.True(first.TryGetProperty("queued", out _));
        var progress = JsonDocument.Parse(lines[2]).RootElement.GetProperty("progress");
        Assert.Equal(1, progress.GetProperty("step").GetInt32());
        Assert.Equal(3, progress.GetProperty("total").GetInt32());
        var events = lines.Select(l => JobEvent.Parser.ParseJson(l)).ToList();
        Assert.All(events, e => Assert.Equal(events[0].JobId, e.JobId));
        Assert.Equal(events[0].JobId, first.GetProperty("jobId").GetString());
        var result = events.Last().Result;
        Assert.NotNull(result);
        Assert.Equal("7", JsonDocument.Parse(lines.Last()).RootElement.GetProperty("result").GetProperty("patches")[0].GetProperty("seed").GetString());
        var expected = request.Image.Data.ToByteArray();
        for (int p = 0; p < 12 * 9; p++) expected[p * 4 + 3] = request.Mask.Data[p];
        Assert.Equal(expected, result.Patches[0].Image.Data.ToByteArray());
    }

    [Fact]
    public async Task BadRequestsAreHttpErrorsWithAJsonBody()
    {
        await using var d = await TestDaemon.StartAsync();
        using var http = d.BridgeClient();
        var request = TestDaemon.Inpaint(12, 9);
        request.Mask = TestDaemon.BoxMask(9, 12);
        using var resp = await http.PostAsync("/v1/inpaint", Json(request));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        var body = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(3, body.GetProperty("code").GetInt32());
        Assert.Equal("INVALID_ARGUMENT", body.GetProperty("status").GetString());
        Assert.StartsWith("mask", body.GetProperty("message").GetString());

        using var garbage = await http.PostAsync("/v1/inpaint", new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        using var missing = await http.GetAsync("/v1/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        request.Mask = null;
        request.Settings.Engine = "no-such-model";
        using var nf = await http.PostAsync("/v1/inpaint", Json(request));
        Assert.Equal(HttpStatusCode.NotFound, nf.StatusCode);
        Assert.Equal("NOT_FOUND", JsonDocument.Parse(await nf.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task HealthModelsCapabilitiesAndCancel()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 1000, StepDelay = TimeSpan.FromMilliseconds(20) });
        using var http = d.BridgeClient();
        Assert.Equal("SERVING", JsonDocument.Parse(await http.GetStringAsync("/v1/health")).RootElement.GetProperty("status").GetString());
        Assert.Contains("\"engines\"", await http.GetStringAsync("/v1/capabilities"));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);

        using var stream = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/inpaint") { Content = Json(TestDaemon.Inpaint()) }, HttpCompletionOption.ResponseHeadersRead);
        var jobId = stream.Headers.GetValues("x-job-id").Single();
        var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Contains(jobId, await reader.ReadLineAsync());
        await d.Runner.FirstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        using var cancel = await http.PostAsync("/v1/cancel", Json(new CancelJobRequest { JobId = jobId }));
        Assert.True(JsonDocument.Parse(await cancel.Content.ReadAsStringAsync()).RootElement.GetProperty("cancelled").GetBoolean());
        string? last = null;
        while (await reader.ReadLineAsync() is { } line) last = line;
        Assert.Equal("CANCELLED", JsonDocument.Parse(last!).RootElement.GetProperty("error").GetProperty("status").GetString());
    }

    private static HttpRequestMessage InpaintWithTimeout(string header, string value) =>
        new(HttpMethod.Post, "/v1/inpaint") { Content = Json(TestDaemon.Inpaint()), Headers = { { header, value } } };

    [Theory]
    [InlineData("x-timeout-ms", "0")]
    [InlineData("grpc-timeout", "1n")]
    public async Task ADeadlinePassedBeforeTheStreamStartsIs504AndQueuesNothing(string header, string value)
    {
        await using var d = await TestDaemon.StartAsync();
        using var http = d.BridgeClient();
        using var resp = await http.SendAsync(InpaintWithTimeout(header, value));
        Assert.Equal(HttpStatusCode.GatewayTimeout, resp.StatusCode);
        var body = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(4, body.GetProperty("code").GetInt32());
        Assert.Equal("DEADLINE_EXCEEDED", body.GetProperty("status").GetString());
        Assert.Equal(0, d.Runner.Started);
        Assert.Equal(0, d.Host.Queue.WaitingCount);
    }

    [Theory]
    [InlineData("x-timeout-ms", "400")]
    [InlineData("grpc-timeout", "400m")]
    public async Task ADeadlinePassedMidStreamEndsItWithADeadlineExceededLineAndCancelsTheJob(string header, string value)
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 1000, StepDelay = TimeSpan.FromMilliseconds(20) });
        var freed = new TaskCompletionSource<Job>(TaskCreationOptions.RunContinuationsAsynchronously);
        d.Host.Queue.JobFinished += j => freed.TrySetResult(j);
        using var http = d.BridgeClient();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var resp = await http.SendAsync(InpaintWithTimeout(header, value), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        var lines = (await resp.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        double ended = sw.Elapsed.TotalMilliseconds;
        Assert.Contains(lines, l => l.Contains("\"progress\"", StringComparison.Ordinal));
        var error = JsonDocument.Parse(lines[^1]).RootElement.GetProperty("error");
        Assert.Equal("DEADLINE_EXCEEDED", error.GetProperty("status").GetString());
        Assert.Equal(4, error.GetProperty("code").GetInt32());
        Assert.InRange(ended, 350, 10_000);
        // The job was cancelled, not left running: the worker is freed well before its 20 s of steps.
        var job = await freed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(JobCancelReason.CallEnded, job.CancelReason);
        Assert.Equal(1, d.Runner.Cancelled);
        Assert.Equal(0, d.Host.Queue.RunningCount);
    }

    [Fact]
    public async Task AGenerousDeadlineDoesNotDisturbAJobAndBadTimeoutsAreInvalidArgument()
    {
        await using var d = await TestDaemon.StartAsync();
        using var http = d.BridgeClient();
        // With both headers the earlier deadline wins; both are generous here.
        var ok = InpaintWithTimeout("x-timeout-ms", "60000");
        ok.Headers.Add("grpc-timeout", "30S");
        using var resp = await http.SendAsync(ok);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        var last = (await resp.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.True(JsonDocument.Parse(last).RootElement.TryGetProperty("result", out _), last);

        foreach (var (header, value) in new[] { ("x-timeout-ms", "soon"), ("x-timeout-ms", "-5"), ("grpc-timeout", "5 seconds"), ("grpc-timeout", "123456789S") })
        {
            using var bad = await http.SendAsync(InpaintWithTimeout(header, value));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var body = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("INVALID_ARGUMENT", body.GetProperty("status").GetString());
            Assert.StartsWith(header, body.GetProperty("message").GetString());
        }
        Assert.Equal(1, d.Runner.Started);
    }
}
