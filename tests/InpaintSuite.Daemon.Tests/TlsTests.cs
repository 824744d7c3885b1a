using System.Net;
using System.Net.Http.Headers;
using InpaintSuite.Protocol;
using Grpc.Core;
using Grpc.Health.V1;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>
/// TLS with a certificate generated per run: a daemon on 127.0.0.2 with TLS and a token, reached by
/// our client and python3-grpcio trusting the issuing CA; wrong trust, plaintext and no token fail.
/// </summary>
public sealed class TlsTests(TestCertificates certs) : IClassFixture<TestCertificates>
{
    private const string Token = "tls-test-token-0123456789abcdef";

    private Task<TestDaemon> StartTls(Action<DaemonOptions>? more = null) => TestDaemon.StartAsync(o =>
    {
        o.Host = "127.0.0.2";
        o.AuthToken = Token;
        o.TlsCertificate = certs.CertPem;
        o.TlsKey = certs.KeyPem;
        more?.Invoke(o);
    });

    private InpainterClient Client(TestDaemon d, string? token, string? trust) =>
        new(d.Host.GrpcAddress, new DaemonClientOptions { BearerToken = token, TrustedCertificates = trust == null ? null : ServerTrust.LoadCertificates(trust) });

    [Fact]
    public async Task CsharpClientOverTlsWithTheCaAndTokenWorksAndWithoutTheTokenIsUnauthenticated()
    {
        await using var d = await StartTls();
        Assert.True(d.Host.Tls);
        Assert.Equal("https://127.0.0.2:" + d.Host.GrpcPort + "/", d.Host.GrpcAddress.ToString());

        using (var ok = Client(d, Token, certs.CaPem))
        {
            var request = TestDaemon.Inpaint();
            var (_, result) = await InpainterClient.RunToResultAsync(ok.Inpaint(request));
            var expected = request.Image.Data.ToByteArray();
            for (int p = 0; p < 37 * 23; p++) expected[p * 4 + 3] = request.Mask.Data[p];
            Assert.Equal(expected, result.Patches[0].Image.Data.ToByteArray());
            Assert.True((await ok.GetCapabilitiesAsync()).AuthRequired);
        }
        using (var anonymous = Client(d, null, certs.CaPem))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => InpainterClient.RunToResultAsync(anonymous.Inpaint(TestDaemon.Inpaint())));
            Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
            // The health check needs no token, over TLS too.
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await anonymous.CheckHealthAsync()).Status);
        }
        // Pinning the server's own certificate instead of its CA works as well.
        using var pinned = Client(d, Token, certs.CertPem);
        Assert.NotEmpty((await pinned.GetCapabilitiesAsync()).Engines);
    }

    [Fact]
    public async Task PythonGrpcioWithSslChannelCredentialsAndTheToken()
    {
        await using var d = await StartTls();
        var ok = PythonPeer.TlsClient(d.Host.GrpcAddress, certs.CaPem, "token", Token);
        Assert.Equal("OK", ok.GetProperty("status").GetString());
        Assert.True(ok.GetProperty("patch_ok").GetBoolean());
        Assert.Equal("UNAUTHENTICATED", PythonPeer.TlsClient(d.Host.GrpcAddress, certs.CaPem, "token", "").GetProperty("status").GetString());
        Assert.Equal("SERVING", PythonPeer.TlsClient(d.Host.GrpcAddress, certs.CaPem, "health").GetProperty("serving").GetString());
        // Trusting another CA: the handshake fails, so the call never reaches the daemon.
        Assert.Equal("UNAVAILABLE", PythonPeer.TlsClient(d.Host.GrpcAddress, certs.OtherCaPem, "token", Token).GetProperty("status").GetString());
    }

    [Fact]
    public async Task WrongTrustAndPlaintextFailWithAClearMessage()
    {
        await using var d = await StartTls();

        using (var other = Client(d, Token, certs.OtherCaPem))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => other.GetCapabilitiesAsync());
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.StartsWith($"TLS to 127.0.0.2:{d.Host.GrpcPort} failed: server certificate rejected:", e.Status.Detail);
            Assert.Contains("does not chain to the trusted certificate(s) given", e.Message);
        }
        using (var system = Client(d, Token, null))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => system.GetCapabilitiesAsync());
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.Contains("system trust store does not accept it", e.Message);
        }
        using (var plaintext = new InpainterClient(new Uri($"http://127.0.0.2:{d.Host.GrpcPort}"), new DaemonClientOptions { BearerToken = Token }))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => plaintext.CheckHealthAsync(deadline: TimeSpan.FromSeconds(20)));
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.Contains($"use https://127.0.0.2:{d.Host.GrpcPort}", e.Message);
        }
        // The daemon keeps serving after the failed handshakes.
        using var ok = Client(d, Token, certs.CaPem);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await ok.CheckHealthAsync()).Status);
    }

    [Fact]
    public async Task ATlsClientAgainstAPlaintextDaemonSaysSo()
    {
        await using var d = await TestDaemon.StartAsync();
        using var c = new InpainterClient(new Uri($"https://127.0.0.1:{d.Host.GrpcPort}"), new DaemonClientOptions { TrustedCertificates = ServerTrust.LoadCertificates(certs.CaPem) });
        var e = await Assert.ThrowsAsync<RpcException>(() => c.CheckHealthAsync(deadline: TimeSpan.FromSeconds(20)));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("is the daemon serving TLS?", e.Message);
    }

    [Fact]
    public async Task JsonBridgeServesHttps()
    {
        await using var d = await StartTls();
        Assert.Equal("https", d.Host.BridgeAddress.Scheme);
        var tls = new ServerTrust(ServerTrust.LoadCertificates(certs.CaPem));
        using var handler = new SocketsHttpHandler { UseProxy = false };
        handler.SslOptions.RemoteCertificateValidationCallback = tls.Validate;
        using var http = new HttpClient(handler) { BaseAddress = d.Host.BridgeAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/health")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/capabilities")).StatusCode);
        using var authed = new HttpRequestMessage(HttpMethod.Post, "/v1/inpaint")
        {
            Content = new StringContent(Google.Protobuf.JsonFormatter.Default.Format(TestDaemon.Inpaint(12, 9)), System.Text.Encoding.UTF8, "application/json"),
        };
        authed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var resp = await http.SendAsync(authed);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        var last = (await resp.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.NotNull(Protocol.V1.JobEvent.Parser.ParseJson(last).Result);

        // Plain HTTP to the HTTPS bridge port gets no answer.
        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{d.Host.BridgePort}"), Timeout = TimeSpan.FromSeconds(20) };
        await Assert.ThrowsAnyAsync<Exception>(() => plain.GetStringAsync("/v1/health"));
    }

    [Theory]
    [InlineData("pem+key")]
    [InlineData("combined")]
    [InlineData("encrypted-key")]
    [InlineData("pfx")]
    public async Task CertificateFormsPemWithKeyCombinedEncryptedAndPfx(string form)
    {
        await using var d = await StartTls(o =>
        {
            (o.TlsCertificate, o.TlsKey, o.TlsPassword) = form switch
            {
                "pem+key" => (certs.CertPem, certs.KeyPem, null),
                "combined" => (certs.CombinedPem, null, null),
                "encrypted-key" => (certs.CertPem, certs.EncryptedKeyPem, TestCertificates.KeyPassword),
                _ => (certs.Pfx, (string?)null, TestCertificates.PfxPassword),
            };
            o.BridgePort = -1;
        });
        using var c = Client(d, Token, certs.CaPem);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await c.CheckHealthAsync()).Status);
    }

    [Fact]
    public void UnusableCertificatesAreConfigurationErrorsNamingTheKey()
    {
        DaemonOptions With(string cert, string? key, string? password) => new() { TlsCertificate = cert, TlsKey = key, TlsPassword = password };
        var wrongPassword = Assert.Throws<DaemonConfigurationException>(() => DaemonTls.Load(With(certs.Pfx, null, "nope")));
        Assert.StartsWith("configuration: Daemon:TlsCertificate cannot be loaded", wrongPassword.Message);
        var noKey = Assert.Throws<DaemonConfigurationException>(() => DaemonTls.Load(With(certs.CertPem, null, null)));
        Assert.Contains("Daemon:TlsCertificate", noKey.Message);
        var missingKey = Assert.Throws<DaemonConfigurationException>(() => DaemonTls.Load(With(certs.CertPem, "/nonexistent.key", null)));
        Assert.StartsWith("configuration: Daemon:TlsKey file not found", missingKey.Message);

        var fromEnv = Assert.Throws<DaemonConfigurationException>(() => DaemonConfiguration.Load(new DaemonConfigInputs
        {
            Environment = new Dictionary<string, string?> { ["INPAINTSUITE_Daemon__TlsCertificate"] = certs.Pfx, ["INPAINTSUITE_Daemon__TlsPassword"] = "nope" },
        }, out _));
        Assert.StartsWith("configuration: Daemon:TlsCertificate (env INPAINTSUITE_Daemon__TlsCertificate) cannot be loaded", fromEnv.Message);
        Assert.DoesNotContain("nope", fromEnv.Message);
    }
}
