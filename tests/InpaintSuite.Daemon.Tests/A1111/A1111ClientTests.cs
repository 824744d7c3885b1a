using System.Text.Json.Nodes;
using InpaintSuite.Imaging;
using InpaintSuite.Protocol;
using Xunit;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Tests.A1111;

/// <summary>
/// The A1111 API with the tiny models over HTTP on loopback: the payloads Auto-Photoshop-SD and stable-gimpfusion
/// build (field for field as their request builders write them), checked field by field; txt2img sizes, seeds,
/// batch, interrupt/skip; text-to-image through gRPC giving the same pixels.
/// </summary>
public sealed class A1111ClientTests(TinyModelsFixture models) : IClassFixture<TinyModelsFixture>, IAsyncLifetime
{
    private A1111Daemon _d = null!;

    public async Task InitializeAsync() => _d = await A1111Daemon.StartAsync(models.Directory);

    public async Task DisposeAsync() => await _d.DisposeAsync();

    private static JsonObject Info(JsonNode body)
    {
        // "info" is a JSON document inside a string, as A1111 sends it.
        var info = body["info"]!.GetValue<string>();
        return (JsonObject)JsonNode.Parse(info)!;
    }

    private static long[] Seeds(JsonObject info) => [.. info["all_seeds"]!.AsArray().Select(s => s!.GetValue<long>())];

