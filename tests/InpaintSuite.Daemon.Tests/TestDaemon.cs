using Google.Protobuf;
using InpaintSuite.Protocol;
using Grpc.Core;
using InpaintSuite.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon.Tests;

/// <summary>A real daemon on loopback with ephemeral ports and a fake runner.</summary>
public sealed class TestDaemon : IAsyncDisposable
{
    public required DaemonHost Host { get; init; }
    public required FakeRunner Runner { get; init; }

    public static async Task<TestDaemon> StartAsync(Action<DaemonOptions>? configure = null, FakeRunner? runner = null)
    {
        runner ??= new FakeRunner();
        var options = new DaemonOptions
        {
            GrpcPort = 0,
            BridgePort = 0,
            Runner = runner,
            MinimumLogLevel = LogLevel.Warning,
            ShutdownGrace = TimeSpan.FromSeconds(2),
        };
        configure?.Invoke(options);
        return new TestDaemon { Host = await DaemonHost.StartAsync(options), Runner = runner };
    }

    public InpainterClient Client(DaemonClientOptions? options = null) => new(Host.GrpcAddress, options);

    public HttpClient BridgeClient() => new() { BaseAddress = Host.BridgeAddress, Timeout = TimeSpan.FromSeconds(60) };

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();

    public static Image RandomImage(int width, int height, int seed = 1, PixelFormat format = PixelFormat.Rgba8)
    {
        var bytes = new byte[width * height * 4];
        new Random(seed).NextBytes(bytes);
        return new Image { Width = (uint)width, Height = (uint)height, Format = format, Data = UnsafeByteOperations.UnsafeWrap(bytes) };
    }

    public static Mask BoxMask(int width, int height)
    {
        var m = new byte[width * height];
        for (int y = height / 4; y < height * 3 / 4; y++)
            for (int x = width / 4; x < width * 3 / 4; x++) m[y * width + x] = 255;
        return new Mask { Width = (uint)width, Height = (uint)height, Data = ByteString.CopyFrom(m) };
    }

    public static InpaintRequest Inpaint(int width = 37, int height = 23, string engine = "fill") => new()
    {
        Image = RandomImage(width, height),
        Mask = BoxMask(width, height),
        Settings = new GenerationSettings { Engine = engine, Seed = 7 },
        Client = "test",
    };
}

/// <summary>Calls a method the generated client does not have (for UNIMPLEMENTED), with the stock client.</summary>
public static class RawCalls
{
    public static async Task<ListModelsResponse> CallUnknownAsync(global::Grpc.Net.Client.GrpcChannel channel, string service = "inpaintsuite.v1.Inpainter", string method = "Teleport")
    {
        var m = new Method<ListModelsRequest, ListModelsResponse>(MethodType.Unary, service, method,
            Marshallers.Create(r => r.ToByteArray(), ListModelsRequest.Parser.ParseFrom),
            Marshallers.Create(r => r.ToByteArray(), ListModelsResponse.Parser.ParseFrom));
        return await channel.CreateCallInvoker().AsyncUnaryCall(m, null, new CallOptions(), new ListModelsRequest());
    }
}
