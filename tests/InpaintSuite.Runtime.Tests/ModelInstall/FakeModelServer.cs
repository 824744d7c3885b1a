using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace InpaintSuite.Runtime.Tests.ModelInstall;

/// <summary>
/// A model mirror on 127.0.0.1 (HttpListener) serving files at /{repo}/resolve/{revision}/{path} with
/// HTTP Range support, plus scripted faults: drop the connection after N bytes, or corrupt a response.
/// </summary>
internal sealed class FakeModelServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Dictionary<string, byte[]> files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> requestCounts = new();
    private int inFlight;

    public FakeModelServer()
    {
        Port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <summary>(url path, Range header or null) of every request, in arrival order.</summary>
    public ConcurrentQueue<(string Path, string? Range)> Requests { get; } = new();
    public long BytesServed => Interlocked.Read(ref bytesServed);
    private long bytesServed;
    public int MaxInFlight { get; private set; }

    /// <summary>Per request: (path, 1-based request number for that path) -> fault.</summary>
    public Func<string, int, Fault>? Faults { get; set; }

    /// <summary>Holds each response this long before sending (to observe parallel downloads).</summary>
    public TimeSpan Hold { get; set; }

    public readonly record struct Fault(int? DropAfterBytes = null, bool Corrupt = false);

    public void Add(string urlPath, byte[] content) => files[urlPath] = content;

    public int RequestsFor(string urlPath) => requestCounts.TryGetValue(urlPath, out var n) ? n : 0;

    private async Task LoopAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(() => HandleAsync(ctx));
        }
    }

    private async Task HandleAsync(HttpListenerContext ctx)
    {
        int now = Interlocked.Increment(ref inFlight);
        lock (listener) MaxInFlight = Math.Max(MaxInFlight, now);
        try
        {
            string path = ctx.Request.Url!.AbsolutePath;
            string? range = ctx.Request.Headers["Range"];
            Requests.Enqueue((path, range));
            int n = requestCounts.AddOrUpdate(path, 1, (_, c) => c + 1);
            if (Hold > TimeSpan.Zero) await Task.Delay(Hold);
            if (!files.TryGetValue(path, out var content))
            {
                ctx.Response.StatusCode = 404;
                ctx.Response.Close();
                return;
            }
            var fault = Faults?.Invoke(path, n) ?? default;
            if (fault.Corrupt)
            {
                content = (byte[])content.Clone();
                content[content.Length / 2] ^= 0x5A;
            }
            long start = 0;
            if (range is { } r && r.StartsWith("bytes=", StringComparison.Ordinal) && r.EndsWith('-'))
            {
                start = long.Parse(r["bytes=".Length..^1]);
                if (start >= content.Length)
                {
                    ctx.Response.StatusCode = 416;
                    ctx.Response.Headers["Content-Range"] = $"bytes */{content.Length}";
                    ctx.Response.Close();
                    return;
                }
                ctx.Response.StatusCode = 206;
                ctx.Response.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
            }
            long length = content.Length - start;
            ctx.Response.ContentLength64 = length;
            ctx.Response.Headers["Accept-Ranges"] = "bytes";
            var output = ctx.Response.OutputStream;
            if (fault.DropAfterBytes is { } drop && drop < length)
            {
                await output.WriteAsync(content.AsMemory((int)start, drop));
                await output.FlushAsync();
                Interlocked.Add(ref bytesServed, drop);
                ctx.Response.Abort(); // connection closes mid-body
                return;
            }
            await output.WriteAsync(content.AsMemory((int)start, (int)length));
            Interlocked.Add(ref bytesServed, length);
            ctx.Response.Close();
        }
        catch (Exception) when (!listener.IsListening) { }
        catch (HttpListenerException) { }
        catch (IOException) { }
        finally { Interlocked.Decrement(ref inFlight); }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public void Dispose()
    {
        try { listener.Stop(); listener.Close(); } catch (ObjectDisposedException) { }
    }
}
