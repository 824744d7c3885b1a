using System.Text.Json;
using Google.Protobuf;
using InpaintSuite.Protocol;
using Grpc.Core;
using Grpc.Health.V1;
using InpaintSuite.Protocol.V1;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>Interop with a stock gRPC peer: Debian's python3-grpcio as client of our daemon, and as server for our client.</summary>
public sealed class InteropTests
{
    private static string Status(JsonElement e) => e.GetProperty("status").GetString()!;

    [Fact]
    public async Task PythonClientCompletesAnInpaintStream()
    {
        await using var d = await TestDaemon.StartAsync();
        var r = PythonPeer.Client(d.Host.GrpcAddress, "inpaint");
        Assert.Equal("OK", Status(r));
        var kinds = r.GetProperty("kinds").EnumerateArray().Select(k => k.GetString()).ToList();
        Assert.Equal("queued", kinds[0]);
        Assert.Equal("started", kinds[1]);
        Assert.Equal("result", kinds[^1]);
        Assert.Contains("progress", kinds);
        Assert.True(r.GetProperty("patch_ok").GetBoolean());
        Assert.Equal("SERVING", PythonPeer.Client(d.Host.GrpcAddress, "health").GetProperty("serving").GetString());
    }

    [Fact]
    public async Task PythonClientWithGzipCompression()
    {
        await using var d = await TestDaemon.StartAsync();
        var r = PythonPeer.Client(d.Host.GrpcAddress, "gzip");
        Assert.Equal("OK", Status(r));
        Assert.True(r.GetProperty("patch_ok").GetBoolean());
    }

    [Fact]
    public async Task PythonClientGetsInvalidArgumentForAMismatchedMask()
    {
        await using var d = await TestDaemon.StartAsync();
        var r = PythonPeer.Client(d.Host.GrpcAddress, "mismatch");
        Assert.Equal("INVALID_ARGUMENT", Status(r));
        Assert.StartsWith("mask is 30x40 but image is 40x30", r.GetProperty("details").GetString());
    }

    [Fact]
    public async Task PythonClientGetsDeadlineExceededFor1msOnASlowJob()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 200, StepDelay = TimeSpan.FromMilliseconds(20) });
        Assert.Equal("DEADLINE_EXCEEDED", Status(PythonPeer.Client(d.Host.GrpcAddress, "deadline")));
        await GrpcFunctionalTests.WaitUntil(() => d.Host.Queue.RunningCount == 0 && d.Host.Queue.WaitingCount == 0);
        Assert.Equal(0, d.Runner.Completed);
    }

    [Fact]
    public async Task PythonClientGetsUnimplementedForAnUnknownMethod()
    {
        await using var d = await TestDaemon.StartAsync();
        Assert.Equal("UNIMPLEMENTED", Status(PythonPeer.Client(d.Host.GrpcAddress, "unknown")));
    }

    [Fact]
    public async Task PythonClientCancellingMidStreamStopsTheJob()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 1000, StepDelay = TimeSpan.FromMilliseconds(20) });
        var r = PythonPeer.Client(d.Host.GrpcAddress, "cancel");
        Assert.Equal("CANCELLED", Status(r));
        await d.Runner.FirstCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await GrpcFunctionalTests.WaitUntil(() => d.Host.Queue.RunningCount == 0);
        Assert.Equal(0, d.Runner.Completed);
        var jobId = r.GetProperty("job_id").GetString()!;
        using var client = d.Client();
        Assert.Equal("finished", (await client.CancelJobAsync(jobId)).PreviousState);
    }

    [Fact]
    public async Task A64MiBLayerRoundTripsWithPythonGrpcio()
    {
        await using var d = await TestDaemon.StartAsync(runner: new FakeRunner { Steps = 1 });
        var r = PythonPeer.Client(d.Host.GrpcAddress, "big", "4096");
        Assert.Equal("OK", Status(r));
        Assert.Equal(4096 * 4096 * 4, r.GetProperty("bytes").GetInt32());
        Assert.True(r.GetProperty("same").GetBoolean());
    }

    [Fact]
    public async Task CsharpClientAgainstAPythonGrpcioServer()
    {
        using var server = new PythonPeer.Server();
        foreach (var gzip in new[] { false, true })
        {
            using var client = new InpainterClient(server.Address, new DaemonClientOptions { Gzip = gzip });
            var request = TestDaemon.Inpaint(300, 200);
            request.Settings.Seed = 99;
            var kinds = new List<JobEvent.EventOneofCase>();
            var (jobId, result) = await InpainterClient.RunToResultAsync(client.Inpaint(request), e => kinds.Add(e.EventCase));
            Assert.Equal("py-1", jobId);
            Assert.Equal([JobEvent.EventOneofCase.Queued, JobEvent.EventOneofCase.Progress, JobEvent.EventOneofCase.Result], kinds);
            Assert.Equal(request.Image.Data, result.Patches[0].Image.Data);
            Assert.Equal(99UL, result.Patches[0].Seed);
        }
        using var c = new InpainterClient(server.Address);
        Assert.Equal("python-echo", (await c.GetCapabilitiesAsync()).Version);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await c.CheckHealthAsync()).Status);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => c.CheckHealthAsync("nope"))).StatusCode);

        var bad = TestDaemon.Inpaint(40, 30);
        bad.Mask = TestDaemon.BoxMask(30, 40);
        var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(c.Inpaint(bad)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("mask", e.Status.Detail);

        var slow = TestDaemon.Inpaint();
        slow.Settings.Prompt = "slow";
        var de = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(c.Inpaint(slow, deadline: TimeSpan.FromMilliseconds(50))));
        Assert.Equal(StatusCode.DeadlineExceeded, de.StatusCode);

        var un = await Assert.ThrowsAsync<RpcException>(() => RawCalls.CallUnknownAsync(c.Channel));
        Assert.Equal(StatusCode.Unimplemented, un.StatusCode);

        // A 64 MiB layer from our client through python's server and back.
        var big = new InpaintRequest { Image = TestDaemon.RandomImage(4096, 4096, seed: 3) };
        var (_, bigResult) = await InpainterClient.RunToResultAsync(c.Inpaint(big));
        Assert.True(big.Image.Data.Span.SequenceEqual(bigResult.Patches[0].Image.Data.Span));
    }
}