    [Fact]
    public async Task AutoPhotoshopSDInpaintPayloadKeepsPixelsOutsideTheMaskAndAnswersLikeA1111()
    {
        // The plugin first switches the model through /options (requestSwapModel) ...
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/options", new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-inpaint" });
        Assert.Equal(200, status);
        Assert.Null(body);
        Assert.Equal("tiny-sd-inpaint", (await _d.GetAsync("/sdapi/v1/options")).Body!["sd_model_checkpoint"]!.GetValue<string>());

        // ... then sends getSettings()'s payload (utility/session.js): UI values as strings, its own fields beside A1111's.
        const int w = 128, h = 64;
        var init = A1111Daemon.Picture(w, h);
        var maskImage = A1111Daemon.BoxMaskImage(w, h, 40, 16, 88, 48);
        string initB64 = A1111Daemon.Png64(init), maskB64 = A1111Daemon.Png64(maskImage);
        var payload = new JsonObject
        {
            ["selection_info"] = new JsonObject { ["left"] = 0, ["top"] = 0, ["right"] = w, ["bottom"] = h, ["width"] = w, ["height"] = h },
            ["inpaint_full_res"] = false,
            ["inpaint_full_res_padding"] = 48, // slInpaintPadding * 4
            ["inpainting_fill"] = 1,
            ["mask_expansion"] = "0",
            ["mask"] = maskB64,
            ["expanded_mask"] = maskB64,
            ["denoising_strength"] = 0.7,
            ["init_images"] = new JsonArray(initB64),
            ["image_cfg_scale"] = 1.5,
            ["alwayson_scripts"] = new JsonObject(),
            ["prompt"] = "a red apple",
            ["negative_prompt"] = "blurry",
            ["original_prompt"] = "a red apple",
            ["original_negative_prompt"] = "blurry",
            ["steps"] = "4",            // document.querySelector('#tiNumberOfSteps').value
            ["sampler_index"] = "Euler a",
            ["width"] = w,
            ["height"] = h,
            ["batch_size"] = 1,
            ["cfg_scale"] = "7",        // slider .value
            ["seed"] = -1,
            ["use_sharp_mask"] = true,
            ["use_prompt_shortcut"] = false,
            ["prompt_shortcut_ui_dict"] = new JsonObject(),
            ["uniqueDocumentId"] = "0f9e-doc",
            ["mode"] = "inpaint",
            ["restore_faces"] = false,
        };
        (status, body, var resp) = await _d.PostAsync("/sdapi/v1/img2img", payload);
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("application/json", resp.Content.Headers.ContentType!.MediaType);
        Assert.Equal(["images", "parameters", "info"], body!.AsObject().Select(p => p.Key));

        var images = body["images"]!.AsArray();
        Assert.Single(images);
        var output = A1111Daemon.Decode64(images[0]!.GetValue<string>());
        Assert.Equal((w, h), (output.Width, output.Height));
        Assert.Equal(0, A1111Daemon.ChangedOutside(init, output, maskImage));
        int changedInside = 0;
        for (int i = 0; i < w * h; i++)
            if (maskImage.Data[4 * i] != 0 && !init.Data.AsSpan(4 * i, 3).SequenceEqual(output.Data.AsSpan(4 * i, 3))) changedInside++;
        Assert.True(changedInside > 48 * 32 / 4, $"only {changedInside} pixels inside the mask changed");

        var info = Info(body);
        var seeds = Seeds(info);
        long seed = info["seed"]!.GetValue<long>();
        Assert.Equal([seed], seeds);
        Assert.InRange(seed, 0, 4294967294L); // seed -1 = random, A1111's range
        Assert.Equal("a red apple", info["prompt"]!.GetValue<string>());
        Assert.Equal("Euler a", info["sampler_name"]!.GetValue<string>());
        Assert.Equal(4, info["steps"]!.GetValue<int>());
        Assert.Equal(7.0, info["cfg_scale"]!.GetValue<double>());
        Assert.Equal(0.7, info["denoising_strength"]!.GetValue<double>(), 6);
        Assert.Equal((w, h), (info["width"]!.GetValue<int>(), info["height"]!.GetValue<int>()));
        Assert.Equal("tiny-sd-inpaint", info["sd_model_name"]!.GetValue<string>());
        var infotext = info["infotexts"]![0]!.GetValue<string>();
        Assert.Equal($"a red apple\nNegative prompt: blurry\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: {w}x{h}, Model: tiny-sd-inpaint, Denoising strength: 0.7, Mask blur: 4, Version: ",
            infotext[..infotext.IndexOf("Version: ", StringComparison.Ordinal)] + "Version: ");

        var parameters = body["parameters"]!;
        Assert.Equal(4, parameters["steps"]!.GetValue<int>());
        Assert.Equal("Euler a", parameters["sampler_index"]!.GetValue<string>());
        Assert.Null(parameters["init_images"]); // include_init_images false
        Assert.Null(parameters["mask"]);
        Assert.Equal(1, parameters["inpainting_fill"]!.GetValue<int>());

        // The plugin then asks png-info for each image's metadata with a data URL (getAuto1111Metadata).
        (status, var png, _) = await _d.PostAsync("/sdapi/v1/png-info", new JsonObject { ["image"] = "data:image/png;base64," + images[0]!.GetValue<string>() });
        Assert.Equal(200, status);
        Assert.Equal(infotext, png!["info"]!.GetValue<string>());
        Assert.Equal(seed.ToString(System.Globalization.CultureInfo.InvariantCulture), png["parameters"]!["Seed"]!.GetValue<string>());
        Assert.Equal("a red apple", png["parameters"]!["Prompt"]!.GetValue<string>());
    }

    [Fact]
    public async Task StableGimpfusionInpaintingPayloadBatchOfTwoWithGreyMask()
    {
        // StableGimpfusionPlugin.inpainting(): the layer and its (grey) mask scaled to fitBetween((384,384),(1024,1024)).
        const int w = 512, h = 384;
        var init = A1111Daemon.Picture(w, h, seed: 9);
        var maskImage = A1111Daemon.BoxMaskImage(w, h, 200, 120, 330, 260);
        var payload = new JsonObject
        {
            ["mask"] = A1111Daemon.Png64(maskImage), // R = G = B: written as a grey PNG, as GIMP saves a layer mask
            ["inpaint_full_res"] = true,
            ["inpaint_full_res_padding"] = 10,
            ["inpainting_mask_invert"] = 0,
            ["resize_mode"] = 0,
            ["init_images"] = new JsonArray(A1111Daemon.Png64(init)),
            ["prompt"] = "green grass",
            ["negative_prompt"] = "",
            ["denoising_strength"] = 0.8,
            ["steps"] = 3,
            ["cfg_scale"] = 7.5,
            ["width"] = w,
            ["height"] = h,
            ["sampler_index"] = "Euler a",
            ["batch_size"] = 2,
            ["seed"] = -1,
            ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-inpaint" },
        };
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/img2img", payload);
        Assert.True(status == 200, body?.ToJsonString());
        // ResponseLayers: json.loads(response["info"]) -> infotexts, all_seeds; one layer per seed.
        var info = Info(body!);
        var seeds = Seeds(info);
        Assert.Equal(2, seeds.Length);
        Assert.Equal(seeds[0] + 1, seeds[1]);
        var infotexts = info["infotexts"]!.AsArray();
        Assert.Equal(2, infotexts.Count);
        for (int i = 0; i < 2; i++) Assert.Contains($"Seed: {seeds[i]},", infotexts[i]!.GetValue<string>());
        var images = body!["images"]!.AsArray().Select(n => A1111Daemon.Decode64(n!.GetValue<string>())).ToList();
        Assert.Equal(2, images.Count);
        foreach (var img in images) Assert.Equal(0, A1111Daemon.ChangedOutside(init, img, maskImage));
        Assert.False(images[0].Data.AsSpan().SequenceEqual(images[1].Data), "two seeds gave the same image");
    }

    [Fact]
    public async Task StableGimpfusionTxt2imgPayloadAndSizesSeedsBatch()
    {
        // StableGimpfusionPlugin.textToImage()'s body (plus the model override a client sets through /options).
        var payload = new JsonObject
        {
            ["prompt"] = "a lighthouse",
            ["negative_prompt"] = "",
            ["cfg_scale"] = 7.5,
            ["denoising_strength"] = 0.8,
            ["steps"] = 2,
            ["width"] = 384,
            ["height"] = 384,
            ["sampler_index"] = "DPM++ 2M Karras",
            ["batch_size"] = 1,
            ["seed"] = 1234,
            ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base" },
        };
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/txt2img", payload);
        Assert.True(status == 200, body?.ToJsonString());
        var img = A1111Daemon.Decode64(body!["images"]![0]!.GetValue<string>());
        Assert.Equal((384, 384), (img.Width, img.Height));
        var info = Info(body);
        Assert.Equal([1234L], Seeds(info));
        Assert.Contains("Sampler: DPM++ 2M, Schedule type: Karras,", info["infotexts"]![0]!.GetValue<string>());

        // Sizes: any multiple of 8 comes back at exactly that size (non-square, not a multiple of 64).
        async Task<List<RgbaImage>> T2I(int w, int h, long seed, int batch = 1, int iter = 1, string sampler = "Euler")
        {
            var (s, b, _) = await _d.PostAsync("/sdapi/v1/txt2img/", new JsonObject // trailing slash: same route
            {
                ["prompt"] = "x", ["steps"] = "2", ["width"] = w, ["height"] = h, ["seed"] = seed, ["batch_size"] = batch, ["n_iter"] = iter,
                ["sampler_name"] = sampler, ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base" },
            });
            Assert.True(s == 200, b?.ToJsonString());
            Assert.Equal(Enumerable.Range(0, batch * iter).Select(i => seed + i), Seeds(Info(b!)));
            return [.. b!["images"]!.AsArray().Select(n => A1111Daemon.Decode64(n!.GetValue<string>()))];
        }
        var small = await T2I(96, 72, 100);
        Assert.Equal((96, 72), (small[0].Width, small[0].Height));

        // Seeds: the same seed gives the same bytes; image i of a batch uses seed + i (A1111), and so does n_iter.
        var batch = await T2I(64, 64, 500, batch: 2);
        var again = await T2I(64, 64, 500);
        var next = await T2I(64, 64, 501);
        var iterated = await T2I(64, 64, 500, iter: 2);
        Assert.True(batch[0].Data.AsSpan().SequenceEqual(again[0].Data));
        Assert.True(batch[1].Data.AsSpan().SequenceEqual(next[0].Data));
        Assert.True(iterated[1].Data.AsSpan().SequenceEqual(next[0].Data));
        Assert.False(batch[0].Data.AsSpan().SequenceEqual(batch[1].Data));
        // Another sampler is another scheduler: other pixels from the same noise.
        var ddim = await T2I(64, 64, 500, sampler: "DDIM");
        Assert.False(ddim[0].Data.AsSpan().SequenceEqual(again[0].Data));
    }

    [Fact]
    public async Task ProgressShowsTheRunningRequestWithAPreviewAndInterruptStopsIt()
    {
        var t2i = new JsonObject
        {
            ["prompt"] = "slow", ["steps"] = 400, ["width"] = 64, ["height"] = 64, ["n_iter"] = 3, ["seed"] = 1, ["sampler_name"] = "Euler",
            ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base" },
        };
        var idle = (await _d.GetAsync("/sdapi/v1/progress")).Body!;
        Assert.Equal(0.0, idle["progress"]!.GetValue<double>());
        Assert.Equal(0, idle["state"]!["job_count"]!.GetValue<int>());

        var pending = _d.PostAsync("/sdapi/v1/txt2img", t2i);
        JsonNode? p = null;
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until)
        {
            p = (await _d.GetAsync("/sdapi/v1/progress?skip_current_image=false")).Body!;
            if (p["state"]!["sampling_step"]!.GetValue<int>() > 0 && p["current_image"] is JsonValue) break;
            await Task.Delay(20);
        }
        Assert.True(p!["state"]!["sampling_step"]!.GetValue<int>() > 0, p.ToJsonString());
        Assert.Equal(3, p["state"]!["job_count"]!.GetValue<int>());
        Assert.Equal("scripts_txt2img", p["state"]!["job"]!.GetValue<string>());
        Assert.InRange(p["progress"]!.GetValue<double>(), 0.01, 1.0);
        var preview = A1111Daemon.Decode64(p["current_image"]!.GetValue<string>());
        Assert.True(preview.Width > 0);
        // skip_current_image leaves the preview out.
        Assert.Null((await _d.GetAsync("/sdapi/v1/progress?skip_current_image=true")).Body!["current_image"]);

        var (status, body, _) = await _d.PostAsync("/sdapi/v1/interrupt", new JsonObject());
        Assert.Equal(200, status);
        Assert.Equal("{}", body!.ToJsonString());
        var done = await pending.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(done.Status == 200, done.Body?.ToJsonString());
        Assert.True(done.Body!["images"]!.AsArray().Count < 3, "interrupt did not stop the request");
        Assert.Equal(0, (await _d.GetAsync("/sdapi/v1/progress")).Body!["state"]!["job_count"]!.GetValue<int>());
    }

    [Fact]
    public async Task SkipDropsOnlyTheCurrentIteration()
    {
        var t2i = new JsonObject
        {
            ["prompt"] = "skip", ["steps"] = 300, ["width"] = 64, ["height"] = 64, ["n_iter"] = 2, ["seed"] = 70, ["sampler_name"] = "Euler",
            ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base" },
        };
        var pending = _d.PostAsync("/sdapi/v1/txt2img", t2i);
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until && (await _d.GetAsync("/sdapi/v1/progress")).Body!["state"]!["sampling_step"]!.GetValue<int>() == 0) await Task.Delay(20);
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/skip", new JsonObject());
        Assert.Equal(200, status);
        Assert.Null(body);
        var done = await pending.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(done.Status == 200, done.Body?.ToJsonString());
        Assert.Single(done.Body!["images"]!.AsArray());
        Assert.Equal([71L], Seeds(Info(done.Body))); // iteration 0 (seed 70) was skipped
    }

    [Fact]
    public async Task BadInputsGetA1111ErrorsAndTheDaemonKeepsServing()
    {
        var init = A1111Daemon.Png64(A1111Daemon.Picture(64, 48));
        JsonObject Img2Img(Action<JsonObject> change)
        {
            var o = new JsonObject { ["init_images"] = new JsonArray(init), ["steps"] = 2, ["width"] = 64, ["height"] = 48, ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-inpaint" } };
            change(o);
            return o;
        }
        var cases = new (JsonObject Body, int Status, string Contains)[]
        {
            (Img2Img(o => o["init_images"] = new JsonArray("%%%not-base64%%%")), 500, "Invalid encoded image: init_images[0]"),
            (Img2Img(o => o["init_images"] = new JsonArray(Convert.ToBase64String("hello"u8.ToArray()))), 500, "Invalid encoded image"),
            (Img2Img(o => o["mask"] = A1111Daemon.Png64(A1111Daemon.BoxMaskImage(48, 64, 0, 0, 10, 10))), 422, "mask is 48x64 but init_images[0] is 64x48"),
            (Img2Img(o => o["sampler_index"] = "LMS Karras"), 422, "sampler_index: sampler 'LMS Karras' is not available; accepted: "),
            (Img2Img(o => o["steps"] = "many"), 422, "steps"),
            (Img2Img(o => o["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "sd_xl_base_1.0.safetensors [31e35c80fc]" }), 404, "Model not found"),
            (Img2Img(o => { o["denoising_strength"] = 0; o["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base" }; }), 422, "denoising_strength"),
        };
        foreach (var (req, expected, text) in cases)
        {
            var (status, body, _) = await _d.PostAsync("/sdapi/v1/img2img", req);
            Assert.True(status == expected, $"{status} {body?.ToJsonString()}");
            Assert.Contains(text, body!["errors"]!.GetValue<string>());
            Assert.NotNull(body["error"]);
            Assert.NotNull(body["detail"]);
        }
        // img2img without a mask on an inpainting model repaints the whole image from it (A1111 does too).
        var whole = await _d.PostAsync("/sdapi/v1/img2img", Img2Img(o => o["denoising_strength"] = 0.5));
        Assert.True(whole.Status == 200, whole.Body?.ToJsonString());
        Assert.Equal((64, 48), (A1111Daemon.Decode64(whole.Body!["images"]![0]!.GetValue<string>()).Width, 48));
        // A model title as A1111 lists them ("name.safetensors [hash]") resolves to ours.
        var ok = await _d.PostAsync("/sdapi/v1/img2img", Img2Img(o => o["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base.safetensors [abc123]" }));
        Assert.True(ok.Status == 200, ok.Body?.ToJsonString());
        Assert.Equal(200, (await _d.GetAsync("/sdapi/v1/sd-models")).Status);
    }

    [Fact]
    public async Task ModelAndSamplerListsHaveA1111sShapes()
    {
        var models = (await _d.GetAsync("/sdapi/v1/sd-models")).Body!.AsArray();
        var titles = models.Select(m => m!["title"]!.GetValue<string>()).ToList();
        Assert.Contains("tiny-sd-inpaint", titles);
        Assert.Contains("tiny-sd-base", titles);
        Assert.Equal("content-aware", titles[^1]);
        Assert.DoesNotContain("tiny-sd-depth", titles); // depth models do not run img2img/txt2img here
        Assert.All(models, m => Assert.Equal(["title", "model_name", "hash", "sha256", "filename", "config"], m!.AsObject().Select(p => p.Key)));
        var samplers = (await _d.GetAsync("/sdapi/v1/samplers")).Body!.AsArray();
        Assert.Equal(["DPM++ 2M", "Euler a", "Euler", "DDIM", "PLMS", "UniPC", "LCM", "DDPM"], samplers.Select(s => s!["name"]!.GetValue<string>()));
        Assert.All(samplers, s => Assert.Equal(["name", "aliases", "options"], s!.AsObject().Select(p => p.Key)));
        var schedulers = (await _d.GetAsync("/sdapi/v1/schedulers")).Body!.AsArray();
        Assert.Equal(["automatic", "karras"], schedulers.Select(s => s!["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task TextToImageThroughGRPCGivesTheA1111PixelsAndCancels()
    {
        using var client = new InpainterClient(_d.Host.GrpcAddress);
        var request = new W.TextToImageRequest
        {
            Width = 96, Height = 72,
            Settings = new W.GenerationSettings { Engine = "tiny-sd-base", Prompt = "x", Steps = 3, GuidanceScale = 7, Scheduler = "euler", Seed = 800, BatchSize = 2 },
            Client = "test",
        };
        var (_, result) = await InpainterClient.RunToResultAsync(client.TextToImage(request, TimeSpan.FromMinutes(2)));
        Assert.Equal(2, result.Patches.Count);
        Assert.Equal([800UL, 801UL], result.Patches.Select(p => p.Seed));
        foreach (var p in result.Patches)
        {
            Assert.Equal((0, 0, 96u, 72u, W.PixelFormat.Rgba8), (p.X, p.Y, p.Image.Width, p.Image.Height, p.Image.Format));
            var data = p.Image.Data.Span;
            for (int i = 3; i < data.Length; i += 4) Assert.Equal(255, data[i]); // the whole canvas, weight 1
        }
        Assert.Equal((96u, 72u), (result.CanvasWidth, result.CanvasHeight));

        // The same job through A1111 (its default sampler is Euler, cfg 7) gives the same bytes.
        var (status, body, _) = await _d.PostAsync("/sdapi/v1/txt2img", new JsonObject
        {
            ["prompt"] = "x", ["steps"] = 3, ["width"] = 96, ["height"] = 72, ["seed"] = 801,
            ["override_settings"] = new JsonObject { ["sd_model_checkpoint"] = "tiny-sd-base" },
        });
        Assert.Equal(200, status);
        var viaA1111 = A1111Daemon.Decode64(body!["images"]![0]!.GetValue<string>());
        Assert.True(viaA1111.Data.AsSpan().SequenceEqual(result.Patches[1].Image.Data.Span), "gRPC and A1111 txt2img differ");

        // 16-bit output when asked.
        var deep = await InpainterClient.RunToResultAsync(client.TextToImage(new W.TextToImageRequest
        {
            Width = 64, Height = 64, Format = W.PixelFormat.Rgba16,
            Settings = new W.GenerationSettings { Engine = "tiny-sd-base", Steps = 2, Seed = 1 },
        }));
        Assert.Equal(W.PixelFormat.Rgba16, deep.Result.Patches[0].Image.Format);

        // Cancel mid-run: the stream ends CANCELLED after progress with previews.
        string? jobId = null;
        int previews = 0;
        var ex = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () =>
        {
            await foreach (var e in client.TextToImage(new W.TextToImageRequest { Width = 64, Height = 64, Settings = new W.GenerationSettings { Engine = "tiny-sd-base", Steps = 400, Seed = 3 } }))
            {
                if (e.EventCase == W.JobEvent.EventOneofCase.Progress && e.Progress.Preview != null && jobId == null)
                {
                    previews++;
                    jobId = e.JobId;
                    Assert.True((await client.CancelJobAsync(jobId)).Cancelled);
                }
            }
        });
        Assert.Equal(global::Grpc.Core.StatusCode.Cancelled, ex.StatusCode);
        Assert.Equal(1, previews);

        // Engines that cannot generate, and sizes out of range, are INVALID_ARGUMENT naming the field.
        var bad = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => InpainterClient.RunToResultAsync(client.TextToImage(new W.TextToImageRequest { Width = 64, Height = 64, Settings = new W.GenerationSettings { Engine = "content-aware" } })));
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("txt2img", bad.Status.Detail);
        bad = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => InpainterClient.RunToResultAsync(client.TextToImage(new W.TextToImageRequest { Width = 4, Height = 64 })));
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("width", bad.Status.Detail);

        // The JSON bridge has the same operation.
        using (var bridge = new HttpClient { BaseAddress = _d.Host.BridgeAddress })
        {
            var resp = await bridge.PostAsync("/v1/txt2img", new StringContent(
                """{"width": 64, "height": 48, "settings": {"engine": "tiny-sd-base", "steps": 2, "seed": "9", "batchSize": 2}}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(200, (int)resp.StatusCode);
            var last = JsonNode.Parse((await resp.Content.ReadAsStringAsync()).Trim().Split('\n')[^1])!;
            var patches = last["result"]!["patches"]!.AsArray();
            Assert.Equal(2, patches.Count);
            Assert.Equal(64, patches[0]!["image"]!["width"]!.GetValue<int>());
        }

        var caps = await client.GetCapabilitiesAsync();
        Assert.Contains("tiny-sd-base", caps.TextToImageEngines);
        Assert.Contains("tiny-sd-inpaint", caps.TextToImageEngines);
        Assert.DoesNotContain("tiny-sd-depth", caps.TextToImageEngines);
    }
}
