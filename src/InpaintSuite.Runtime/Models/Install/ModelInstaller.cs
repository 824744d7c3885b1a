using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;

namespace InpaintSuite.Runtime.Models.Install;

public sealed class ModelInstallerOptions
{
    /// <summary>The models folder (one sub-folder per installed model).</summary>
    public required string ModelsDirectory { get; init; }

    /// <summary>Overrides the manifest's base URL: an http(s) URL, a URL template, or a local folder.</summary>
    public string? BaseUrl { get; init; }

    /// <summary>Files downloaded at once.</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>Further attempts per file after a dropped connection or a hash mismatch (each resumes or re-fetches).</summary>
    public int Retries { get; init; } = 3;

    /// <summary>Install entries whose sizes/hashes the manifest does not know (hashes are then computed and recorded).</summary>
    public bool AllowUnverified { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>For tests: the handler under the HttpClient.</summary>
    public HttpMessageHandler? Handler { get; init; }
}

/// <summary>Progress of one file: bytes on disk so far of its total (total 0 when unknown).</summary>
public readonly record struct ModelInstallProgress(string Model, string File, long Bytes, long Total, string Stage);

public sealed record InstalledModel(string Name, string Folder, ModelSet? Receipt);

public sealed record ModelVerifyResult(string Name, IReadOnlyList<string> Problems)
{
    public bool Ok => Problems.Count == 0;
}

/// <summary>
/// Downloads and manages model sets in the models folder.
/// <list type="bullet">
/// <item>Downloads go to <c>.staging/NAME/</c> (files as <c>*.part</c> until complete, resumed with HTTP
/// Range across retries and runs), several files at once.</item>
/// <item>Every file is checked against the manifest's size and SHA-256; a mismatch deletes it and fetches
/// it again; a file that never matches fails the install and is never placed.</item>
/// <item>When all files check out, a receipt is written and the staging folder is renamed to
/// <c>NAME/</c> in one step (same file system), so the daemon never sees a half-installed model.
/// Folders starting with '.' are not models.</item>
/// </list>
/// </summary>
public sealed class ModelInstaller : IDisposable
{
    public const string ReceiptFile = ".inpaintsuite-model.json";
    public const string StagingFolder = ".staging";
    public const string TrashFolder = ".trash";
    public const string BaseUrlVariable = "INPAINTSUITE_MODELS_BASE_URL";

    private readonly ModelManifest manifest;
    private readonly ModelInstallerOptions options;
    private readonly HttpClient http;

    public ModelInstaller(ModelManifest manifest, ModelInstallerOptions options)
    {
        this.manifest = manifest;
        this.options = options;
        var handler = options.Handler ?? new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = Math.Max(1, options.Parallelism),
        };
        http = new HttpClient(handler, disposeHandler: options.Handler == null) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("inpaintsuite-models/1.0");
    }

    public ModelManifest Manifest => manifest;
    public string ModelsDirectory => options.ModelsDirectory;

    /// <summary>
    /// Where files come from: options, then $INPAINTSUITE_MODELS_BASE_URL, then the manifest. No built-in
    /// default: the upstream repositories hold PyTorch weights, not the ONNX files listed here.
    /// </summary>
    public string EffectiveBaseUrl =>
        options.BaseUrl is { Length: > 0 } b ? b
        : Environment.GetEnvironmentVariable(BaseUrlVariable) is { Length: > 0 } e ? e
        : manifest.BaseUrl is { Length: > 0 } m ? m
        : throw new ModelInstallException($"no model source configured: pass --base-url (an http(s) mirror or a local folder) or set {BaseUrlVariable}");

    public string FolderOf(string name) => Path.Combine(options.ModelsDirectory, name);

    /// <summary>Installed model folders (with their receipt when installed by this tool).</summary>
    public IReadOnlyList<InstalledModel> ListInstalled()
    {
        if (!Directory.Exists(options.ModelsDirectory)) return [];
        return Directory.EnumerateDirectories(options.ModelsDirectory)
            .Select(d => new DirectoryInfo(d))
            .Where(d => !d.Name.StartsWith('.'))
            .OrderBy(d => d.Name, StringComparer.Ordinal)
            .Select(d => new InstalledModel(d.Name, d.FullName, ReadReceipt(d.FullName)))
            .ToList();
    }

