using System.Net;
using InpaintSuite.Protocol;
using Grpc.Core;
using Grpc.Health.V1;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>A non-loopback host (127.0.0.2) requires the bearer token from a 0600 token file.</summary>
public sealed class AuthTests
{
    [Fact]
    public async Task Host127002RequiresTheTokenFromA0600File()
    {
        var dir = Directory.CreateTempSubdirectory("inpaintsuite-auth-");
        try
        {
            var tokenFile = Path.Combine(dir.FullName, "inpaintsuite", "token");
            await using var d = await TestDaemon.StartAsync(o => { o.Host = "127.0.0.2"; o.TokenFile = tokenFile; });
            Assert.Equal(tokenFile, d.Host.TokenFile);
            Assert.True(File.Exists(tokenFile));
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
            var token = File.ReadAllText(tokenFile).Trim();
            Assert.True(token.Length >= 32);
            Assert.Equal("127.0.0.2", d.Host.GrpcAddress.Host);

            foreach (var wrong in new string?[] { null, "wrong", token + "x" })
            {
                using var c = d.Client(new DaemonClientOptions { BearerToken = wrong });
                var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(c.Inpaint(TestDaemon.Inpaint())));
                Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
                // The health check stays open.
                Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await c.CheckHealthAsync()).Status);
            }
            using (var ok = d.Client(new DaemonClientOptions { BearerToken = token }))
            {
                var (_, result) = await InpainterClient.RunToResultAsync(ok.Inpaint(TestDaemon.Inpaint()));
                Assert.Single(result.Patches);
                Assert.True((await ok.GetCapabilitiesAsync()).AuthRequired);
            }

            Assert.Equal("UNAUTHENTICATED", PythonPeer.Client(d.Host.GrpcAddress, "token", "").GetProperty("status").GetString());
            Assert.Equal("UNAUTHENTICATED", PythonPeer.Client(d.Host.GrpcAddress, "token", "wrong").GetProperty("status").GetString());
            var py = PythonPeer.Client(d.Host.GrpcAddress, "token", token);
            Assert.Equal("OK", py.GetProperty("status").GetString());
            Assert.True(py.GetProperty("patch_ok").GetBoolean());

            using var http = d.BridgeClient();
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/capabilities")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/health")).StatusCode);
            using var authed = new HttpRequestMessage(HttpMethod.Get, "/v1/capabilities");
            authed.Headers.Authorization = new("Bearer", token);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(authed)).StatusCode);

            // A second start reuses the same token.
            await using var again = await TestDaemon.StartAsync(o => { o.Host = "127.0.0.2"; o.TokenFile = tokenFile; });
            Assert.Equal(token, File.ReadAllText(tokenFile).Trim());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("localhost", true)]
    [InlineData("127.0.0.2", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("192.168.1.10", false)]
    public void OnlyTheCanonicalLoopbackAddressesSkipAuth(string host, bool loopback) =>
        Assert.Equal(loopback, DaemonAuth.IsLoopbackHost(host));

    [Fact]
    public void TokenComparison()
    {
        Assert.True(new InpaintSuite.Daemon.Grpc.DaemonToken(null).Accepts(null));
        Assert.True(new InpaintSuite.Daemon.Grpc.DaemonToken("abc").Accepts("Bearer abc"));
        Assert.False(new InpaintSuite.Daemon.Grpc.DaemonToken("abc").Accepts("Bearer abd"));
        Assert.False(new InpaintSuite.Daemon.Grpc.DaemonToken("abc").Accepts("abc"));
        Assert.False(new InpaintSuite.Daemon.Grpc.DaemonToken("abc").Accepts(null));
        Assert.False(new InpaintSuite.Daemon.Grpc.DaemonToken("abc").Accepts("Bearer "));
    }
}
