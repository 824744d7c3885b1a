using System.Diagnostics;
using System.Security.Cryptography;
using InpaintSuite.Runtime.Models.Install;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests.ModelInstall;

/// <summary>Installs a small fake model set from a loopback mirror, with the faults real downloads meet.</summary>
public sealed class ModelInstallerTests : IDisposable
{
    private const string Repo = "example/tiny-inpaint";
    private const string Revision = "0123abcd";
    private readonly string root = Path.Combine(Path.GetTempPath(), "inpaintsuite-models-" + Guid.NewGuid().ToString("N"));
    private readonly FakeModelServer server = new();
    private readonly Dictionary<string, byte[]> content = new()
    {
        ["model_index.json"] = "{\"_class_name\":\"StableDiffusionInpaintPipeline\"}"u8.ToArray(),
        ["unet/model.onnx"] = RandomBytes(1, 700_000),
        ["text_encoder/model.onnx"] = RandomBytes(2, 230_001),
        ["tokenizer/vocab.json"] = RandomBytes(3, 5_000),
    };

    public ModelInstallerTests()
    {
        foreach (var (path, bytes) in content) server.Add(UrlPath(path), bytes);
    }

    private string ModelsDir => Path.Combine(root, "models");

    private static string UrlPath(string file) => $"/{Repo}/resolve/{Revision}/{file}";

    private static byte[] RandomBytes(int seed, int n)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private ModelManifest Manifest(Func<string, string>? shaOverride = null) => new()
    {
        BaseUrl = server.BaseUrl,
        Models =
        [
            new ModelSet
            {
                Name = "tiny-inpaint",
                Kind = "inpaint",
                Dtype = "fp32",
                License = "test",
                Source = new ModelSource { Repo = Repo, Revision = Revision },
                Files = content.Select(kv => new ModelFile
                {
                    Path = kv.Key,
                    Size = kv.Value.Length,
                    Sha256 = shaOverride?.Invoke(kv.Key) ?? Convert.ToHexStringLower(SHA256.HashData(kv.Value)),
                }).ToList(),
            },
        ],
    };

    private ModelInstaller Installer(ModelManifest? manifest = null, int retries = 3, string? baseUrl = null, bool allowUnverified = false) =>
        new(manifest ?? Manifest(), new ModelInstallerOptions { ModelsDirectory = ModelsDir, Retries = retries, BaseUrl = baseUrl, AllowUnverified = allowUnverified, Parallelism = 4 });

    private void AssertInstalledIntact(ModelInstaller installer)
    {
        string folder = installer.FolderOf("tiny-inpaint");
        foreach (var (path, bytes) in content)
            Assert.True(File.ReadAllBytes(Path.Combine(folder, path)).AsSpan().SequenceEqual(bytes), path + " differs");
        Assert.True(installer.Verify("tiny-inpaint").Ok, string.Join("; ", installer.Verify("tiny-inpaint").Problems));
        Assert.False(Directory.Exists(Path.Combine(ModelsDir, ModelInstaller.StagingFolder, "tiny-inpaint")), "staging folder left behind");
    }

    [Fact]
    public async Task InstallDownloadsFilesInParallelVerifiesAndPlacesTheFolder()
    {
        server.Hold = TimeSpan.FromMilliseconds(300);
        using var installer = Installer();
        var reports = new List<ModelInstallProgress>();
        var folder = await installer.InstallAsync("tiny-inpaint", new SyncProgress<ModelInstallProgress>(reports.Add));

        Assert.Equal(Path.Combine(ModelsDir, "tiny-inpaint"), folder);
        AssertInstalledIntact(installer);
        Assert.True(server.MaxInFlight >= 2, $"downloads were not parallel (max in flight {server.MaxInFlight})");
        Assert.Contains(reports, r => r.File == "unet/model.onnx" && r.Bytes == 700_000);
        var listed = Assert.Single(installer.ListInstalled());
        Assert.Equal("tiny-inpaint", listed.Name);
        Assert.Equal(content.Count, listed.Receipt!.Files.Count);

        // Re-running is safe and fetches nothing.
        int before = server.Requests.Count;
        await installer.InstallAsync("tiny-inpaint");
        Assert.Equal(before, server.Requests.Count);
        AssertInstalledIntact(installer);
    }

