using System.Text;
using System.Text.Json.Nodes;
using InpaintSuite.Daemon.A1111;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using Xunit;

namespace InpaintSuite.Daemon.Tests.A1111;

/// <summary>The pure parts of the A1111 API: lenient parsing, sampler mapping, infotext, images (no host).</summary>
public sealed class A1111ParsingTests
{
    private static A1111Request Parse(string json, bool img2img = false) =>
        A1111Request.Parse(A1111Json.Parse(Encoding.UTF8.GetBytes(json)), img2img, maxBatch: 8);

    [Fact]
    public void DefaultsAreA1111s()
    {
        var r = Parse("{}");
        Assert.Equal(("", "", -1L, 50, 7.0, 512, 512, 1, 1), (r.Prompt, r.NegativePrompt, r.Seed, r.Steps, r.CfgScale, r.Width, r.Height, r.BatchSize, r.Iterations));
        Assert.Null(r.SamplerName);
        Assert.Equal("euler", A1111Samplers.Resolve(r.SamplerName, r.Scheduler).Ours); // sampler_index defaults to "Euler"
        var i = Parse("""{"init_images": ["x"]}""", img2img: true);
        Assert.Equal((0.75, 4.0, 0, true, 0, false, 0), (i.DenoisingStrength, i.MaskBlur, i.InpaintingFill, i.InpaintFullRes, i.InpaintFullResPadding, i.InpaintingMaskInvert, i.ResizeMode));
    }

    [Fact]
    public void StringsAreCoercedUnknownFieldsIgnoredAndSamplerIndexIsTheLegacyName()
    {
        // What Auto-Photoshop-SD sends: input values as strings, its own bookkeeping fields beside A1111's.
        var r = Parse("""
            {"steps": "20", "cfg_scale": "7.5", "seed": "-1", "batch_size": "2", "width": 517, "height": "384",
             "sampler_index": "DPM++ 2M Karras", "selection_info": {"left": 0}, "uniqueDocumentId": "abc", "use_sharp_mask": false,
             "prompt_shortcut_ui_dict": {}, "mode": "txt2img", "restore_faces": false, "alwayson_scripts": {}, "enable_hr": null}
            """);
        Assert.Equal((20, 7.5, -1L, 2, 512, 384), (r.Steps, r.CfgScale, r.Seed, r.BatchSize, r.Width, r.Height)); // 517 floors to 512
        Assert.Equal(("DPM++ 2M Karras", "sampler_index"), (r.SamplerName, r.SamplerField));
        var (sampler, ours, karras) = A1111Samplers.Resolve(r.SamplerName, r.Scheduler);
        Assert.Equal(("DPM++ 2M", "dpmpp_2m_karras", true), (sampler.Name, ours, karras));
        // sampler_name wins over sampler_index.
        Assert.Equal("DDIM", Parse("""{"sampler_name": "DDIM", "sampler_index": "Euler"}""").SamplerName);
        // Booleans as 0/1 and strings, like pydantic.
        var b = Parse("""{"init_images": ["x"], "inpaint_full_res": 0, "include_init_images": "true", "inpainting_mask_invert": "1"}""", img2img: true);
        Assert.Equal((false, true, true), (b.InpaintFullRes, b.IncludeInitImages, b.InpaintingMaskInvert));
    }

    [Theory]
    [InlineData("Euler a", null, "euler_ancestral")]
    [InlineData("k_euler_a", null, "euler_ancestral")]
    [InlineData("Euler", "automatic", "euler")]
    [InlineData("DPM++ 2M", null, "dpmpp_2m")]
    [InlineData("DPM++ 2M", "Karras", "dpmpp_2m_karras")]
    [InlineData("dpm++ 2m karras", null, "dpmpp_2m_karras")]
    [InlineData("DDIM", null, "ddim")]
    [InlineData("PLMS", null, "pndm")]
    [InlineData("PNDM", null, "pndm")]
    [InlineData("UniPC", null, "unipc")]
    [InlineData("LCM", null, "lcm")]
    [InlineData("DDPM", null, "ddpm")]
    public void Sampler_names_map_to_our_schedulers(string sampler, string? scheduler, string ours)
        => Assert.Equal(ours, A1111Samplers.Resolve(sampler, scheduler).Ours);

