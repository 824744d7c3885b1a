using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using Microsoft.Extensions.Logging;
using Xunit;

namespace InpaintSuite.Daemon.Tests.A1111;

/// <summary>A real daemon (tiny models, or none) with the A1111 API on an ephemeral loopback port.</summary>
public sealed class A1111Daemon : IAsyncDisposable
{
    public required DaemonHost Host { get; init; }
    public required EngineSetup Engines { get; init; }
    public required HttpClient Http { get; init; }
    private string? _emptyDir;

    public static async Task<A1111Daemon> StartAsync(string? modelsDir, Action<DaemonOptions>? configure = null)
    {
        string? empty = null;
        if (modelsDir == null) modelsDir = empty = Directory.CreateTempSubdirectory("inpaintsuite-a1111-nomodels-").FullName;
        var engines = EngineSetup.Create(modelsDir, 1L << 30);
        var options = new DaemonOptions
        {
            GrpcPort = 0,
            BridgePort = 0,
            A1111Port = 0,
            Engines = engines,
            ModelsDirectory = modelsDir,
            WarmUpModel = "none",
            MinimumLogLevel = LogLevel.Warning,
            ShutdownGrace = TimeSpan.FromSeconds(2),
        };
        configure?.Invoke(options);
        var host = await DaemonHost.StartAsync(options);
        return new A1111Daemon
        {
            Host = host,
            Engines = engines,
            Http = new HttpClient { BaseAddress = host.A1111Address, Timeout = TimeSpan.FromMinutes(3) },
            _emptyDir = empty,
        };
    }

    public async Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, JsonNode? body = null, Action<HttpRequestMessage>? configure = null, CancellationToken ct = default)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body != null)
        {
            req.Content = new StringContent(body.ToJsonString(), Encoding.UTF8);
            req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        configure?.Invoke(req);
        var resp = await Http.SendAsync(req, ct);
        var text = await resp.Content.ReadAsStringAsync(ct);
        JsonNode? parsed = null;
        if (resp.Content.Headers.ContentType?.MediaType == "application/json") parsed = JsonNode.Parse(text);
        return ((int)resp.StatusCode, parsed, resp);
    }

    public Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> PostAsync(string path, JsonNode body, CancellationToken ct = default) => SendAsync(HttpMethod.Post, path, body, ct: ct);

    public Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> GetAsync(string path) => SendAsync(HttpMethod.Get, path);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Host.DisposeAsync();
        await Engines.DisposeAsync();
        if (_emptyDir != null) try { Directory.Delete(_emptyDir, true); } catch (IOException) { }
    }

    /// <summary>A deterministic non-square test picture (gradients + texture), opaque.</summary>
    public static RgbaImage Picture(int w, int h, int seed = 3)
    {
        var img = new RgbaImage(w, h);
        var rnd = new Random(seed);
        for (int y = 0; y < h; y++)
        {
            var row = img.Row8(y);
            for (int x = 0; x < w; x++)
            {
                row[4 * x] = (byte)(x * 255 / Math.Max(1, w - 1));
                row[4 * x + 1] = (byte)(y * 255 / Math.Max(1, h - 1));
                row[4 * x + 2] = (byte)rnd.Next(256);
                row[4 * x + 3] = 255;
            }
        }
        return img;
    }

    /// <summary>A black/white mask image (white box = repaint), as editors export it (RGB, opaque).</summary>
    public static RgbaImage BoxMaskImage(int w, int h, int x0, int y0, int x1, int y1)
    {
        var img = new RgbaImage(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                byte v = x >= x0 && x < x1 && y >= y0 && y < y1 ? (byte)255 : (byte)0;
                var p = img.Row8(y).Slice(4 * x, 4);
                p[0] = p[1] = p[2] = v;
                p[3] = 255;
            }
        return img;
    }

    public static string Png64(RgbaImage img) => Convert.ToBase64String(ImageCodec.EncodePng(img));

    public static RgbaImage Decode64(string b64)
    {
        Assert.False(b64.StartsWith("data:", StringComparison.Ordinal), "A1111 returns bare base64");
        return PixelConversions.ConvertDepth(ImageCodec.Decode(Convert.FromBase64String(b64)), PixelDepth.U8);
    }

    /// <summary>How many pixels outside the mask (mask value 0) differ from the input, any channel.</summary>
    public static int ChangedOutside(RgbaImage input, RgbaImage output, RgbaImage maskImage)
    {
        Assert.Equal((input.Width, input.Height), (output.Width, output.Height));
        int changed = 0;
        for (int i = 0; i < input.Width * input.Height; i++)
        {
            if (maskImage.Data[4 * i] != 0) continue;
            if (!input.Data.AsSpan(4 * i, 4).SequenceEqual(output.Data.AsSpan(4 * i, 4))) changed++;
        }
        return changed;
    }
}
