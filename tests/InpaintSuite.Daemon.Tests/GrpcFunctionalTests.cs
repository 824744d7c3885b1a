using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using InpaintSuite.Protocol;
using Grpc.Core;
using Grpc.Health.V1;
using InpaintSuite.Protocol.V1;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>The C# client against a real loopback Kestrel daemon (fake runner).</summary>
public sealed class GrpcFunctionalTests
{
    [Fact]
    public async Task InpaintStreamsQueuedStartedProgressAndThePatch()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var request = TestDaemon.Inpaint();
        var events = new List<JobEvent>();
        await foreach (var e in client.Inpaint(request)) events.Add(e);

        Assert.Equal(JobEvent.EventOneofCase.Queued, events[0].EventCase);
        Assert.Contains(events, e => e.EventCase == JobEvent.EventOneofCase.Started);
        Assert.Equal(3, events.Count(e => e.EventCase == JobEvent.EventOneofCase.Progress));
        var result = Assert.Single(events, e => e.EventCase == JobEvent.EventOneofCase.Result).Result;
        Assert.All(events, e => Assert.Equal(events[0].JobId, e.JobId));
        var patch = Assert.Single(result.Patches);
        Assert.Equal(7UL, patch.Seed);
        Assert.Equal(37u, patch.Image.Width);
        var expected = request.Image.Data.ToByteArray();
        for (int p = 0; p < 37 * 23; p++) expected[p * 4 + 3] = request.Mask.Data[p];
        Assert.Equal(expected, patch.Image.Data.ToByteArray());
    }

    [Fact]
    public async Task BgraInputComesBackAsBgra()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var request = TestDaemon.Inpaint(19, 5);
        request.Image.Format = PixelFormat.Bgra8;
        request.Mask = null;
        var (_, result) = await InpainterClient.RunToResultAsync(client.Inpaint(request));
        Assert.Equal(PixelFormat.Bgra8, result.Patches[0].Image.Format);
        Assert.Equal(request.Image.Data, result.Patches[0].Image.Data);
    }

    [Fact]
    public async Task MismatchedMaskIsInvalidArgumentNamingTheField()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var request = TestDaemon.Inpaint(40, 30);
        request.Mask = TestDaemon.BoxMask(30, 40);
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(request)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("mask", e.Status.Detail);
        Assert.Equal(0, d.Runner.Started);
    }

    [Theory]
    [InlineData("steps")]
    [InlineData("guidance")]
    [InlineData("strength")]
    [InlineData("batch")]
    [InlineData("scheduler")]
    [InlineData("data")]
    [InlineData("format")]
    public async Task LimitsAreInvalidArgumentNamingTheField(string what)
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var request = TestDaemon.Inpaint(8, 8);
        string field;
        switch (what)
        {
            case "steps": request.Settings.Steps = 100000; field = "settings.steps"; break;
            case "guidance": request.Settings.GuidanceScale = float.NaN; field = "settings.guidance_scale"; break;
            case "strength": request.Settings.Strength = 1.5f; field = "settings.strength"; break;
            case "batch": request.Settings.BatchSize = 1000; field = "settings.batch_size"; break;
            case "scheduler": request.Settings.Scheduler = "warp"; field = "settings.scheduler"; break;
            case "data": request.Image.Data = ByteString.CopyFrom(new byte[10]); field = "image.data"; break;
            default: request.Image.Format = PixelFormat.Unspecified; field = "image.format"; break;
        }
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(request)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith(field, e.Status.Detail);
    }

    [Fact]
    public async Task UnknownEngineIsNotFound()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(TestDaemon.Inpaint(engine: "no-such-model"))));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Contains("no-such-model", e.Status.Detail);
    }

    [Fact]
    public async Task AThrowingJobIsInternalAndTheDaemonKeepsServing()
    {
        var runner = new FakeRunner { Fail = r => r.Settings.Prompt == "boom" ? new InvalidOperationException("engine exploded") : null };
        await using var d = await TestDaemon.StartAsync(runner: runner);
        using var client = d.Client();
        var bad = TestDaemon.Inpaint();
        bad.Settings.Prompt = "boom";
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(bad)));
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        // The remote caller learns only that its job failed and under which id; the detail is in the daemon's log.
        Assert.DoesNotContain("engine exploded", e.Status.Detail);
        Assert.DoesNotContain("InvalidOperationException", e.Status.Detail);
        Assert.Matches("^job [0-9a-f]{16} failed \\(error [0-9a-f]{12};", e.Status.Detail);
        var (_, ok) = await InpainterClient.RunToResultAsync(client.Inpaint(TestDaemon.Inpaint()));
        Assert.Single(ok.Patches);
    }

    [Fact]
    public async Task OneMillisecondDeadlineOnASlowJobIsDeadlineExceededAndStopsTheJob()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 100, StepDelay = TimeSpan.FromMilliseconds(50) });
        // No local timer: the server's grpc-timeout handling must produce the status.
        using var client = d.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(TestDaemon.Inpaint(), deadline: TimeSpan.FromMilliseconds(1))));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        await WaitUntil(() => d.Host.Queue.RunningCount == 0 && d.Host.Queue.WaitingCount == 0);
        Assert.Equal(0, d.Runner.Completed);
    }

    [Fact]
    public async Task UnknownMethodIsUnimplemented()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() => RawCalls.CallUnknownAsync(client.Channel));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
    }

    [Fact]
    public async Task CancellingMidStreamStopsTheJob()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 1000, StepDelay = TimeSpan.FromMilliseconds(20) });
        using var client = d.Client();
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in client.Inpaint(TestDaemon.Inpaint(), cancellationToken: cts.Token))
                if (e.EventCase == JobEvent.EventOneofCase.Progress) cts.Cancel();
        });
        await d.Runner.FirstCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await WaitUntil(() => d.Host.Queue.RunningCount == 0);
        Assert.Equal(0, d.Runner.Completed);
    }

    [Fact]
    public async Task CancelJobCancelsARunningAndAQueuedJob()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 1000, StepDelay = TimeSpan.FromMilliseconds(20) });
        using var client = d.Client();
        var first = StartCollecting(client.Inpaint(TestDaemon.Inpaint()));
        await d.Runner.FirstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var second = StartCollecting(client.Inpaint(TestDaemon.Inpaint()));
        await WaitUntil(() => first.Ids.Count > 0 && second.Ids.Count > 0 && d.Host.Queue.WaitingCount == 1);
        var queuedId = second.Ids.First();
        var c2 = await client.CancelJobAsync(queuedId);
        Assert.True(c2.Cancelled);
        Assert.Equal("queued", c2.PreviousState);
        var c1 = await client.CancelJobAsync(first.Ids.First());
        Assert.Equal("running", c1.PreviousState);
        foreach (var t in new[] { first.Task, second.Task })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => t);
            Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        }
        Assert.Equal("unknown", (await client.CancelJobAsync("nope")).PreviousState);
        Assert.Equal(1, d.Runner.Started);
    }

    [Fact]
    public async Task QueuePositionsAreReportedInOrder()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 5, StepDelay = TimeSpan.FromMilliseconds(30) });
        using var client = d.Client();
        var runs = new List<(List<uint> Positions, Task Task)>();
        for (int i = 0; i < 3; i++)
        {
            var positions = new List<uint>();
            runs.Add((positions, Task.Run(async () =>
            {
                await foreach (var e in client.Inpaint(TestDaemon.Inpaint()))
                    if (e.EventCase == JobEvent.EventOneofCase.Queued) lock (positions) positions.Add(e.Queued.Position);
            })));
            await WaitUntil(() => { lock (positions) return positions.Count > 0; });
        }
        await Task.WhenAll(runs.Select(r => r.Task));
        // The third job waited behind two: it saw position 1, then 0.
        Assert.Equal([1u, 0u], runs[2].Positions.Where(p => p <= 1).TakeLast(2));
        Assert.Equal(3, d.Runner.Completed);
    }

    [Fact]
    public async Task GzipBothWaysRoundTrips()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client(new DaemonClientOptions { Gzip = true });
        var request = TestDaemon.Inpaint(64, 48);
        var (_, result) = await InpainterClient.RunToResultAsync(client.Inpaint(request));
        Assert.Equal(64u * 48 * 4, (uint)result.Patches[0].Image.Data.Length);
    }

    [Fact]
    public async Task MessageOverTheLimitIsResourceExhausted()
    {
        await using var d = await TestDaemon.StartAsync(o => o.MaxMessageBytes = 100_000);
        using var client = d.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(TestDaemon.Inpaint(200, 200))));
        Assert.True(e.StatusCode == StatusCode.ResourceExhausted, $"{e.StatusCode}: {e.Status.Detail} {e.Status.DebugException}");
    }

    [Fact]
    public async Task HealthCheckAndWatchAndCapabilities()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await client.CheckHealthAsync()).Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await client.CheckHealthAsync(InpainterClient.ServiceName)).Status);
        var nf = await Assert.ThrowsAsync<RpcException>(() => client.CheckHealthAsync("nope"));
        Assert.Equal(StatusCode.NotFound, nf.StatusCode);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = client.WatchHealth(cancellationToken: cts.Token).GetAsyncEnumerator();
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, watch.Current.Status);
        var caps = await client.GetCapabilitiesAsync();
        Assert.Contains("fill", caps.Engines);
        Assert.Contains("ddpm", caps.Schedulers);
        Assert.False(caps.AuthRequired);
        Assert.True(caps.MaxMessageBytes >= 8192UL * 8192 * 4);
    }

    [Fact]
    public async Task CapabilitiesReportTheLimitsValidationEnforces()
    {
        await using var d = await TestDaemon.StartAsync(o => o.MaxBatch = 4);
        using var client = d.Client();
        var caps = await client.GetCapabilitiesAsync();
        Assert.Equal(4u, caps.MaxBatch);
        Assert.Equal(d.Host.Queue.Limits.MaxFeather, caps.MaxFeather);
        Assert.Equal((uint)d.Host.Queue.Limits.MaxSteps, caps.MaxSteps);
        // Exactly at each limit passes validation; one over is INVALID_ARGUMENT naming the field.
        var atLimit = TestDaemon.Inpaint(8, 8);
        atLimit.Settings.BatchSize = caps.MaxBatch;
        atLimit.MaskOptions = new MaskOptions { Feather = caps.MaxFeather };
        var (_, ok) = await InpainterClient.RunToResultAsync(client.Inpaint(atLimit));
        Assert.Single(ok.Patches); // the fake runner makes one patch whatever the batch
        var overBatch = TestDaemon.Inpaint(8, 8);
        overBatch.Settings.BatchSize = caps.MaxBatch + 1;
        var e1 = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(overBatch)));
        Assert.StartsWith("settings.batch_size", e1.Status.Detail);
        var overFeather = TestDaemon.Inpaint(8, 8);
        overFeather.MaskOptions = new MaskOptions { Feather = caps.MaxFeather + 1 };
        var e2 = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(client.Inpaint(overFeather)));
        Assert.StartsWith("mask_options.feather", e2.Status.Detail);
        Assert.Equal(1, d.Runner.Started);
    }

    [Fact]
    public async Task WrongContentTypeIs415()
    {
        await using var d = await TestDaemon.StartAsync();
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(d.Host.GrpcAddress, "/inpaintsuite.v1.Inpainter/ListModels"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        req.Content.Headers.ContentType = new("application/json");
        using var resp = await http.SendAsync(req);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, resp.StatusCode);
    }

    [Fact]
    public async Task Http11OnTheGrpcPortIs400AndGrpcStillServes()
    {
        await using var d = await TestDaemon.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, d.Host.GrpcPort);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /inpaintsuite.v1.Inpainter/ListModels HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
        var text = await new StreamReader(stream).ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        // Stock Kestrel on an HTTP/2-only endpoint: 400 and close (the hand-written transport said 426).
        Assert.StartsWith("HTTP/1.1 400", text);
        // And the daemon still serves gRPC.
        using var client = d.Client();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await client.CheckHealthAsync()).Status);
    }

    [Fact]
    public async Task ShutdownDuringARunningJobGivesTheClientAStatus()
    {
        var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 100000, StepDelay = TimeSpan.FromMilliseconds(20) });
        using var client = d.Client();
        var run = InpainterClient.RunToResultAsync(client.Inpaint(TestDaemon.Inpaint()));
        await d.Runner.FirstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var stop = d.DisposeAsync().AsTask();
        var e = await Assert.ThrowsAsync<RpcException>(() => run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        await stop.WaitAsync(TimeSpan.FromSeconds(20));
    }

    internal static (List<string> Ids, Task Task) StartCollecting(IAsyncEnumerable<JobEvent> events)
    {
        var ids = new List<string>();
        var task = Task.Run(async () =>
        {
            await foreach (var e in events) lock (ids) if (ids.Count == 0) ids.Add(e.JobId);
        });
        return (ids, task);
    }

    internal static async Task WaitUntil(Func<bool> condition, double seconds = 10)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException("condition not reached in " + seconds + " s");
            await Task.Delay(10);
        }
    }
}
