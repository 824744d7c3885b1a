using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon.A1111;

/// <summary>
/// AUTOMATIC1111's /sdapi/v1 HTTP API on its own port, so A1111 clients (Auto-Photoshop-SD, openOutpaint,
/// stable-gimpfusion, ...) run against our engines and queue. Shapes follow modules/api/models.py and api.py;
/// see docs/a1111.md for the mapping and where we differ.
/// One-job-at-a-time semantics: /progress reports the A1111 request whose job runs now (or the oldest waiting one),
/// /interrupt stops that request (the images of iterations already done are returned), /skip stops only its
/// current iteration. Jobs from gRPC and other A1111 requests queue in the same job queue as always.
/// </summary>
public sealed partial class A1111Endpoint
{
    public const int DefaultPort = 7860;
    private const string Prefix = "/sdapi/v1/";

    private readonly A1111Jobs _jobs;
    private readonly DaemonOptions _options;
    private readonly IEngineCatalog _catalog;
    private readonly EngineSetup? _engines;
    private readonly ILogger _logger;
    private readonly HashSet<string> _origins;
    private readonly Regex? _originRegex;
    private readonly Dictionary<string, string> _credentials;
    private readonly Lock _gate = new();
    private readonly JsonObject _settings;
    private readonly List<Run> _runs = [];
    private readonly string _version = "InpaintSuite " + (typeof(A1111Endpoint).Assembly.GetName().Version?.ToString(3) ?? "0");

