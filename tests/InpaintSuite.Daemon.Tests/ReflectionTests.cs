using Grpc.Core;
using Xunit;
using V1 = Grpc.Reflection.V1;
using V1Alpha = Grpc.Reflection.V1Alpha;

namespace InpaintSuite.Daemon.Tests;

/// <summary>Server reflection (what grpcurl, grpcui and Postman use): both protocol versions list and describe the API.</summary>
public sealed class ReflectionTests
{
    [Fact]
    public async Task ReflectionV1ListsTheServicesAndServesTheInpainterDescriptor()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        using var call = new V1.ServerReflection.ServerReflectionClient(client.Channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new V1.ServerReflectionRequest { ListServices = "" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("inpaintsuite.v1.Inpainter", names);
        Assert.Contains("grpc.health.v1.Health", names);

        await call.RequestStream.WriteAsync(new V1.ServerReflectionRequest { FileContainingSymbol = "inpaintsuite.v1.Inpainter" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var files = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto
            .Select(b => Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(b)).ToList();
        var service = files.SelectMany(f => f.Service).Single(s => s.Name == "Inpainter");
        Assert.Contains(service.Method, m => m.Name == "Inpaint" && m.ServerStreaming);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task ReflectionV1alphaListsTheServices()
    {
        await using var d = await TestDaemon.StartAsync();
        using var client = d.Client();
        using var call = new V1Alpha.ServerReflection.ServerReflectionClient(client.Channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new V1Alpha.ServerReflectionRequest { ListServices = "" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("inpaintsuite.v1.Inpainter", names);
        Assert.Contains("grpc.health.v1.Health", names);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task PythonGrpcioListsTheServicesByReflectionV1AndV1alpha()
    {
        await using var d = await TestDaemon.StartAsync();
        var r = PythonPeer.Client(d.Host.GrpcAddress, "reflection");
        Assert.Equal("OK", r.GetProperty("status").GetString());
        foreach (var version in new[] { "v1", "v1alpha" })
        {
            var names = r.GetProperty(version).EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("inpaintsuite.v1.Inpainter", names);
            Assert.Contains("grpc.health.v1.Health", names);
        }
    }
}
