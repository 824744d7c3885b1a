using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using InpaintSuite.Protocol;
using Grpc.Core;
using Grpc.Health.V1;
using InpaintSuite.Protocol.V1;
using InpaintSuite.Daemon.Grpc;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Daemon.Tests;

/// <summary>
/// 5,000 malformed requests against both ports: each is answered with an error status (gRPC status,
/// HTTP error) or a closed connection; health stays SERVING; memory stays bounded.
/// INPAINTSUITE_FUZZ_COUNT raises the count for long runs.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const long MemoryBoundBytes = 1536L * 1024 * 1024;

    [Fact]
    public async Task MalformedRequestsGetErrorsAndTheDaemonStaysHealthy()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("INPAINTSUITE_FUZZ_COUNT"), out var n) ? n : 5000;
        await using var d = await TestDaemon.StartAsync();
        using var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false };
        using var h2 = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        using var h1 = new HttpClient { Timeout = TimeSpan.FromSeconds(60), BaseAddress = d.Host.BridgeAddress };
        using var health = d.Client();
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long peak = 0;
        var sw = Stopwatch.StartNew();

        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var rng = new Random(i);
            var kind = i % 11;
            string outcome;
            try
            {
                outcome = kind switch
                {
                    9 => await Http11OnGrpcPort(d.Host.GrpcPort),
                    7 or 8 => await Bridge(h1, rng, kind),
                    _ => await Grpc(h2, d.Host.GrpcAddress, rng, kind),
                };
            }
            catch (HttpRequestException) { outcome = "connection closed"; }
            catch (IOException) { outcome = "connection closed"; }
            if (outcome == "OK") failures.Enqueue($"request {i} (kind {kind}) got OK");
            outcomes.AddOrUpdate($"{kind}:{outcome}", 1, (_, c) => c + 1);
            if (i % 250 == 0)
            {
                var status = (await health.CheckHealthAsync(cancellationToken: ct)).Status;
                if (status != HealthCheckResponse.Types.ServingStatus.Serving) failures.Enqueue($"health {status} at {i}");
                var ws = Process.GetCurrentProcess().WorkingSet64;
                InterlockedMax(ref peak, ws);
            }
        });

        foreach (var kv in outcomes.OrderBy(k => k.Key)) output.WriteLine($"{kv.Key} x{kv.Value}");
        output.WriteLine($"{count} requests in {sw.Elapsed.TotalSeconds:F1} s; peak working set {peak / 1048576} MiB (bound {MemoryBoundBytes / 1048576} MiB)");
        Assert.Empty(failures);
        Assert.Equal(count, outcomes.Values.Sum());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckHealthAsync()).Status);
        Assert.True(peak < MemoryBoundBytes, $"peak working set {peak} over {MemoryBoundBytes}");
        // Still fully working afterwards.
        var (_, result) = await InpainterClient.RunToResultAsync(health.Inpaint(TestDaemon.Inpaint()));
        Assert.Single(result.Patches);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while ((seen = Interlocked.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    private static readonly string[] Methods =
    [
        "/inpaintsuite.v1.Inpainter/Inpaint", "/inpaintsuite.v1.Inpainter/Outpaint", "/inpaintsuite.v1.Inpainter/ImageToImage",
        "/inpaintsuite.v1.Inpainter/DepthToImage", "/inpaintsuite.v1.Inpainter/CancelJob",
    ];

    private static byte[] Frame(byte flag, ReadOnlySpan<byte> payload, uint? claimed = null)
    {
        var b = new byte[5 + payload.Length];
        b[0] = flag;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(1), claimed ?? (uint)payload.Length);
        payload.CopyTo(b.AsSpan(5));
        return b;
    }

    private static byte[] RandomBytes(Random rng, int max)
    {
        var b = new byte[rng.Next(max)];
        rng.NextBytes(b);
        return b;
    }

    private static IMessage AbsurdRequest(Random rng)
    {
        uint U() => rng.Next(4) switch { 0 => 0, 1 => uint.MaxValue, 2 => (uint)rng.Next(1, 100_000), _ => (uint)rng.Next() };
        var image = new Image { Width = U(), Height = U(), Format = (PixelFormat)rng.Next(-2, 7), Stride = rng.Next(2) == 0 ? 0 : U(), Data = ByteString.CopyFrom(RandomBytes(rng, 64)) };
        var settings = new GenerationSettings
        {
            Steps = U(), BatchSize = U(), Engine = rng.Next(3) == 0 ? "fill" : new string('e', rng.Next(300)),
            GuidanceScale = new[] { float.NaN, float.PositiveInfinity, -1f, 1e30f, 7f }[rng.Next(5)],
            Strength = new[] { float.NaN, -0.5f, 2f, 0.5f }[rng.Next(4)],
            Scheduler = rng.Next(2) == 0 ? "" : "bogus", Prompt = new string('p', rng.Next(10_000)),
        };
        var maskOptions = new MaskOptions { Grow = rng.Next(int.MinValue, int.MaxValue), Feather = new[] { float.NaN, -3f, 1e9f }[rng.Next(3)] };
        var mask = new Mask { Width = U(), Height = U(), Stride = U(), Data = ByteString.CopyFrom(RandomBytes(rng, 32)) };
        return rng.Next(3) switch
        {
            0 => new InpaintRequest { Image = image, Mask = mask, Settings = settings, MaskOptions = maskOptions },
            1 => new OutpaintRequest { Image = image, Extend = new InpaintSuite.Protocol.V1.Extension { Left = U(), Right = U() }, Settings = settings },
            _ => new DepthToImageRequest { Image = image, DepthMap = image, Settings = settings },
        };
    }

    /// <summary>Returns the grpc-status name, or "HTTP nnn".</summary>
    private static async Task<string> Grpc(HttpClient http, Uri address, Random rng, int kind)
    {
        var path = Methods[rng.Next(Methods.Length)];
        var contentType = "application/grpc";
        string? encoding = null;
        string? timeout = null;
        byte[] body;
        switch (kind)
        {
            case 0: body = RandomBytes(rng, 2000); break;
            case 1:
                var whole = Frame(0, TestDaemon.Inpaint().ToByteArray());
                body = whole.AsSpan(0, rng.Next(1, whole.Length - 1)).ToArray();
                break;
            case 2: body = Frame(0, RandomBytes(rng, 100), (uint)rng.Next(400_000_000, int.MaxValue) + (uint)rng.Next(2) * 0x7FFFFFFFu); break;
            case 3: contentType = new[] { "application/json", "text/plain", "application/grpc-web", "application/grpcx", "" }[rng.Next(5)]; body = Frame(0, TestDaemon.Inpaint().ToByteArray()); break;
            case 4: path = Methods[rng.Next(4)]; body = Frame(0, AbsurdRequest(rng).ToByteArray()); break;
            case 5:
                encoding = rng.Next(3) switch { 0 => null, 1 => "gzip", _ => "br" };
                body = Frame(1, RandomBytes(rng, 500));
                break;
            case 6: path = "/" + Convert.ToHexString(RandomBytes(rng, 20)) + "/X"; body = Frame(0, new ListModelsRequest().ToByteArray()); break;
            default:
                // CancelJob would rightly answer OK ("unknown" job) to any bytes that parse: operations only.
                path = Methods[rng.Next(4)];
                timeout = new[] { "1x", "123456789S", "-5m", "S", "1n" }[rng.Next(5)];
                body = Frame(0, AbsurdRequest(rng).ToByteArray());
                break;
        }
        using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(address, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        if (contentType.Length > 0) req.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        req.Headers.TryAddWithoutValidation("te", "trailers");
        if (encoding != null) req.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        if (timeout != null) req.Headers.TryAddWithoutValidation("grpc-timeout", timeout);
        using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        if (resp.StatusCode != HttpStatusCode.OK) return "HTTP " + (int)resp.StatusCode;
        await resp.Content.CopyToAsync(Stream.Null);
        var status = resp.Headers.TryGetValues("grpc-status", out var h) ? h.First()
            : resp.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First() : "missing";
        return status == "missing" ? "no status" : StatusMapping.WireName((StatusCode)int.Parse(status, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task<string> Bridge(HttpClient http, Random rng, int kind)
    {
        var path = new[] { "/v1/inpaint", "/v1/outpaint", "/v1/img2img", "/v1/depth", "/v1/cancel" }[rng.Next(5)];
        HttpContent content = kind == 7
            ? new ByteArrayContent(RandomBytes(rng, 2000))
            : new StringContent(JsonFormatter.Default.Format(AbsurdRequest(rng)), Encoding.UTF8, "application/json");
        if (path == "/v1/cancel" && kind == 8) content = new StringContent("{\"jobId\": 12345, \"x\": [}", Encoding.UTF8, "application/json");
        using var resp = await http.PostAsync(path, content);
        var text = await resp.Content.ReadAsStringAsync();
        if (resp.StatusCode == HttpStatusCode.OK && text.Contains("\"error\"")) return "stream error";
        return resp.StatusCode == HttpStatusCode.OK ? "OK" : "HTTP " + (int)resp.StatusCode;
    }

    private static async Task<string> Http11OnGrpcPort(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var s = tcp.GetStream();
        await s.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var buf = new byte[64];
        var got = await s.ReadAsync(buf);
        return got == 0 ? "connection closed" : Encoding.ASCII.GetString(buf, 0, Math.Min(got, 12));
    }
}