    public A1111Endpoint(A1111Jobs jobs, DaemonOptions options, IEngineCatalog catalog, EngineSetup? engines, ILogger logger)
    {
        _jobs = jobs;
        _options = options;
        _catalog = catalog;
        _engines = engines;
        _logger = logger;
        _origins = new HashSet<string>(Split(options.A1111CorsAllowOrigins).Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
        _originRegex = string.IsNullOrWhiteSpace(options.A1111CorsAllowOriginsRegex) ? null
            : new Regex("^(?:" + options.A1111CorsAllowOriginsRegex + ")$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        _credentials = ParseCredentials(options.A1111ApiAuthPasswords);
        _settings = new JsonObject
        {
            ["sd_model_checkpoint"] = DefaultCheckpoint(),
            ["sd_checkpoint_hash"] = null,
            ["sd_vae"] = "Automatic",
            ["sd_lora"] = "None",
            ["samples_format"] = "png",
            ["return_grid"] = false,
            ["enable_pnginfo"] = true,
            ["CLIP_stop_at_last_layers"] = 1,
            ["live_previews_enable"] = true,
            ["show_progress_every_n_steps"] = 1,
            ["inpainting_mask_weight"] = 1.0,
            ["initial_noise_multiplier"] = 1.0,
            ["img2img_fix_steps"] = false,
            ["eta_noise_seed_delta"] = 0,
            ["jpeg_quality"] = 80,
        };
    }

    /// <summary>"user:password[,user2:password2]" (A1111's --api-auth) to a map.</summary>
    internal static Dictionary<string, string> ParseCredentials(string? spec)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in Split(spec))
        {
            int colon = pair.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) throw new ArgumentException("A1111ApiAuthPasswords (--api-auth) must be user:password[,user:password]");
            map[pair[..colon]] = pair[(colon + 1)..];
        }
        return map;
    }

    private static IEnumerable<string> Split(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public async Task HandleAsync(HttpContext ctx)
    {
        var origin = ctx.Request.Headers.Origin.ToString();
        bool allowed = origin.Length > 0 && OriginAllowed(origin);
        if (allowed)
        {
            // On every answer of an allowed origin, errors included (set before anything is written).
            ctx.Response.Headers.AccessControlAllowOrigin = origin;
            ctx.Response.Headers.AccessControlAllowCredentials = "true";
            ctx.Response.Headers.Vary = "Origin";
        }
        try
        {
            if (HttpMethods.IsOptions(ctx.Request.Method) && origin.Length > 0 && ctx.Request.Headers.ContainsKey("Access-Control-Request-Method"))
            {
                await PreflightAsync(ctx, allowed).ConfigureAwait(false);
                return;
            }
            var path = ctx.Request.Path.Value ?? "/";
            // Every route also answers with a trailing slash.
            while (path.Length > 1 && path.EndsWith('/')) path = path[..^1];
            CheckAuth(ctx);
            await RouteAsync(ctx, path).ConfigureAwait(false);
        }
        catch (A1111Exception e)
        {
            LogRejected(ctx.Request.Path.Value ?? "", e.Status, e.Message);
            await WriteErrorAsync(ctx, e).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its job was cancelled.
        }
        catch (Exception e)
        {
            var mapped = Map(e);
            if (mapped.Status >= 500) LogFailed(ctx.Request.Path.Value ?? "", e);
            await WriteErrorAsync(ctx, mapped).ConfigureAwait(false);
        }
    }

    private bool OriginAllowed(string origin)
    {
        var o = origin.TrimEnd('/');
        if (_origins.Contains(o) || _origins.Contains("*")) return true;
        try { return _originRegex?.IsMatch(o) == true; }
        catch (RegexMatchTimeoutException) { return false; }
    }

    /// <summary>Starlette's CORSMiddleware answer: 200 with the allow headers for an allowed origin, 400 otherwise.</summary>
    private static async Task PreflightAsync(HttpContext ctx, bool allowed)
    {
        if (!allowed)
        {
            await WriteErrorAsync(ctx, A1111Exception.Http(400, "Disallowed CORS origin")).ConfigureAwait(false);
            return;
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.Headers.AccessControlAllowMethods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";
        var requested = ctx.Request.Headers.AccessControlRequestHeaders.ToString();
        if (requested.Length > 0) ctx.Response.Headers.AccessControlAllowHeaders = requested;
        ctx.Response.Headers.AccessControlMaxAge = "600";
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.WriteAsync("OK").ConfigureAwait(false);
    }

    /// <summary>
    /// With --api-auth: HTTP basic with one of its user:password pairs (as A1111), on any host. Without it on a
    /// non-loopback host: the daemon's bearer token (a basic password equal to the token is accepted too, for
    /// clients that only know basic auth).
    /// </summary>
    private void CheckAuth(HttpContext ctx)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (_credentials.Count == 0 && _options.AuthToken == null) return;
        if (_options.AuthToken != null && new Grpc.DaemonToken(_options.AuthToken).Accepts(header)) return;
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim())); }
            catch (FormatException) { decoded = ""; }
            int colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                var (user, password) = (decoded[..colon], decoded[(colon + 1)..]);
                if (_credentials.TryGetValue(user, out var expected) && SecretEquals(expected, password)) return;
                if (_options.AuthToken != null && SecretEquals(_options.AuthToken, password)) return;
            }
        }
        ctx.Response.Headers.WWWAuthenticate = "Basic";
        throw A1111Exception.Http(401, header.Length == 0 ? "Not authenticated" : "Incorrect username or password");
    }

    private static bool SecretEquals(string expected, string given) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)), SHA256.HashData(Encoding.UTF8.GetBytes(given)));

    private async Task RouteAsync(HttpContext ctx, string path)
    {
        bool get = HttpMethods.IsGet(ctx.Request.Method) || HttpMethods.IsHead(ctx.Request.Method);
        bool post = HttpMethods.IsPost(ctx.Request.Method);
        var name = path.StartsWith(Prefix, StringComparison.Ordinal) ? path[Prefix.Length..] : null;
        Func<Task>? handler = (name, get, post) switch
        {
            ("txt2img", _, true) => () => GenerateAsync(ctx, imageToImage: false),
            ("img2img", _, true) => () => GenerateAsync(ctx, imageToImage: true),
            ("progress", true, _) => () => WriteJsonAsync(ctx, Progress(ParseBool(ctx.Request.Query["skip_current_image"].ToString()))),
            ("interrupt", _, true) => () => WriteJsonAsync(ctx, Interrupt(skip: false)),
            ("skip", _, true) => () => WriteJsonAsync(ctx, Interrupt(skip: true)),
            ("sd-models", true, _) => () => WriteJsonAsync(ctx, SdModels()),
            ("samplers", true, _) => () => WriteJsonAsync(ctx, Samplers()),
            ("schedulers", true, _) => () => WriteJsonAsync(ctx, Schedulers()),
            ("upscalers", true, _) => () => WriteJsonAsync(ctx, Upscalers()),
            ("options", true, _) => () => WriteJsonAsync(ctx, Options()),
            ("options", _, true) => () => SetOptionsAsync(ctx),
            ("cmd-flags", true, _) => () => WriteJsonAsync(ctx, CmdFlags()),
            ("refresh-checkpoints", _, true) => () => { _engines?.Rescan(); return WriteJsonAsync(ctx, null); },
            ("refresh-vae" or "refresh-loras" or "unload-checkpoint" or "reload-checkpoint", _, true) => () => WriteJsonAsync(ctx, null),
            ("png-info", _, true) => () => PngInfoAsync(ctx),
            ("extra-single-image", _, true) => () => ExtraSingleImageAsync(ctx),
            ("sd-vae" or "loras" or "prompt-styles" or "hypernetworks" or "face-restorers" or "realesrgan-models" or "latent-upscale-modes"
                or "script-info" or "extensions", true, _) => () => WriteJsonAsync(ctx, new JsonArray()),
            ("scripts", true, _) => () => WriteJsonAsync(ctx, new JsonObject { ["txt2img"] = new JsonArray(), ["img2img"] = new JsonArray() }),
            ("embeddings", true, _) => () => WriteJsonAsync(ctx, new JsonObject { ["loaded"] = new JsonObject(), ["skipped"] = new JsonObject() }),
            _ => null,
        };
        if (handler != null)
        {
            await handler().ConfigureAwait(false);
            return;
        }
        bool known = name is "txt2img" or "img2img" or "progress" or "interrupt" or "skip" or "sd-models" or "samplers" or "schedulers" or "upscalers"
            or "options" or "cmd-flags" or "refresh-checkpoints" or "refresh-vae" or "refresh-loras" or "unload-checkpoint" or "reload-checkpoint"
            or "png-info" or "extra-single-image" or "sd-vae" or "loras" or "prompt-styles" or "hypernetworks" or "face-restorers"
            or "realesrgan-models" or "latent-upscale-modes" or "script-info" or "extensions" or "scripts" or "embeddings";
        throw known ? A1111Exception.Http(405, "Method Not Allowed") : A1111Exception.Http(404, "Not Found");
    }

    private static bool ParseBool(string s) => s.Trim().ToLowerInvariant() is "true" or "1" or "yes" or "on";

    // ---- models and lists -------------------------------------------------------------------------------------

    /// <summary>Installed diffusion models usable for inpaint/img2img/txt2img (not depth estimators), then "content-aware".</summary>
    private List<string> CheckpointNames()
    {
        var names = _catalog.Models
            .Where(m => m.Usable && m.Operations.Any(o => o is "inpaint" or "img2img" or EngineSetup.TextToImageOperation))
            .Select(m => m.Name).ToList();
        if (_catalog.Engines.Contains(EngineNames.ContentAware, StringComparer.OrdinalIgnoreCase)) names.Add(EngineNames.ContentAware);
        return names;
    }

    private string DefaultCheckpoint() => CheckpointNames().FirstOrDefault() ?? EngineNames.ContentAware;

    /// <summary>A checkpoint title as clients send it back ("name", "name.safetensors", "name [hash]") to an engine name, or null.</summary>
    private string? ResolveCheckpoint(string title)
    {
        var t = title.Trim();
        int bracket = t.LastIndexOf(" [", StringComparison.Ordinal);
        if (bracket > 0 && t.EndsWith(']')) t = t[..bracket];
        foreach (var ext in new[] { ".safetensors", ".ckpt", ".onnx" })
            if (t.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) t = t[..^ext.Length];
        return CheckpointNames().FirstOrDefault(n => string.Equals(n, t, StringComparison.OrdinalIgnoreCase));
    }

    private JsonArray SdModels() => new([.. CheckpointNames().Select(n => (JsonNode)new JsonObject
    {
        ["title"] = n,
        ["model_name"] = n,
        ["hash"] = null,
        ["sha256"] = null,
        ["filename"] = n == EngineNames.ContentAware ? "(built in: content-aware fill, no weights)" : Path.Combine(_options.ModelsDirectory ?? "", n),
        ["config"] = null,
    })]);

    private static JsonArray Samplers() => new([.. A1111Samplers.Available.Select(s => (JsonNode)new JsonObject
    {
        ["name"] = s.Name,
        ["aliases"] = new JsonArray([.. s.Aliases.Select(a => (JsonNode)a)]),
        ["options"] = new JsonObject(),
    })]);

    private static JsonArray Schedulers() => new(
        new JsonObject { ["name"] = A1111Samplers.Automatic, ["label"] = "Automatic", ["aliases"] = null, ["default_rho"] = -1, ["need_inner_model"] = false },
        new JsonObject { ["name"] = A1111Samplers.Karras, ["label"] = "Karras", ["aliases"] = null, ["default_rho"] = 7.0, ["need_inner_model"] = false });

    private static readonly string[] UpscalerNames = ["None", "Lanczos", "Nearest"];

    private static JsonArray Upscalers() => new([.. UpscalerNames.Select(n => (JsonNode)new JsonObject
    {
        ["name"] = n, ["model_name"] = null, ["model_path"] = null, ["model_url"] = null, ["scale"] = 4.0,
    })]);

    private JsonObject Options()
    {
        lock (_gate)
        {
            // A model uninstalled since it was chosen falls back to the default.
            if (_settings["sd_model_checkpoint"]?.GetValue<string>() is not { } current || ResolveCheckpoint(current) == null)
                _settings["sd_model_checkpoint"] = DefaultCheckpoint();
            return (JsonObject)_settings.DeepClone();
        }
    }

    private async Task SetOptionsAsync(HttpContext ctx)
    {
        var j = A1111Json.Parse(await ReadBodyAsync(ctx).ConfigureAwait(false));
        if (j.Has("sd_model_checkpoint"))
        {
            var title = j.String("sd_model_checkpoint")!;
            // A1111 raises RuntimeError (500) for an unknown checkpoint.
            var resolved = ResolveCheckpoint(title) ?? throw new A1111Exception(500, "RuntimeError",
                $"model '{title}' not found; installed: {string.Join(", ", CheckpointNames())}");
            j.Body["sd_model_checkpoint"] = resolved;
        }
        lock (_gate)
            foreach (var (k, v) in j.Body) _settings[k] = v?.DeepClone();
        await WriteJsonAsync(ctx, null).ConfigureAwait(false);
    }

    private JsonObject CmdFlags() => new()
    {
        ["api"] = true,
        ["nowebui"] = true,
        ["listen"] = !DaemonAuth.IsLoopbackHost(_options.Host),
        ["port"] = _options.A1111Port,
        ["api_auth"] = _credentials.Count > 0 ? "***" : null,
        ["cors_allow_origins"] = _options.A1111CorsAllowOrigins,
        ["cors_allow_origins_regex"] = _options.A1111CorsAllowOriginsRegex,
    };

    // ---- txt2img / img2img -------------------------------------------------------------------------------------

    /// <summary>One txt2img/img2img request while it runs: the /progress snapshot and its interrupt/skip flags.</summary>
    private sealed class Run(string job, int iterations) : IA1111JobObserver
    {
        public string Job { get; } = job;
        public int Iterations { get; } = iterations;
        public long StartedAt { get; } = Stopwatch.GetTimestamp();
        public string Timestamp { get; } = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        public volatile int Iteration;
        public volatile string? JobId;
        public volatile bool Running;
        public volatile bool Interrupted;
        public volatile bool Skipped;
        public int Step, Steps;
        public RgbaImage? Preview;
        public long Order;

        public void Submitted(string jobId) { JobId = jobId; Skipped = false; }

        public void Started(string jobId) { Running = true; }

        public void Progress(OperationProgress p)
        {
            lock (this)
            {
                Step = p.Step;
                Steps = p.Total;
                if (p.Preview != null) Preview = p.Preview;
            }
        }
    }

    private long _runOrder;

    private async Task GenerateAsync(HttpContext ctx, bool imageToImage)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        var req = A1111Request.Parse(A1111Json.Parse(body), imageToImage, _options.MaxBatch);
        if ((long)req.Width * req.Height > _options.MaxPixels)
            throw A1111Exception.Validation("width", $"{req.Width}x{req.Height} is more than the limit of {_options.MaxPixels} pixels", "value_error");
        var (sampler, scheduler, karras) = A1111Samplers.Resolve(req.SamplerName, req.Scheduler, req.SamplerField);

        string engine;
        if (req.Checkpoint is { Length: > 0 } ck)
            engine = ResolveCheckpoint(ck) ?? throw A1111Exception.Http(404, $"Model not found: override_settings.sd_model_checkpoint '{ck}'; installed: {string.Join(", ", CheckpointNames())}");
        else
            engine = Options()["sd_model_checkpoint"]!.GetValue<string>();
        bool contentAware = string.Equals(engine, EngineNames.ContentAware, StringComparison.OrdinalIgnoreCase);

        // Inputs (img2img): the first init image at width x height (A1111's resize modes), the mask with it.
        RgbaImage? input = null;
        Mask? mask = null;
        bool wholeFromImage = false;
        if (imageToImage)
        {
            var init = A1111Images.DecodeImage(req.InitImages![0], "init_images[0]", _options.MaxPixels);
            if (req.Mask is { Length: > 0 } maskText)
            {
                var maskImage = A1111Images.DecodeImage(maskText, "mask", _options.MaxPixels);
                double ia = (double)init.Width / init.Height, ma = (double)maskImage.Width / maskImage.Height;
                if (Math.Abs(ia - ma) > 0.01 * ia)
                    throw A1111Exception.Unprocessable("mask", $"mask is {maskImage.Width}x{maskImage.Height} but init_images[0] is {init.Width}x{init.Height}: the mask must have the image's size (or at least its aspect ratio)");
                mask = A1111Images.ToMask(A1111Images.Resize(maskImage, req.ResizeMode, req.Width, req.Height), req.InpaintingMaskInvert);
            }
            input = A1111Images.Resize(init, req.ResizeMode, req.Width, req.Height);
            // An inpainting UNet has no plain img2img: without a mask it repaints everything, starting from the image.
            if (mask == null && _catalog.Models.Any(m => m.Kind == "inpaint" && string.Equals(m.Name, engine, StringComparison.OrdinalIgnoreCase)))
            {
                mask = new Mask(req.Width, req.Height);
                mask.Data.AsSpan().Fill(255);
                wholeFromImage = true;
            }
            if (mask == null && contentAware)
                throw A1111Exception.Unprocessable("override_settings.sd_model_checkpoint",
                    "img2img without a mask needs a diffusion model; 'content-aware' only fills masked areas (send a mask, or install a model)");
        }
        else if (contentAware)
            throw A1111Exception.Unprocessable("override_settings.sd_model_checkpoint",
                $"txt2img needs a diffusion model; 'content-aware' cannot generate from a prompt. Installed: {string.Join(", ", CheckpointNames())}");

        // A1111: seed -1 = random 32-bit; image i of the whole request uses seed + i.
        long seed = req.Seed >= 0 ? req.Seed : Random.Shared.NextInt64(0, 4294967294L);
        long subseed = req.Subseed >= 0 ? req.Subseed : Random.Shared.NextInt64(0, 4294967294L);
        var settings = new GenerationSettings
        {
            Engine = engine,
            Prompt = req.Prompt,
            NegativePrompt = req.NegativePrompt,
            Steps = req.Steps,
            GuidanceScale = (float)req.CfgScale,
            Scheduler = scheduler,
            Strength = imageToImage ? (float)req.DenoisingStrength : null,
            BatchSize = req.BatchSize,
        };
        // Our blend band lies outside the mask (docs/masks-and-blending.md); A1111 clients are promised that nothing
        // outside *their* mask changes, so for diffusion the mask is shrunk by the band first: the blend then fades
        // in over the mask's outer 2 x mask_blur px and ends at its edge. A mask too thin for that gets no band.
        // Content-aware keeps its own default (no band: its known pixels are the photo's own).
        float? feather = null;
        if (mask != null && !contentAware && !wholeFromImage)
        {
            feather = 0;
            int band = MaskOps.BandWidth((float)req.MaskBlur);
            if (band > 0)
            {
                var shrunk = MaskOps.Grow(mask, -band);
                if (shrunk.Data.AsSpan().ContainsAnyExcept((byte)0)) { mask = shrunk; feather = (float)req.MaskBlur; }
            }
        }
        var maskOptions = new MaskOptions
        {
            Feather = feather,
            FillMode = wholeFromImage ? FillMode.Original : req.InpaintingFill switch { 1 => FillMode.Original, 2 or 3 => FillMode.Noise, _ => FillMode.Blur },
            WholeImageContext = !req.InpaintFullRes,
            ContextPadding = req.InpaintFullRes ? req.InpaintFullResPadding : null,
        };

        var run = new Run(imageToImage ? "scripts_img2img" : "scripts_txt2img", req.Iterations);
        lock (_gate) { run.Order = ++_runOrder; _runs.Add(run); }
        var images = new List<RgbaImage>();
        var seeds = new List<long>();
        try
        {
            for (int k = 0; k < req.Iterations && !run.Interrupted; k++)
            {
                run.Iteration = k;
                long iterSeed = seed + (long)k * req.BatchSize;
                var op = imageToImage
                    ? new OperationRequest
                    {
                        Operation = mask != null ? Operation.Inpaint : Operation.ImageToImage,
                        Image = input!,
                        Mask = mask,
                        Settings = settings with { Seed = (ulong)iterSeed },
                        MaskOptions = maskOptions,
                    }
                    : OperationRequest.TextToImage(req.Width, req.Height, settings with { Seed = (ulong)iterSeed });
                OperationResult result;
                try
                {
                    result = await _jobs.RunAsync(op, run, ctx.RequestAborted).ConfigureAwait(false);
                }
                catch (JobCancelledException) when (run.Interrupted || run.Skipped)
                {
                    continue; // interrupt ends the loop (condition above); skip goes on with the next iteration
                }
                var alternatives = ResultPatches.Alternatives(result);
                for (int i = 0; i < alternatives.Count; i++)
                {
                    images.Add(ResultPatches.Apply(op.Image, result, i));
                    seeds.Add(iterSeed + i);
                }
            }
        }
        finally
        {
            lock (_gate) _runs.Remove(run);
        }

        var info = new A1111RunInfo
        {
            Request = req,
            SamplerName = sampler.Name,
            ScheduleType = karras ? "Karras" : null,
            Model = engine,
            Seed = seed,
            Subseed = subseed,
            AllSeeds = seeds.Count > 0 || run.Interrupted ? seeds : [seed],
            Width = req.Width,
            Height = req.Height,
            Version = _version,
            JobTimestamp = run.Timestamp,
        };
        var encoded = new JsonArray();
        if (req.SendImages)
            for (int i = 0; i < images.Count; i++) encoded.Add(A1111Images.EncodePng(images[i], A1111Infotext.Create(info, i)));
        var response = new JsonObject
        {
            ["images"] = encoded,
            ["parameters"] = Parameters(req),
            ["info"] = A1111Infotext.InfoJson(info),
        };
        await WriteJsonAsync(ctx, response).ConfigureAwait(false);
    }

    /// <summary>The request echoed as A1111 does (vars(request)): its known fields with defaults; images only with include_init_images.</summary>
    private static JsonObject Parameters(A1111Request r)
    {
        var p = new JsonObject
        {
            ["prompt"] = r.Prompt,
            ["negative_prompt"] = r.NegativePrompt,
            ["styles"] = null,
            ["seed"] = r.Seed,
            ["subseed"] = r.Subseed,
            ["subseed_strength"] = r.SubseedStrength,
            ["seed_resize_from_h"] = -1,
            ["seed_resize_from_w"] = -1,
            ["sampler_name"] = r.SamplerName,
            ["scheduler"] = r.Scheduler,
            ["batch_size"] = r.BatchSize,
            ["n_iter"] = r.Iterations,
            ["steps"] = r.Steps,
            ["cfg_scale"] = r.CfgScale,
            ["width"] = r.Width,
            ["height"] = r.Height,
            ["restore_faces"] = null,
            ["tiling"] = null,
            ["do_not_save_samples"] = false,
            ["do_not_save_grid"] = false,
            ["override_settings"] = r.Body["override_settings"]?.DeepClone(),
            ["override_settings_restore_afterwards"] = true,
            ["sampler_index"] = r.Body["sampler_index"]?.DeepClone() ?? "Euler",
            ["script_name"] = null,
            ["script_args"] = new JsonArray(),
            ["send_images"] = r.SendImages,
            ["save_images"] = false,
            ["alwayson_scripts"] = new JsonObject(),
        };
        if (r.IsImageToImage)
        {
            p["init_images"] = r.IncludeInitImages ? r.Body["init_images"]?.DeepClone() : null;
            p["mask"] = r.IncludeInitImages ? r.Body["mask"]?.DeepClone() : null;
            p["resize_mode"] = r.ResizeMode;
            p["denoising_strength"] = r.DenoisingStrength;
            p["mask_blur"] = r.MaskBlur;
            p["inpainting_fill"] = r.InpaintingFill;
            p["inpaint_full_res"] = r.InpaintFullRes;
            p["inpaint_full_res_padding"] = r.InpaintFullResPadding;
            p["inpainting_mask_invert"] = r.InpaintingMaskInvert ? 1 : 0;
            p["include_init_images"] = r.IncludeInitImages;
        }
        else
        {
            p["denoising_strength"] = r.Body["denoising_strength"]?.DeepClone();
            p["enable_hr"] = r.Body["enable_hr"]?.DeepClone() ?? false;
        }
        return p;
    }

    // ---- progress / interrupt ----------------------------------------------------------------------------------

    /// <summary>The request A1111's global state would describe: the last one whose job runs, else the oldest waiting.</summary>
    private Run? Current()
    {
        lock (_gate)
            return _runs.Where(r => r.Running).MaxBy(r => r.Order) ?? _runs.MinBy(r => r.Order);
    }

    private JsonObject Progress(bool skipCurrentImage)
    {
        var run = Current();
        var state = new JsonObject
        {
            ["skipped"] = run?.Skipped ?? false,
            ["interrupted"] = run?.Interrupted ?? false,
            ["stopping_generation"] = false,
            ["job"] = run?.Job ?? "",
            ["job_count"] = run?.Iterations ?? 0,
            ["job_timestamp"] = run?.Timestamp ?? "0",
            ["job_no"] = run?.Iteration ?? 0,
            ["sampling_step"] = 0,
            ["sampling_steps"] = 0,
        };
        if (run == null)
            return new JsonObject { ["progress"] = 0.0, ["eta_relative"] = 0.0, ["state"] = state, ["current_image"] = null, ["textinfo"] = null };
        int step, steps;
        RgbaImage? preview;
        lock (run) { step = run.Step; steps = run.Steps; preview = run.Preview; }
        state["sampling_step"] = step;
        state["sampling_steps"] = steps;
        // A1111's formula (progressapi): 0.01 + job_no / job_count + step / steps / job_count.
        double progress = 0.01 + (double)run.Iteration / run.Iterations;
        if (steps > 0) progress += 1.0 / run.Iterations * step / steps;
        double elapsed = Stopwatch.GetElapsedTime(run.StartedAt).TotalSeconds;
        double eta = elapsed / progress - elapsed;
        return new JsonObject
        {
            ["progress"] = Math.Min(progress, 1.0),
            ["eta_relative"] = eta,
            ["state"] = state,
            ["current_image"] = preview != null && !skipCurrentImage ? A1111Images.EncodePng(preview, null) : null,
            ["textinfo"] = run.Running ? null : "Waiting...",
        };
    }

    /// <summary>/interrupt ({}) stops the current request; /skip (null) only its running iteration.</summary>
    private JsonNode? Interrupt(bool skip)
    {
        var run = Current();
        if (run != null)
        {
            if (skip) run.Skipped = true; else run.Interrupted = true;
            if (run.JobId is { } id) _jobs.Cancel(id);
        }
        return skip ? null : new JsonObject();
    }

    // ---- png-info / extras -------------------------------------------------------------------------------------

    private async Task PngInfoAsync(HttpContext ctx)
    {
        var j = A1111Json.Parse(await ReadBodyAsync(ctx).ConfigureAwait(false));
        var image = j.String("image") ?? throw A1111Exception.Validation("image", "Field required", "missing");
        if (image.Trim().Length == 0)
        {
            await WriteJsonAsync(ctx, new JsonObject { ["info"] = "", ["items"] = new JsonObject(), ["parameters"] = new JsonObject() }).ConfigureAwait(false);
            return;
        }
        var bytes = A1111Images.DecodeBase64(image, "image");
        if (ImageCodec.DetectFormat(bytes) == ImageFormat.Unknown) throw new A1111Exception(500, "HTTPException", "Invalid encoded image: image is not a PNG or JPEG") { Field = "image" };
        var texts = PngText.Read(bytes);
        var info = texts.TryGetValue("parameters", out var p) ? p : "";
        var items = new JsonObject();
        foreach (var (k, v) in texts) if (k != "parameters") items[k] = v;
        await WriteJsonAsync(ctx, new JsonObject { ["info"] = info, ["items"] = items, ["parameters"] = A1111Infotext.Parse(info) }).ConfigureAwait(false);
    }

    private async Task ExtraSingleImageAsync(HttpContext ctx)
    {
        var j = A1111Json.Parse(await ReadBodyAsync(ctx).ConfigureAwait(false));
        var image = A1111Images.DecodeImage(j.String("image") ?? "", "image", _options.MaxPixels);
        var upscaler = j.String("upscaler_1") ?? "None";
        var known = UpscalerNames.FirstOrDefault(n => string.Equals(n, upscaler, StringComparison.OrdinalIgnoreCase))
            ?? throw A1111Exception.Unprocessable("upscaler_1", $"upscaler_1: '{upscaler}' is not available; accepted: {string.Join(", ", UpscalerNames)}");
        int mode = j.Int("resize_mode", 0, 0, 1);
        int w, h;
        if (mode == 0)
        {
            double factor = j.Double("upscaling_resize", 2);
            if (!(factor > 0 && factor <= 16)) throw A1111Exception.Validation("upscaling_resize", "Input should be greater than 0 and at most 16", "value_error");
            (w, h) = ((int)Math.Round(image.Width * factor), (int)Math.Round(image.Height * factor));
        }
        else (w, h) = (j.Int("upscaling_resize_w", 512, 1, 65535), j.Int("upscaling_resize_h", 512, 1, 65535));
        if ((long)w * h > _options.MaxPixels) throw new A1111Exception(413, "HTTPException", $"the result {w}x{h} is more than the limit of {_options.MaxPixels} pixels");
        var result = known switch
        {
            "None" => image,
            "Nearest" => Nearest(image, w, h),
            _ => Resampler.Resize(image, Math.Max(1, w), Math.Max(1, h), ResampleFilter.Lanczos3),
        };
        await WriteJsonAsync(ctx, new JsonObject { ["html_info"] = "", ["image"] = A1111Images.EncodePng(result, null) }).ConfigureAwait(false);
    }

    private static RgbaImage Nearest(RgbaImage src, int w, int h)
    {
        var dst = new RgbaImage(w, h);
        for (int y = 0; y < h; y++)
        {
            var s = src.Row8((int)((long)y * src.Height / h));
            var d = dst.Row8(y);
            for (int x = 0; x < w; x++) s.Slice((int)((long)x * src.Width / w) * 4, 4).CopyTo(d.Slice(x * 4, 4));
        }
        return dst;
    }

    // ---- plumbing ----------------------------------------------------------------------------------------------

    private static async Task<byte[]> ReadBodyAsync(HttpContext ctx)
    {
        using var ms = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(ms, ctx.RequestAborted).ConfigureAwait(false);
        return ms.ToArray();
    }

    private static async Task WriteJsonAsync(HttpContext ctx, JsonNode? body, int status = 200)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        var bytes = Encoding.UTF8.GetBytes(body?.ToJsonString() ?? "null");
        ctx.Response.ContentLength = bytes.Length;
        if (HttpMethods.IsHead(ctx.Request.Method)) return;
        await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteErrorAsync(HttpContext ctx, A1111Exception e)
    {
        if (ctx.Response.HasStarted) return;
        try { await WriteJsonAsync(ctx, e.ToJson(), e.Status).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        catch (IOException) { }
    }

    /// <summary>Core exceptions to A1111's statuses: invalid request 422 (naming A1111's field), not installed 404, shutdown 503, else 500.</summary>
    internal static A1111Exception Map(Exception e) => e switch
    {
        A1111Exception a => a,
        InvalidRequestException ir => A1111Exception.Unprocessable(A1111Field(ir.Field), $"{A1111Field(ir.Field)}: {ir.Message.Split(" (Parameter", 2)[0]}"),
        EngineNotFoundException nf => A1111Exception.Http(404, $"Model not found: {nf.Message}"),
        JobCancelledException { Reason: JobCancelReason.Shutdown } c => A1111Exception.Http(503, c.Message),
        JobCancelledException c => A1111Exception.Http(499, c.Message),
        DaemonUnavailableException u => A1111Exception.Http(503, u.Message),
        _ => new A1111Exception(500, e.GetType().Name, e.Message),
    };

    private static string A1111Field(string field) => field switch
    {
        "strength" => "denoising_strength",
        "engine" => "override_settings.sd_model_checkpoint",
        "scheduler" => "sampler_name",
        "feather" => "mask_blur",
        "context_padding" => "inpaint_full_res_padding",
        "image" => "init_images",
        _ => field,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "a1111 {Path}: {Status} {Message}")]
    private partial void LogRejected(string path, int status, string message);

    [LoggerMessage(Level = LogLevel.Error, Message = "a1111 {Path} failed")]
    private partial void LogFailed(string path, Exception exception);
}