    public static ModelSet? ReadReceipt(string folder)
    {
        var p = Path.Combine(folder, ReceiptFile);
        if (!File.Exists(p)) return null;
        try { return JsonSerializer.Deserialize<ModelSet>(File.ReadAllText(p), ModelManifest.Json); }
        catch (Exception e) when (e is JsonException or IOException) { return null; }
    }

    /// <summary>Installs (or repairs) a model set. Returns its folder.</summary>
    public async Task<string> InstallAsync(string name, IProgress<ModelInstallProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var set = manifest.Find(name) ?? throw new ModelInstallException($"unknown model '{name}' (known: {string.Join(", ", manifest.Models.Select(m => m.Name))})");
        var unverified = set.Unverified.ToList();
        if (unverified.Count > 0 && !options.AllowUnverified)
            throw new ModelInstallException($"the manifest has no size/SHA-256 yet for {unverified.Count} file(s) of '{set.Name}' (e.g. {unverified[0].Path}); refusing an unverifiable install (fill the manifest, or allow unverified installs)");

        Directory.CreateDirectory(options.ModelsDirectory);
        string staging = Path.Combine(options.ModelsDirectory, StagingFolder, set.Name);
        Directory.CreateDirectory(staging);
        using var installLock = TakeLock(Path.Combine(options.ModelsDirectory, StagingFolder, set.Name + ".lock"), set.Name);

        string final = FolderOf(set.Name);
        // Repair: reuse what is already installed and still good, so only bad or missing files are fetched.
        if (Directory.Exists(final))
            foreach (var f in set.Files)
            {
                string have = Path.Combine(final, f.Path), want = Path.Combine(staging, f.Path);
                if (!File.Exists(want) && File.Exists(have) && FileMatches(have, f))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(want)!);
                    File.Copy(have, want);
                }
            }

        var recorded = new ModelFile[set.Files.Count];
        using var gate = new SemaphoreSlim(Math.Max(1, options.Parallelism));
        // The first failure stops the other files (their progress stays on disk for a resume).
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = set.Files.Select(async (file, i) =>
        {
            await gate.WaitAsync(failed.Token).ConfigureAwait(false);
            try { recorded[i] = await FetchFileAsync(set, file, staging, progress, failed.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException) { failed.Cancel(); throw; }
            finally { gate.Release(); }
        }).ToList();
        try { await Task.WhenAll(tasks).ConfigureAwait(false); }
        catch when (tasks.Any(t => t.IsFaulted))
        {
            // Report the first real failure (others may be knock-on cancellations).
            var first = tasks.First(t => t.IsFaulted).Exception!.InnerException!;
            if (first is ModelInstallException or OperationCanceledException) throw first;
            throw new ModelInstallException($"installing '{set.Name}' failed: {first.Message}", first);
        }

        File.WriteAllText(Path.Combine(staging, ReceiptFile), JsonSerializer.Serialize(set with { Files = recorded }, ModelManifest.Json));
        Place(staging, final, set.Name);
        return final;
    }

    /// <summary>Checks an installed model's files against its receipt (or the manifest): missing, wrong size, wrong hash.</summary>
    public ModelVerifyResult Verify(string name)
    {
        string folder = FolderOf(name);
        if (!Directory.Exists(folder)) return new ModelVerifyResult(name, [$"'{name}' is not installed"]);
        var expected = ReadReceipt(folder) ?? manifest.Find(name);
        if (expected == null) return new ModelVerifyResult(name, [$"'{name}' has no install receipt and is not in the manifest: nothing to verify against"]);
        var problems = new List<string>();
        foreach (var f in expected.Files)
        {
            string p = Path.Combine(folder, f.Path);
            if (!File.Exists(p)) { problems.Add($"{f.Path}: missing"); continue; }
            long len = new FileInfo(p).Length;
            if (f.Size is { } size && len != size) { problems.Add($"{f.Path}: size {len}, expected {size}"); continue; }
            if (f.Sha256 is { } h)
            {
                var actual = ModelManifest.HashFile(p);
                if (!string.Equals(actual, h, StringComparison.OrdinalIgnoreCase)) problems.Add($"{f.Path}: SHA-256 {actual}, expected {h}");
            }
        }
        return new ModelVerifyResult(name, problems);
    }

    /// <summary>Removes an installed model (renamed away first, so it disappears in one step). False when not installed.</summary>
    public bool Remove(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.StartsWith('.') || name.IndexOfAny(['/', '\\']) >= 0)
            throw new ModelInstallException($"'{name}' is not a model name");
        string final = FolderOf(name);
        if (!Directory.Exists(final)) return false;
        string trash = Path.Combine(options.ModelsDirectory, TrashFolder, name + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.GetDirectoryName(trash)!);
        Directory.Move(final, trash);
        Directory.Delete(trash, recursive: true);
        return true;
    }

    private static void Place(string staging, string final, string name)
    {
        if (!Directory.Exists(final))
        {
            Directory.Move(staging, final);
            return;
        }
        // Replace: the old folder is renamed away and the new one renamed in; between the two renames the
        // model is briefly absent, never half-present.
        string trash = Path.Combine(Path.GetDirectoryName(final)!, TrashFolder, name + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.GetDirectoryName(trash)!);
        Directory.Move(final, trash);
        Directory.Move(staging, final);
        try { Directory.Delete(trash, recursive: true); } catch (IOException) { /* left for the next run */ }
    }

    private static FileStream TakeLock(string path, string name)
    {
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose); }
        catch (IOException e) { throw new ModelInstallException($"another install of '{name}' is running (lock {path})", e); }
    }

    private static bool FileMatches(string path, ModelFile f) =>
        (f.Size is not { } size || new FileInfo(path).Length == size)
        && (f.Sha256 is not { } h || string.Equals(ModelManifest.HashFile(path), h, StringComparison.OrdinalIgnoreCase));

    private async Task<ModelFile> FetchFileAsync(ModelSet set, ModelFile file, string staging, IProgress<ModelInstallProgress>? progress, CancellationToken ct)
    {
        string done = Path.Combine(staging, file.Path);
        string part = done + ".part";
        Directory.CreateDirectory(Path.GetDirectoryName(done)!);
        if (File.Exists(done))
        {
            if (FileMatches(done, file))
            {
                progress?.Report(new ModelInstallProgress(set.Name, file.Path, new FileInfo(done).Length, file.Size ?? 0, "verified"));
                return Recorded(file, done);
            }
            File.Delete(done);
        }

        var source = ResolveSource(set, file);
        Exception? last = null;
        for (int attempt = 0; attempt <= options.Retries; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                if (source.IsFile) await CopyLocalAsync(source.LocalPath, part, set, file, progress, ct).ConfigureAwait(false);
                else await DownloadAsync(source, part, set, file, progress, ct).ConfigureAwait(false);
            }
            catch (ModelInstallException) { throw; }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                last = e;
                if (IsUnreachable(e)) throw Unreachable(source, e);
                continue; // resume from what is on disk
            }

            progress?.Report(new ModelInstallProgress(set.Name, file.Path, new FileInfo(part).Length, file.Size ?? 0, "verifying"));
            if (FileMatches(part, file))
            {
                File.Move(part, done, overwrite: true);
                return Recorded(file, done);
            }
            long len = new FileInfo(part).Length;
            last = new ModelInstallException(file.Size is { } s && len != s
                ? $"{set.Name}/{file.Path}: downloaded {len} bytes, expected {s}"
                : $"{set.Name}/{file.Path}: SHA-256 mismatch (expected {file.Sha256}, got {ModelManifest.HashFile(part)})");
            File.Delete(part); // corrupt: fetch it again from the start
        }
        throw last as ModelInstallException
            ?? new ModelInstallException($"{set.Name}/{file.Path}: download failed after {options.Retries + 1} attempts: {last?.Message}", last);
    }

    private static ModelFile Recorded(ModelFile f, string path) =>
        f.Sha256 != null && f.Size != null ? f : f with { Size = new FileInfo(path).Length, Sha256 = ModelManifest.HashFile(path) };

    private async Task DownloadAsync(Uri url, string part, ModelSet set, ModelFile file, IProgress<ModelInstallProgress>? progress, CancellationToken ct)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (file.Size is { } size && have > size) { File.Delete(part); have = 0; }
        if (file.Size is { } complete && have == complete && have > 0) return; // only verification left

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);

        bool append;
        if (response.StatusCode == HttpStatusCode.PartialContent && have > 0 && response.Content.Headers.ContentRange?.From == have) append = true;
        else if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0) return; // we have it all; verify decides
        else if (response.StatusCode == HttpStatusCode.OK) append = false;
        else if (response.StatusCode == HttpStatusCode.PartialContent) { File.Delete(part); throw new IOException("server resumed at the wrong offset; starting over"); }
        else throw new ModelInstallException($"{url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");

        long total = file.Size ?? (response.Content.Headers.ContentLength is { } cl ? cl + (append ? have : 0) : 0);
        long written = append ? have : 0;
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using var output = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        long lastReport = 0;
        int n;
        while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            written += n;
            if (written - lastReport >= 1 << 20) { progress?.Report(new ModelInstallProgress(set.Name, file.Path, written, total, "downloading")); lastReport = written; }
        }
        progress?.Report(new ModelInstallProgress(set.Name, file.Path, written, total, "downloading"));
        // A body shorter than announced means the connection dropped: let the caller resume.
        if (response.Content.Headers.ContentLength is { } expected && written - (append ? have : 0) < expected)
            throw new IOException($"connection closed after {written} bytes");
    }

    private static async Task CopyLocalAsync(string from, string part, ModelSet set, ModelFile file, IProgress<ModelInstallProgress>? progress, CancellationToken ct)
    {
        if (!File.Exists(from)) throw new ModelInstallException($"{from} not found in the local model folder");
        await using var input = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await using var output = new FileStream(part, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        await input.CopyToAsync(output, ct).ConfigureAwait(false);
        progress?.Report(new ModelInstallProgress(set.Name, file.Path, output.Length, file.Size ?? output.Length, "copied"));
    }

    /// <summary>The file's location: a URL, or a path in a local folder (<c>{folder}/{name}/{path}</c>).</summary>
    internal Uri ResolveSource(ModelSet set, ModelFile file)
    {
        string b = EffectiveBaseUrl;
        if (b.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || b.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            string url = b.Contains('{')
                ? b.Replace("{repo}", set.Source.Repo).Replace("{revision}", Uri.EscapeDataString(set.Source.Revision)).Replace("{path}", file.Path).Replace("{name}", set.Name)
                : $"{b.TrimEnd('/')}/{set.Source.Repo}/resolve/{Uri.EscapeDataString(set.Source.Revision)}/{file.Path}";
            return new Uri(url);
        }
        string folder = b.StartsWith("file:", StringComparison.OrdinalIgnoreCase) ? new Uri(b).LocalPath : Path.GetFullPath(b);
        if (!Directory.Exists(folder)) throw new ModelInstallException($"model source '{b}' is neither an http(s) URL nor an existing folder");
        return new Uri(Path.Combine(folder, set.Name, file.Path));
    }

    private static bool IsUnreachable(Exception e)
    {
        for (var x = e; x != null; x = x.InnerException)
            if (x is SocketException se && se.SocketErrorCode is SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.NetworkUnreachable
                or SocketError.HostUnreachable or SocketError.TryAgain or SocketError.TimedOut or SocketError.NoData)
                return true;
        return e is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError }
            || (e is OperationCanceledException && e.InnerException is TimeoutException);
    }

    private static ModelInstallException Unreachable(Uri url, Exception e) =>
        new($"cannot reach {url.GetLeftPart(UriPartial.Authority)} ({Reason(e)}): offline? Use --base-url with a reachable mirror or a local folder", e);

    private static string Reason(Exception e)
    {
        for (var x = e; x != null; x = x.InnerException)
            if (x is SocketException se) return se.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused",
                SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => "host not found",
                SocketError.TimedOut => "timed out",
                _ => "network unreachable",
            };
        return e is OperationCanceledException ? "timed out" : e.Message;
    }

    public void Dispose() => http.Dispose();
}
