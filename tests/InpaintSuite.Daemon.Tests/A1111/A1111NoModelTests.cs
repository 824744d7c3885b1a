using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using InpaintSuite.Imaging;
using Xunit;

namespace InpaintSuite.Daemon.Tests.A1111;

/// <summary>
/// The A1111 API with no model installed (content-aware only), CORS for a browser client (openOutpaint's default
/// origin), A1111's --api-auth basic auth, the small start-up endpoints and error shapes.
/// </summary>
public sealed class A1111NoModelTests : IAsyncLifetime
{
    private const string Allowed = "http://127.0.0.1:3456";
    private A1111Daemon _d = null!;

    public async Task InitializeAsync() => _d = await A1111Daemon.StartAsync(null, o =>
    {
        o.A1111CorsAllowOrigins = Allowed + ", http://localhost:3456";
        o.MaxPixels = 600 * 600;
    });

    public async Task DisposeAsync() => await _d.DisposeAsync();

    [Fact]
    public async Task AClientWithNoModelInstalledInpaintsWithContentAware()
    {
        var models = (await _d.GetAsync("/sdapi/v1/sd-models")).Body!.AsArray();
        Assert.Equal(["content-aware"], models.Select(m => m!["title"]!.GetValue<string>()));
        Assert.Equal("content-aware", (await _d.GetAsync("/sdapi/v1/options")).Body!["sd_model_checkpoint"]!.GetValue<string>());

        // openOutpaint-style: data URLs, an RGBA mask (opaque where to paint, transparent elsewhere), no model override.
        const int w = 96, h = 64;
        var init = A1111Daemon.Picture(w, h, seed: 5);
        var mask = new RgbaImage(w, h);
        for (int y = 20; y < 44; y++)
            for (int x = 30; x < 70; x++) { var p = mask.Row8(y).Slice(4 * x, 4); p[0] = p[1] = p[2] = p[3] = 255; }
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/img2img", new JsonObject
        {
            ["init_images"] = new JsonArray("data:image/png;base64," + A1111Daemon.Png64(init)),
            ["mask"] = "data:image/png;base64," + A1111Daemon.Png64(mask),
            ["width"] = w, ["height"] = h, ["seed"] = "17", ["denoising_strength"] = 1, ["mask_blur"] = 2,
            ["inpainting_fill"] = 2, ["include_init_images"] = true, ["unknown_future_field"] = new JsonArray(1, 2),
        });
        Assert.True(status == 200, body?.ToJsonString());
        var output = A1111Daemon.Decode64(body!["images"]![0]!.GetValue<string>());
        var maskForCompare = A1111Daemon.BoxMaskImage(w, h, 30, 20, 70, 44);
        Assert.Equal(0, A1111Daemon.ChangedOutside(init, output, maskForCompare));
        var info = (JsonObject)JsonNode.Parse(body["info"]!.GetValue<string>())!;
        Assert.Equal(17, info["seed"]!.GetValue<long>());
        Assert.Equal("content-aware", info["sd_model_name"]!.GetValue<string>());
        // include_init_images echoes them back in parameters.
        Assert.StartsWith("data:image/png;base64,", body["parameters"]!["init_images"]![0]!.GetValue<string>());