    [Theory]
    [InlineData("LMS", null, "sampler_index", "LMS")]
    [InlineData("Heun", null, "sampler_index", "Heun")]
    [InlineData("DPM2 a Karras", null, "sampler_index", "DPM2 a Karras")]
    [InlineData("Euler a", "exponential", "scheduler", "exponential")]
    [InlineData("Euler a", "karras", "scheduler", "Karras")]
    public void UnknownSamplersAreA422NamingTheFieldAndTheAcceptedValues(string sampler, string? scheduler, string field, string named)
    {
        var e = Assert.Throws<A1111Exception>(() => A1111Samplers.Resolve(sampler, scheduler, "sampler_index"));
        Assert.Equal(422, e.Status);
        Assert.Equal(field, e.Field);
        Assert.StartsWith(field + ":", e.Message);
        Assert.Contains(named, e.Message);
        Assert.Contains(field == "scheduler" ? "automatic" : "Euler a, Euler", e.Message);
        Assert.Equal(e.Message, e.ToJson()["detail"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"steps": "abc"}""", "steps", "int_parsing")]
    [InlineData("""{"steps": 2.5}""", "steps", "int_from_float")]
    [InlineData("""{"steps": [1]}""", "steps", "int_type")]
    [InlineData("""{"steps": 0}""", "steps", "value_error")]
    [InlineData("""{"cfg_scale": "x"}""", "cfg_scale", "float_parsing")]
    [InlineData("""{"send_images": "maybe"}""", "send_images", "bool_parsing")]
    [InlineData("""{"batch_size": 9}""", "batch_size", "value_error")]
    [InlineData("""[1, 2]""", "body", "dict_type")]
    public void BadValuesAreFastAPIs422WithLoc(string json, string field, string type)
    {
        var e = Assert.Throws<A1111Exception>(() => Parse(json));
        Assert.Equal((422, "RequestValidationError", field), (e.Status, e.Error, e.Field));
        var detail = (JsonArray)e.ToJson()["detail"]!;
        Assert.Equal("body", detail[0]!["loc"]![0]!.GetValue<string>());
        Assert.Equal(field, detail[0]!["loc"]![1]!.GetValue<string>());
        Assert.Equal(type, detail[0]!["type"]!.GetValue<string>());
        Assert.Equal(["error", "detail", "body", "errors"], e.ToJson().Select(p => p.Key));
    }

    [Fact]
    public void Img2imgWithoutInitImagesIsA1111s404AndScriptsAre422()
    {
        Assert.Equal(404, Assert.Throws<A1111Exception>(() => Parse("{}", img2img: true)).Status);
        Assert.Equal("Script 'Ultimate SD upscale' not found", Assert.Throws<A1111Exception>(() => Parse("""{"script_name": "Ultimate SD upscale"}""")).Message);
        Assert.Equal(422, Assert.Throws<A1111Exception>(() => Parse("""{"alwayson_scripts": {"adetailer": {"args": []}}}""")).Status);
    }

    [Fact]
    public void Base64ImagesComeAsDataUrlsOrBareWithWhitespaceOrNoPadding()
    {
        var bytes = new byte[] { 137, 80, 78, 71, 1, 2, 3, 4, 250 };
        var b64 = Convert.ToBase64String(bytes);
        Assert.Equal(bytes, A1111Images.DecodeBase64(b64, "mask"));
        Assert.Equal(bytes, A1111Images.DecodeBase64("data:image/png;base64," + b64, "mask"));
        Assert.Equal(bytes, A1111Images.DecodeBase64(" data:image/png;base64, " + b64[..6] + "\n" + b64[6..] + " ", "mask"));
        Assert.Equal(bytes, A1111Images.DecodeBase64(b64.TrimEnd('='), "mask"));
        var e = Assert.Throws<A1111Exception>(() => A1111Images.DecodeBase64("not base64!!", "init_images[0]"));
        Assert.Equal((500, "init_images[0]"), (e.Status, e.Field));
        Assert.StartsWith("Invalid encoded image", e.Message);
    }

    [Fact]
    public void MasksUseAlphaWhenItVariesElseLuminanceBinarisedAbove128AndInvert()
    {
        // 5x3 (non-square): RGBA mask painted with opaque white on transparent (openOutpaint-style) ...
        var rgba = new RgbaImage(5, 3);
        rgba.Row8(1)[4 * 2 + 3] = 255; rgba.Row8(1)[4 * 2] = 255;
        rgba.Row8(2)[4 * 4 + 3] = 129;
        var m = A1111Images.ToMask(rgba, invert: false);
        Assert.Equal(255, m.Row(1)[2]);
        Assert.Equal(255, m.Row(2)[4]);
        Assert.Equal(2, m.Data.Count(v => v == 255));
        // ... an opaque grey/RGB mask uses luminance (white = repaint), 128 is kept.
        var grey = new RgbaImage(5, 3);
        for (int i = 0; i < 15; i++) { grey.Data[4 * i] = grey.Data[4 * i + 1] = grey.Data[4 * i + 2] = (byte)(i == 7 ? 255 : i == 8 ? 128 : 0); grey.Data[4 * i + 3] = 255; }
        m = A1111Images.ToMask(grey, invert: false);
        Assert.Equal([7], Enumerable.Range(0, 15).Where(i => m.Data[i] == 255));
        m = A1111Images.ToMask(grey, invert: true);
        Assert.Equal(13, m.Data.Count(v => v == 255));
        Assert.Equal((0, 0), (m.Data[7], m.Data[8])); // 128 is "keep" both ways
    }

    [Fact]
    public void ResizeModesGiveTheAskedSize()
    {
        var img = new RgbaImage(30, 10);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (byte)(i % 256);
        foreach (int mode in new[] { 0, 1, 2, 3 })
        {
            var r = A1111Images.Resize(img, mode, 16, 24);
            Assert.Equal((16, 24), (r.Width, r.Height));
        }
        Assert.Same(img, A1111Images.Resize(img, 1, 30, 10));
    }

    [Fact]
    public void InfotextIsA1111sAndPngInfoReadsItBack()
    {
        var req = Parse("""{"prompt": "a cat, sitting", "negative_prompt": "blurry", "steps": 12, "cfg_scale": 6.5, "sampler_name": "DPM++ 2M", "scheduler": "karras"}""");
        var run = new A1111RunInfo
        {
            Request = req, SamplerName = "DPM++ 2M", ScheduleType = "Karras", Model = "tiny-sd-base", Seed = 42, Subseed = 7,
            AllSeeds = [42, 43], Width = 512, Height = 384, Version = "InpaintSuite 1.0.0",
        };
        var text = A1111Infotext.Create(run, 1);
        Assert.Equal("a cat, sitting\nNegative prompt: blurry\nSteps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 43, Size: 512x384, Model: tiny-sd-base, Version: InpaintSuite 1.0.0", text);
        var parsed = A1111Infotext.Parse(text);
        Assert.Equal("a cat, sitting", parsed["Prompt"]!.GetValue<string>());
        Assert.Equal("blurry", parsed["Negative prompt"]!.GetValue<string>());
        Assert.Equal("43", parsed["Seed"]!.GetValue<string>());
        Assert.Equal(("512", "384"), (parsed["Size-1"]!.GetValue<string>(), parsed["Size-2"]!.GetValue<string>()));

        var info = JsonNode.Parse(A1111Infotext.InfoJson(run))!;
        Assert.Equal(42, info["seed"]!.GetValue<long>());
        Assert.Equal([42L, 43L], info["all_seeds"]!.AsArray().Select(s => s!.GetValue<long>()));
        Assert.Equal(text, info["infotexts"]![1]!.GetValue<string>());
        Assert.Equal(0, info["index_of_first_image"]!.GetValue<int>());

        // The text travels in the PNG (tEXt for Latin-1, iTXt otherwise), at a non-square size.
        var png = ImageCodec.EncodePng(new RgbaImage(7, 3));
        foreach (var value in new[] { text, "ünïcödé ✓ 猫" })
        {
            var tagged = PngText.Add(png, "parameters", value);
            Assert.Equal(value, PngText.Read(tagged)["parameters"]);
            var decoded = ImageCodec.Decode(tagged); // still a valid PNG (CRC checked)
            Assert.Equal((7, 3), (decoded.Width, decoded.Height));
        }
    }

    [Fact]
    public void CoreErrorsMapToA1111FieldsAndStatuses()
    {
        var e = A1111Endpoint.Map(new Pipelines.InvalidRequestException("strength", "strength 0 is outside (0, 1]"));
        Assert.Equal((422, "denoising_strength"), (e.Status, e.Field));
        Assert.Equal("denoising_strength: strength 0 is outside (0, 1]", e.Message);
        Assert.Equal(404, A1111Endpoint.Map(new Pipelines.EngineNotFoundException("x")).Status);
        Assert.Equal(500, A1111Endpoint.Map(new InvalidOperationException("boom")).Status);
        Assert.Equal("InvalidOperationException", A1111Endpoint.Map(new InvalidOperationException("boom")).Error);
    }
}