    [Fact]
    public async Task InterruptedDownloadResumesWithARangeRequestInTheSameRunAndInTheNext()
    {
        const int cut = 300_000;
        server.Faults = (path, n) => path == UrlPath("unet/model.onnx") && n == 1 ? new FakeModelServer.Fault(DropAfterBytes: cut) : default;

        // First run gives up at once (no retries): nothing installed, the partial file stays.
        using (var impatient = Installer(retries: 0))
        {
            var e = await Assert.ThrowsAsync<ModelInstallException>(() => impatient.InstallAsync("tiny-inpaint"));
            Assert.Contains("unet/model.onnx", e.Message);
            Assert.False(Directory.Exists(impatient.FolderOf("tiny-inpaint")), "a half download must never look installed");
            Assert.Empty(impatient.ListInstalled());
        }
        var part = Path.Combine(ModelsDir, ModelInstaller.StagingFolder, "tiny-inpaint", "unet", "model.onnx.part");
        Assert.True(File.Exists(part));
        long have = new FileInfo(part).Length;
        Assert.InRange(have, 1, cut);

        // Next run resumes from what is on disk.
        using var installer = Installer();
        await installer.InstallAsync("tiny-inpaint");
        AssertInstalledIntact(installer);
        var unetRequests = server.Requests.Where(r => r.Path == UrlPath("unet/model.onnx")).ToList();
        Assert.Equal($"bytes={have}-", unetRequests.Last().Range);

        // Within one run: a drop is resumed by the retry.
        Directory.Delete(ModelsDir, true);
        int earlier = server.RequestsFor(UrlPath("text_encoder/model.onnx"));
        server.Faults = (path, n) => path == UrlPath("text_encoder/model.onnx") && n == earlier + 1 ? new FakeModelServer.Fault(DropAfterBytes: 100_000) : default;
        while (server.Requests.TryDequeue(out _)) { }
        using var again = Installer();
        await again.InstallAsync("tiny-inpaint");
        AssertInstalledIntact(again);
        var te = server.Requests.Where(r => r.Path == UrlPath("text_encoder/model.onnx")).ToList();
        Assert.Equal(2, te.Count);
        Assert.Null(te[0].Range);
        Assert.StartsWith("bytes=", te[1].Range);
        Assert.NotEqual("bytes=0-", te[1].Range);
    }

    [Fact]
    public async Task CorruptedDownloadIsDetectedAndFetchedAgain()
    {
        server.Faults = (path, n) => path == UrlPath("text_encoder/model.onnx") && n == 1 ? new FakeModelServer.Fault(Corrupt: true) : default;
        using var installer = Installer();
        await installer.InstallAsync("tiny-inpaint");
        AssertInstalledIntact(installer);
        Assert.Equal(2, server.RequestsFor(UrlPath("text_encoder/model.onnx")));
        Assert.Equal(1, server.RequestsFor(UrlPath("unet/model.onnx")));
    }

    [Fact]
    public async Task CorruptedInstalledFileIsReportedByVerifyAndRepairedByInstall()
    {
        using var installer = Installer();
        await installer.InstallAsync("tiny-inpaint");
        var unet = Path.Combine(installer.FolderOf("tiny-inpaint"), "unet", "model.onnx");
        var bytes = File.ReadAllBytes(unet);
        bytes[12345] ^= 1;
        File.WriteAllBytes(unet, bytes);

        var v = installer.Verify("tiny-inpaint");
        Assert.False(v.Ok);
        Assert.Contains(v.Problems, p => p.StartsWith("unet/model.onnx: SHA-256", StringComparison.Ordinal));

        await installer.InstallAsync("tiny-inpaint");
        AssertInstalledIntact(installer);
        Assert.Equal(2, server.RequestsFor(UrlPath("unet/model.onnx")));
        Assert.Equal(1, server.RequestsFor(UrlPath("text_encoder/model.onnx"))); // good files were reused
    }

    [Fact]
    public async Task AFileThatNeverMatchesItsHashIsNeverInstalled()
    {
        var wrong = Manifest(path => path == "tokenizer/vocab.json" ? new string('0', 64) : null!);
        using var installer = Installer(wrong, retries: 2);
        var e = await Assert.ThrowsAsync<ModelInstallException>(() => installer.InstallAsync("tiny-inpaint"));
        Assert.Contains("SHA-256 mismatch", e.Message);
        Assert.Contains("tokenizer/vocab.json", e.Message);
        Assert.False(Directory.Exists(installer.FolderOf("tiny-inpaint")));
        Assert.Empty(installer.ListInstalled());
        Assert.False(File.Exists(Path.Combine(ModelsDir, ModelInstaller.StagingFolder, "tiny-inpaint", "tokenizer", "vocab.json")));
        Assert.Equal(3, server.RequestsFor(UrlPath("tokenizer/vocab.json")));
    }

