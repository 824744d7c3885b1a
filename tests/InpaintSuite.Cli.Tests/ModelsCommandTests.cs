using System.Net;
using System.Net.Sockets;
using InpaintSuite.Cli;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>`inpaintsuite models ...` in-process: install from a folder, verify, remove, offline error.</summary>
public sealed class ModelsCommandTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "inpaintsuite-cli-models-" + Guid.NewGuid().ToString("N"));

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = await Program.RunAsync(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task DescribeInstallVerifyRemoveAndOffline()
    {
        var export = Path.Combine(root, "mirror", "tiny");
        Directory.CreateDirectory(Path.Combine(export, "unet"));
        var weights = new byte[123_457];
        new Random(4).NextBytes(weights);
        File.WriteAllBytes(Path.Combine(export, "unet", "model.onnx"), weights);
        File.WriteAllText(Path.Combine(export, "model_index.json"), "{}");
        var models = Path.Combine(root, "models");

        var describe = await Run("models", "describe", export, "--kind", "inpaint", "--dtype", "fp32", "--repo", "me/tiny");
        Assert.Equal(0, describe.Code);
        var manifest = Path.Combine(root, "manifest.json");
        File.WriteAllText(manifest, "{\"models\":[" + describe.Out + "]}");

        var list = await Run("models", "list", "--manifest", manifest, "--models", models);
        Assert.Equal(0, list.Code);
        Assert.Contains("available  tiny", list.Out);

        var install = await Run("models", "install", "tiny", "--manifest", manifest, "--models", models, "--base-url", Path.Combine(root, "mirror"));
        Assert.True(install.Code == 0, install.Err);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(models, "tiny", "unet", "model.onnx")));
        Assert.Contains("installed  tiny", (await Run("models", "list", "--manifest", manifest, "--models", models)).Out);
        Assert.Equal(0, (await Run("models", "verify", "tiny", "--manifest", manifest, "--models", models)).Code);

        File.WriteAllText(Path.Combine(models, "tiny", "model_index.json"), "{\"x\":1}");
        var bad = await Run("models", "verify", "--manifest", manifest, "--models", models);
        Assert.Equal(1, bad.Code);
        Assert.Contains("FAILED tiny: model_index.json", bad.Out);

        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var offline = await Run("models", "install", "tiny", "--manifest", manifest, "--models", models, "--base-url", $"http://127.0.0.1:{port}");
        Assert.Equal(1, offline.Code);
        Assert.Equal($"inpaintsuite: cannot reach http://127.0.0.1:{port} (connection refused): offline? Use --base-url with a reachable mirror or a local folder", offline.Err.Trim().Split('\n').Last());

        Assert.Equal(0, (await Run("models", "remove", "tiny", "--manifest", manifest, "--models", models)).Code);
        Assert.False(Directory.Exists(Path.Combine(models, "tiny")));
        Assert.Equal(2, (await Run("models", "remove", "tiny", "--manifest", manifest, "--models", models)).Code);

        // The built-in manifest refuses entries whose hashes are still to be filled.
        var unverified = await Run("models", "install", "sd2-inpainting", "--models", models, "--base-url", Path.Combine(root, "mirror"));
        Assert.Equal(1, unverified.Code);
        Assert.Contains("no size/SHA-256 yet", unverified.Err);
    }

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (DirectoryNotFoundException) { }
    }
}