        // What content-aware cannot do is a 422 saying why.
        (status, body, _) = await _d.PostAsync("/sdapi/v1/txt2img", new JsonObject { ["prompt"] = "a cat" });
        Assert.Equal(422, status);
        Assert.Contains("txt2img needs a diffusion model", body!["detail"]!.GetValue<string>());
        (status, body, _) = await _d.PostAsync("/sdapi/v1/img2img", new JsonObject { ["init_images"] = new JsonArray(A1111Daemon.Png64(init)) });
        Assert.Equal(422, status);
        Assert.Contains("needs a diffusion model", body!["detail"]!.GetValue<string>());
    }

    private async Task<HttpResponseMessage> Preflight(string origin)
    {
        using var req = new HttpRequestMessage(HttpMethod.Options, "/sdapi/v1/txt2img");
        req.Headers.Add("Origin", origin);
        req.Headers.Add("Access-Control-Request-Method", "POST");
        req.Headers.Add("Access-Control-Request-Headers", "content-type");
        return await _d.Http.SendAsync(req);
    }

    [Fact]
    public async Task CorsPreflightFromAnAllowedOriginSucceedsAndFromAnotherFails()
    {
        using var ok = await Preflight(Allowed);
        Assert.Equal(200, (int)ok.StatusCode);
        Assert.Equal(Allowed, ok.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("POST", ok.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Equal("content-type", ok.Headers.GetValues("Access-Control-Allow-Headers").Single());
        Assert.Equal("true", ok.Headers.GetValues("Access-Control-Allow-Credentials").Single());

        using var other = await Preflight("http://evil.example");
        Assert.Equal(400, (int)other.StatusCode);
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
        var err = JsonNode.Parse(await other.Content.ReadAsStringAsync())!;
        Assert.Equal("Disallowed CORS origin", err["detail"]!.GetValue<string>());

        // Actual requests: the allowed origin gets the header on success and on errors, another origin never.
        foreach (var (path, status) in new[] { ("/sdapi/v1/sd-models", 200), ("/sdapi/v1/no-such-thing", 404), ("/sdapi/v1/txt2img", 405) })
        {
            var (s, body, resp) = await _d.SendAsync(HttpMethod.Get, path, configure: r => r.Headers.Add("Origin", "http://localhost:3456"));
            Assert.Equal(status, s);
            Assert.NotNull(body);
            Assert.Equal("http://localhost:3456", resp.Headers.GetValues("Access-Control-Allow-Origin").Single());
            (s, _, resp) = await _d.SendAsync(HttpMethod.Get, path, configure: r => r.Headers.Add("Origin", "http://evil.example"));
            Assert.Equal(status, s);
            Assert.False(resp.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }

    [Fact]
    public async Task ErrorsHaveA1111sShapeAndAHugeImageIsRefusedWhileServingGoesOn()
    {
        var (status, body, _) = await _d.GetAsync("/sdapi/v1/nope");
        Assert.Equal(404, status);
        Assert.Equal(["error", "detail", "body", "errors"], body!.AsObject().Select(p => p.Key));
        Assert.Equal(("HTTPException", "Not Found"), (body["error"]!.GetValue<string>(), body["detail"]!.GetValue<string>()));

        // Bad JSON is FastAPI's 422.
        using (var req = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/txt2img") { Content = new StringContent("{\"prompt\": ", Encoding.UTF8, "application/json") })
        {
            var resp = await _d.Http.SendAsync(req);
            Assert.Equal(422, (int)resp.StatusCode);
            Assert.Equal("RequestValidationError", JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }

        // A picture over the daemon's MaxPixels (600x600 here) is refused before its pixels are decoded.
        var huge = A1111Daemon.Png64(new RgbaImage(1000, 700));
        (status, body, _) = await _d.PostAsync("/sdapi/v1/img2img", new JsonObject { ["init_images"] = new JsonArray(huge), ["mask"] = huge });
        Assert.Equal(413, status);
        Assert.Contains("init_images[0]: the image is larger than the limit of 360000 pixels", body!["detail"]!.GetValue<string>());
        (status, body, _) = await _d.PostAsync("/sdapi/v1/txt2img", new JsonObject { ["width"] = 1024, ["height"] = 1024 });
        Assert.Equal(422, status);
        Assert.Contains("more than the limit", body!["errors"]!.GetValue<string>());

        (status, _, _) = await _d.GetAsync("/sdapi/v1/sd-models/");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task StartUpEndpointsAnswerWellFormed()
    {
        foreach (var path in new[] { "prompt-styles", "loras", "sd-vae", "hypernetworks", "face-restorers", "realesrgan-models", "script-info", "extensions" })
        {
            var (s, b, _) = await _d.GetAsync("/sdapi/v1/" + path);
            Assert.Equal(200, s);
            Assert.Empty(b!.AsArray());
        }
        var scripts = (await _d.GetAsync("/sdapi/v1/scripts")).Body!;
        Assert.Equal(["txt2img", "img2img"], scripts.AsObject().Select(p => p.Key));
        var upscalers = (await _d.GetAsync("/sdapi/v1/upscalers")).Body!.AsArray();
        Assert.Equal(["None", "Lanczos", "Nearest"], upscalers.Select(u => u!["name"]!.GetValue<string>()));
        var flags = (await _d.GetAsync("/sdapi/v1/cmd-flags")).Body!;
        Assert.True(flags["api"]!.GetValue<bool>());
        Assert.Null((await _d.PostAsync("/sdapi/v1/refresh-checkpoints", new JsonObject())).Body);

        // Auto-Photoshop-SD's upscale: extra-single-image with upscaling_resize, at a non-square size.
        var img = A1111Daemon.Picture(30, 20);
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/extra-single-image", new JsonObject
        {
            ["image"] = A1111Daemon.Png64(img), ["upscaling_resize"] = 2, ["upscaler_1"] = "Lanczos", ["resize_mode"] = 0, ["uniqueDocumentId"] = "x",
        });
        Assert.Equal(200, status);
        var up = A1111Daemon.Decode64(body!["image"]!.GetValue<string>());
        Assert.Equal((60, 40), (up.Width, up.Height));
        (status, body, _) = await _d.PostAsync("/sdapi/v1/extra-single-image", new JsonObject { ["image"] = A1111Daemon.Png64(img), ["upscaler_1"] = "R-ESRGAN 4x+" });
        Assert.Equal(422, status);
        Assert.Contains("accepted: None, Lanczos, Nearest", body!["detail"]!.GetValue<string>());

        // png-info of an image without parameters, and unknown checkpoints in /options (A1111: RuntimeError 500).
        (status, body, _) = await _d.PostAsync("/sdapi/v1/png-info", new JsonObject { ["image"] = A1111Daemon.Png64(img) });
        Assert.Equal((200, ""), (status, body!["info"]!.GetValue<string>()));
        (status, body, _) = await _d.PostAsync("/sdapi/v1/options", new JsonObject { ["sd_model_checkpoint"] = "v1-5-pruned.ckpt" });
        Assert.Equal(500, status);
        Assert.Equal("RuntimeError", body!["error"]!.GetValue<string>());
        // Other options are kept and echoed.
        await _d.PostAsync("/sdapi/v1/options", new JsonObject { ["inpainting_mask_weight"] = 0.5 });
        Assert.Equal(0.5, (await _d.GetAsync("/sdapi/v1/options")).Body!["inpainting_mask_weight"]!.GetValue<double>());
    }

    [Fact]
    public async Task ApiAuthIsHttpBasicAndPreflightNeedsNone()
    {
        await using var d = await A1111Daemon.StartAsync(null, o => { o.A1111ApiAuthPasswords = "alice:s3cret,bob:pw"; o.A1111CorsAllowOrigins = Allowed; });
        var (status, body, resp) = await d.GetAsync("/sdapi/v1/sd-models");
        Assert.Equal(401, status);
        Assert.Equal("Not authenticated", body!["detail"]!.GetValue<string>());
        Assert.Equal("Basic", resp.Headers.WwwAuthenticate.Single().Scheme);
        (status, body, _) = await d.SendAsync(HttpMethod.Get, "/sdapi/v1/sd-models", configure: r => r.Headers.Authorization = Basic("alice", "wrong"));
        Assert.Equal(401, status);
        Assert.Equal("Incorrect username or password", body!["detail"]!.GetValue<string>());
        (status, _, _) = await d.SendAsync(HttpMethod.Get, "/sdapi/v1/sd-models", configure: r => r.Headers.Authorization = Basic("bob", "pw"));
        Assert.Equal(200, status);

        using var pre = new HttpRequestMessage(HttpMethod.Options, "/sdapi/v1/img2img");
        pre.Headers.Add("Origin", Allowed);
        pre.Headers.Add("Access-Control-Request-Method", "POST");
        Assert.Equal(200, (int)(await d.Http.SendAsync(pre)).StatusCode);
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

    [Fact]
    public async Task ANonLoopbackHostNeedsTheBearerTokenOrItAsBasicPassword()
    {
        await using var d = await A1111Daemon.StartAsync(null, o => { o.Host = "127.0.0.2"; o.AuthToken = "tok-123"; });
        Assert.Equal(401, (await d.GetAsync("/sdapi/v1/sd-models")).Status);
        Assert.Equal(200, (await d.SendAsync(HttpMethod.Get, "/sdapi/v1/sd-models", configure: r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "tok-123"))).Status);
        Assert.Equal(200, (await d.SendAsync(HttpMethod.Get, "/sdapi/v1/sd-models", configure: r => r.Headers.Authorization = Basic("any", "tok-123"))).Status);
    }
}