    [Fact]
    public async Task OfflineGivesAOneLineErrorQuickly()
    {
        int closed = FakeModelServer.FreePort();
        using var installer = Installer(baseUrl: $"http://127.0.0.1:{closed}");
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<ModelInstallException>(() => installer.InstallAsync("tiny-inpaint"));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith($"cannot reach http://127.0.0.1:{closed} (connection refused)", e.Message);
        Assert.False(Directory.Exists(installer.FolderOf("tiny-inpaint")));
    }

    [Fact]
    public async Task InstallsFromALocalFolderAndRemoves()
    {
        var mirror = Path.Combine(root, "mirror");
        foreach (var (path, bytes) in content)
        {
            var p = Path.Combine(mirror, "tiny-inpaint", path);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllBytes(p, bytes);
        }
        using var installer = Installer(baseUrl: mirror);
        await installer.InstallAsync("tiny-inpaint");
        AssertInstalledIntact(installer);
        Assert.Empty(server.Requests);

        Assert.True(installer.Remove("tiny-inpaint"));
        Assert.False(Directory.Exists(installer.FolderOf("tiny-inpaint")));
        Assert.False(installer.Remove("tiny-inpaint"));
        Assert.Empty(installer.ListInstalled());
    }

    [Fact]
    public async Task EntriesWithoutHashesAreRefusedUnlessAllowedAndThenRecorded()
    {
        var m = Manifest();
        var set = m.Models[0];
        var unverified = m with { Models = [set with { Files = set.Files.Select(f => f with { Sha256 = null, Size = null }).ToList() }] };
        using (var strict = Installer(unverified))
        {
            var e = await Assert.ThrowsAsync<ModelInstallException>(() => strict.InstallAsync("tiny-inpaint"));
            Assert.Contains("no size/SHA-256", e.Message);
        }
        using var lax = Installer(unverified, allowUnverified: true);
        await lax.InstallAsync("tiny-inpaint");
        var receipt = ModelInstaller.ReadReceipt(lax.FolderOf("tiny-inpaint"))!;
        Assert.All(receipt.Files, f => Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content[f.Path])), f.Sha256));
        Assert.True(lax.Verify("tiny-inpaint").Ok);
    }

    [Theory]
    [InlineData("../evil.onnx")]
    [InlineData("/etc/passwd")]
    [InlineData("unet/./model.onnx")]
    [InlineData("unet\\model.onnx")]
    public void ManifestRejectsPathsThatCouldEscapeTheModelFolder(string path)
    {
        var json = "{\"models\":[{\"name\":\"x\",\"kind\":\"inpaint\",\"files\":[{\"path\":\"" + path.Replace("\\", "\\\\") + "\"}]}]}";
        var e = Assert.Throws<ModelInstallException>(() => ModelManifest.Parse(json));
        Assert.Contains("relative", e.Message);
    }

    [Fact]
    public void DescribeOfAFolderRoundTripsThroughTheManifest()
    {
        var dir = Path.Combine(root, "export");
        foreach (var (path, bytes) in content)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, path))!);
            File.WriteAllBytes(Path.Combine(dir, path), bytes);
        }
        var set = ModelManifest.Describe(dir, "mine", "inpaint", "fp16", "openrail", "me/mine", "abc");
        var back = ModelManifest.Parse(new ModelManifest { Models = [set] }.ToJson()).Models[0];
        Assert.Equal(content.Count, back.Files.Count);
        Assert.Equal(content.Values.Sum(b => (long)b.Length), back.TotalSize);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content["unet/model.onnx"])), back.Files.Single(f => f.Path == "unet/model.onnx").Sha256);
    }

    [Fact]
    public void TheShippedManifestIsValidAndMarksUnknownHashes()
    {
        var m = ModelManifest.Load(Path.Combine(TestPaths.RepoRoot, "models", "manifest.json"));
        Assert.Contains(m.Models, s => s.Kind == "inpaint");
        Assert.Contains(m.Models, s => s.Kind == "depth");
        Assert.Contains(m.Models, s => s.Kind == "img2img");
        Assert.Contains(m.Models, s => s.Kind == "depth-estimator");
        foreach (var s in m.Models)
        {
            Assert.False(string.IsNullOrEmpty(s.Source.Repo), s.Name);
            Assert.False(string.IsNullOrEmpty(s.License), s.Name);
            // An entry whose hashes are still to be filled says how its files are made.
            if (s.Unverified.Any()) Assert.False(string.IsNullOrEmpty(s.Export), s.Name + " has unknown hashes but no export recipe");
        }
    }

    public void Dispose()
    {
        server.Dispose();
        try { Directory.Delete(root, true); } catch (DirectoryNotFoundException) { }
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) { lock (this) report(value); }
    }
}
