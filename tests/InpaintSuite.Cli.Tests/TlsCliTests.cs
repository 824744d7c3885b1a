using System.Diagnostics;
using InpaintSuite.Daemon;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Microsoft.Extensions.Logging;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>The CLI client against a TLS daemon: --tls-ca and INPAINTSUITE_TLS_CA, and the message when trust is missing.</summary>
public sealed class TlsCliTests(TestCertificates certs) : IClassFixture<TestCertificates>, IDisposable
{
    private const string Token = "cli-tls-token-0123456789abcdef";
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-clitls-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static Task<(int Code, string Out, string Err)> Cli(params string[] args) => CliHarness.RunAsync(args);

    [Fact]
    public async Task InpaintAndHealthOverTlsWithTlsCa()
    {
        var img = new RgbaImage(40, 30);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (byte)(i * 7);
        for (int y = 10; y < 20; y++) for (int x = 10; x < 25; x++) img.Row8(y)[4 * x + 3] = 0;
        string input = Path.Combine(_dir, "in.png"), output = Path.Combine(_dir, "out.png");
        ImageCodec.SavePng(img, input);

        await using var setup = EngineSetup.Create(null);
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions
        {
            Host = "127.0.0.2", GrpcPort = 0, BridgePort = -1, AuthToken = Token, Runner = setup.Runner, Catalog = setup.Catalog,
            TlsCertificate = certs.CertPem, TlsKey = certs.KeyPem, MinimumLogLevel = LogLevel.Warning,
        });
        var url = daemon.GrpcAddress.ToString();
        Assert.StartsWith("https://", url);

        var (code, _, err) = await Cli("inpaint", input, "-o", output, "--engine", "fill", "--daemon", url, "--token", Token, "--tls-ca", certs.CaPem);
        Assert.True(code == 0, err);
        Assert.Equal((40, 30), (ImageCodec.Load(output).Width, ImageCodec.Load(output).Height));

        (code, var stdout, err) = await Cli("health", "--daemon", url, "--tls-ca", certs.CaPem);
        Assert.True(code == 0, err);
        Assert.Equal("SERVING", stdout.Trim());

        // Without trust for the daemon's CA: one line saying the certificate was rejected, exit 1.
        (code, _, err) = await Cli("inpaint", input, "-o", output, "--engine", "fill", "--daemon", url, "--token", Token, "--tls-ca", certs.OtherCaPem);
        Assert.Equal(1, code);
        Assert.Contains("server certificate rejected", err);
        Assert.Single(err.Trim().Split('\n'));

        (code, _, err) = await Cli("health", "--daemon", url, "--tls-ca", Path.Combine(_dir, "missing.pem"));
        Assert.Equal(2, code);
        Assert.Contains("--tls-ca: certificate file not found", err);

        // INPAINTSUITE_TLS_CA in a child process (the in-process environment is shared by parallel tests).
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "inpaintsuite.dll"), "health", "--daemon", url }) psi.ArgumentList.Add(a);
        psi.Environment["INPAINTSUITE_TLS_CA"] = certs.CaPem;
        using var p = Process.Start(psi)!;
        var outText = await p.StandardOutput.ReadToEndAsync();
        var errText = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, errText);
        Assert.Equal("SERVING", outText.Trim());
    }
}
