using InpaintSuite.Daemon;
using InpaintSuite.PaintDotNet.Core;
using InpaintSuite.Protocol;
using InpaintSuite.TestSupport;
using Microsoft.Extensions.Logging;
using Xunit;

namespace InpaintSuite.PaintDotNet.Core.Tests;

/// <summary>
/// The plugin against a studio daemon: bound to 127.0.0.2 (so a token is required) and serving TLS with a certificate
/// made for this run. The dialog's address is https://...; the token and CA come from the user's environment the way
/// the CLI takes them (<see cref="DaemonInpaintService.ForSettings"/>).
/// </summary>
public sealed class DaemonTlsTests(TestCertificates certs) : IClassFixture<TestCertificates>, IAsyncLifetime
{
    private const string Token = "pdn-tls-token-0123456789abcdef01";
    private DaemonHost host = null!;

    public async Task InitializeAsync()
    {
        host = await DaemonHost.StartAsync(new DaemonOptions
        {
            Host = "127.0.0.2",
            GrpcPort = 0,
            BridgePort = -1,
            AuthToken = Token,
            TlsCertificate = certs.CertPem,
            TlsKey = certs.KeyPem,
            Runner = new MeanFillRunner(),
            MinimumLogLevel = LogLevel.Warning,
        });
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    private InpaintSettings Settings => new() { Engine = "fill", Seed = 3, DaemonAddress = host.GrpcAddress.ToString() };

    private static async Task<InpaintRenderer> Run(DaemonInpaintService service, InpaintSettings settings)
    {
        var src = TestImages.Gradient(129, 77);
        var sel = TestImages.IrregularSelection(129, 77);
        return await InpaintJob.RunAsync(service, src, sel, settings, null, CancellationToken.None);
    }

    [Fact]
    public async Task HttpsDaemonWithTokenAndCaFromTheEnvironmentWorksAndEachMissingPieceIsSaidInWords()
    {
        Assert.StartsWith("https://127.0.0.2:", Settings.DaemonAddress);
        Assert.Null(Settings.Validate());
        string? oldToken = Environment.GetEnvironmentVariable(ClientCredentials.TokenVariable);
        string? oldCa = Environment.GetEnvironmentVariable(ClientCredentials.TrustVariable);
        try
        {
            Environment.SetEnvironmentVariable(ClientCredentials.TokenVariable, Token);
            Environment.SetEnvironmentVariable(ClientCredentials.TrustVariable, certs.CaPem);
            using (var service = DaemonInpaintService.ForSettings(Settings))
            {
                Assert.Null(await service.CheckAsync(TimeSpan.FromSeconds(20)));
                var result = await Run(service, Settings);
                Assert.Equal(3UL, result.Seed);
            }

            // No token: the daemon refuses, and the message says so.
            using (var anonymous = new DaemonInpaintService(Settings.DaemonAddress, null, ClientCredentials.LoadTrust(certs.CaPem)))
            {
                var e = await Assert.ThrowsAsync<InpaintServiceException>(() => Run(anonymous, Settings));
                Assert.Equal(InpaintFailure.Rejected, e.Failure);
                Assert.Contains("refused", e.Message);
            }

            // A certificate the plugin does not trust: unreachable, with the reason.
            using (var untrusted = new DaemonInpaintService(Settings.DaemonAddress, Token, ClientCredentials.LoadTrust(certs.OtherCaPem)))
            {
                var e = await Assert.ThrowsAsync<InpaintServiceException>(() => Run(untrusted, Settings));
                Assert.Equal(InpaintFailure.DaemonUnreachable, e.Failure);
                Assert.Contains("certificate rejected", e.Message);
            }

            // INPAINTSUITE_TLS_CA naming a missing file: a sentence naming the variable, before any connection.
            Environment.SetEnvironmentVariable(ClientCredentials.TrustVariable, Path.Combine(certs.Directory, "missing.pem"));
            var missing = Assert.Throws<InpaintServiceException>(() => DaemonInpaintService.ForSettings(Settings));
            Assert.Contains(ClientCredentials.TrustVariable, missing.Message);
            Assert.Contains("missing.pem", missing.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(ClientCredentials.TokenVariable, oldToken);
            Environment.SetEnvironmentVariable(ClientCredentials.TrustVariable, oldCa);
        }
    }
}
