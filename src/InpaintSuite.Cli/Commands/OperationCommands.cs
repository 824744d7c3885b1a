using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines;

namespace InpaintSuite.Cli.Commands;

/// <summary>inpaint, outpaint, img2img, depth: one shared option set, one run path.</summary>
internal static class OperationCommands
{
    private sealed class Options
    {
        public readonly Argument<string> Image = new("IMAGE") { Description = "Input image (PNG, JPEG, WebP, GIF or BMP)." };
        public readonly Option<string> Output = new("--output", "-o") { Description = "Output path; .png, .jpg/.jpeg or .webp picks the format (batch items 2..N get -2, -3, ... before the extension).", Required = true };
        public readonly Option<int?> Quality = new("--quality") { Description = "JPEG/WebP output quality 1..100 (default 90; 100 = lossless WebP)." };
        public readonly Option<string?> Engine = new("--engine", "-e") { Description = "auto, content-aware, fill, or an installed model's name.", DefaultValueFactory = _ => "auto" };
        public readonly Option<string?> Prompt = new("--prompt", "-p") { Description = "What to generate (diffusion engines)." };
        public readonly Option<string?> NegativePrompt = new("--negative-prompt", "-n") { Description = "What to avoid (diffusion engines)." };
        public readonly Option<int> Steps = new("--steps") { Description = "Denoising steps; 0 = engine default." };
        public readonly Option<float?> Guidance = new("--guidance") { Description = "Classifier-free guidance scale." };
        public readonly Option<string?> Scheduler = new("--scheduler") { Description = "ddim, euler, euler_ancestral, dpmpp_2m, dpmpp_2m_karras, lcm, pndm, unipc, ddpm." };
        public readonly Option<string?> Seed = new("--seed") { Description = "Seed (unsigned 64-bit); absent = random, the seed used is reported." };
        public readonly Option<float?> Strength = new("--strength") { Description = "0..1; default 1 for inpaint/outpaint, 0.75 for img2img/depth." };
        public readonly Option<int> Batch = new("--batch") { Description = "Number of results.", DefaultValueFactory = _ => 1 };
        public readonly Option<int> Grow = new("--grow") { Description = "Grow (positive) or shrink (negative) the mask by PX." };
        public readonly Option<float?> Feather = new("--feather") { Description = "Blend band outside the mask is 2 x PX wide; 0 = nothing outside the mask changes. Default: 4 for diffusion engines, 0 for content-aware and fill." };
        public readonly Option<string?> FillMode = new("--fill-mode") { Description = "Pre-fill before diffusion: blur, noise, original, border, content-aware." };
        public readonly Option<int?> ContextPadding = new("--context-padding") { Description = "Context around the mask in px; default automatic." };
        public readonly Option<bool> WholeImage = new("--whole-image") { Description = "Use the whole image as context." };
        public readonly Option<bool> ColorMatch = new("--color-match") { Description = "Match the generated region's colours to its surroundings." };
        public readonly Option<string?> Daemon = new("--daemon") { Description = "Run against a daemon at this URL (e.g. http://127.0.0.1:50151) instead of in-process." };
        public readonly Option<string?> Token = new("--token") { Description = "Bearer token for a daemon that requires one (default: the token file)." };
        public readonly Option<string?> TlsCa = new("--tls-ca") { Description = "For an https:// daemon: trust this CA (or the daemon's own certificate) instead of the system store (default: $INPAINTSUITE_TLS_CA)." };
        public readonly Option<string?> Models = new("--models") { Description = "Models folder for in-process runs (default: $INPAINTSUITE_MODELS or ~/.local/share/inpaintsuite/models)." };
        public readonly Option<bool> Json = new("--json") { Description = "Print one JSON line: output, engine, seed, width, height, seconds." };
    }

    public static IEnumerable<Command> Create(CliIo io)
    {
        yield return Build(io, "inpaint", "Fill the masked area of an image.", Operation.Inpaint, (c, o) =>
        {
            var mask = new Option<string?>("--mask", "-m") { Description = "Mask image, same size (white = repaint). Absent: transparent pixels are the hole." };
            c.Options.Add(mask);
            return mask;
        });
        yield return Build(io, "outpaint", "Extend the canvas and fill the new area.", Operation.Outpaint, null);
        yield return Build(io, "img2img", "Re-generate the image (or the masked region) by strength.", Operation.ImageToImage, (c, o) =>
        {
            var mask = new Option<string?>("--mask", "-m") { Description = "Optional region mask (white = re-generate)." };
            c.Options.Add(mask);
            return mask;
        });
        yield return Build(io, "depth", "Re-generate the image guided by a depth map.", Operation.DepthToImage, (c, o) =>
        {
            var mask = new Option<string?>("--mask", "-m") { Description = "Optional region mask (white = re-generate)." };
            c.Options.Add(mask);
            return mask;
        });
    }

    private static Command Build(CliIo io, string name, string description, Operation op, Func<Command, Options, Option<string?>>? addMask)
    {
        var o = new Options();
        var cmd = new Command(name, description) { o.Image };
        foreach (var opt in new Option[] { o.Output, o.Quality, o.Engine, o.Prompt, o.NegativePrompt, o.Steps, o.Guidance, o.Scheduler, o.Seed, o.Strength, o.Batch, o.Grow, o.Feather, o.FillMode, o.ContextPadding, o.WholeImage, o.ColorMatch, o.Daemon, o.Token, o.TlsCa, o.Models, o.Json })
            cmd.Options.Add(opt);
        var mask = addMask?.Invoke(cmd, o);

        Option<int>? left = null, top = null, right = null, bottom = null;
        Option<string?>? aspect = null;
        Option<string?>? depthMap = null;
        if (op == Operation.Outpaint)
        {
            left = new Option<int>("--left") { Description = "Extend left by PX." };
            top = new Option<int>("--top") { Description = "Extend top by PX." };
            right = new Option<int>("--right") { Description = "Extend right by PX." };
            bottom = new Option<int>("--bottom") { Description = "Extend bottom by PX." };
            aspect = new Option<string?>("--aspect") { Description = "Grow the canvas to this aspect ratio, e.g. 16:9." };
            foreach (var opt in new Option[] { left, top, right, bottom, aspect }) cmd.Options.Add(opt);
        }
        if (op == Operation.DepthToImage)
        {
            depthMap = new Option<string?>("--depth-map") { Description = "Depth map image (white = near); absent = estimated by the model folder's depth estimator." };
            cmd.Options.Add(depthMap);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            string imagePath = parse.GetValue(o.Image)!;
            string output = parse.GetValue(o.Output)!;
            // Refuse an output the CLI cannot write before any work is done.
            ImageFiles.OutputFormat(output);
            var encode = ImageFiles.EncodeOptions(parse.GetValue(o.Quality));
            var image = ImageFiles.LoadImage(imagePath, "IMAGE");
            Mask? maskImage = null;
            if (mask != null && parse.GetValue(mask) is { Length: > 0 } maskPath)
            {
                maskImage = ImageFiles.LoadMask(maskPath);
                if (maskImage.Width != image.Width || maskImage.Height != image.Height)
                    throw new UsageException($"mask {maskPath} is {maskImage.Width}x{maskImage.Height}, image {imagePath} is {image.Width}x{image.Height}: they must be the same size");
            }
            OutpaintExtent? extent = null;
            if (op == Operation.Outpaint)
                extent = ParseExtent(parse.GetValue(left!), parse.GetValue(top!), parse.GetValue(right!), parse.GetValue(bottom!), parse.GetValue(aspect!));
            RgbaImage? depth = null;
            if (depthMap != null && parse.GetValue(depthMap) is { Length: > 0 } depthPath)
            {
                depth = ImageFiles.LoadImage(depthPath, "--depth-map");
                if (depth.Width != image.Width || depth.Height != image.Height)
                    throw new UsageException($"depth map {depthPath} is {depth.Width}x{depth.Height}, image is {image.Width}x{image.Height}: they must be the same size");
            }

            var request = new OperationRequest
            {
                Operation = op,
                Image = image,
                Mask = maskImage,
                Outpaint = extent,
                DepthMap = depth,
                Settings = new GenerationSettings
                {
                    Engine = parse.GetValue(o.Engine) is { Length: > 0 } e ? e : EngineNames.Auto,
                    Prompt = parse.GetValue(o.Prompt) ?? "",
                    NegativePrompt = parse.GetValue(o.NegativePrompt) ?? "",
                    Steps = NonNegative(parse.GetValue(o.Steps), "--steps"),
                    GuidanceScale = parse.GetValue(o.Guidance),
                    Scheduler = parse.GetValue(o.Scheduler),
                    Seed = ParseSeed(parse.GetValue(o.Seed)),
                    Strength = parse.GetValue(o.Strength),
                    BatchSize = Math.Max(1, parse.GetValue(o.Batch)),
                },
                MaskOptions = new MaskOptions
                {
                    Grow = parse.GetValue(o.Grow),
                    Feather = parse.GetValue(o.Feather),
                    FillMode = ParseFillMode(parse.GetValue(o.FillMode)),
                    ContextPadding = parse.GetValue(o.ContextPadding),
                    WholeImageContext = parse.GetValue(o.WholeImage),
                    ColorMatch = parse.GetValue(o.ColorMatch),
                },
            };
            if (request.MaskOptions.Feather is { } feather && (feather < 0 || !float.IsFinite(feather)))
                throw new UsageException("--feather must be a finite number >= 0");

            await using var backend = CliBackend.Create(parse.GetValue(o.Daemon), parse.GetValue(o.Token), parse.GetValue(o.Models), parse.GetValue(o.TlsCa));
            var sw = Stopwatch.StartNew();
            OperationResult result;
            using (var progress = new CliProgress(io, parse.GetValue(o.Json)))
                result = await backend.RunAsync(request, progress, ct);
            double seconds = result.EngineTime > TimeSpan.Zero ? result.EngineTime.TotalSeconds : sw.Elapsed.TotalSeconds;

            var outputs = ResultWriter.Write(image, result, output, encode);
            var seeds = ResultPatches.Alternatives(result).Select(a => a[0].Seed).DefaultIfEmpty(result.Patches.Count > 0 ? result.Patches[0].Seed : 0).ToList();
            if (parse.GetValue(o.Json))
            {
                for (int i = 0; i < outputs.Count; i++)
                {
                    io.Out.WriteLine(JsonSerializer.Serialize(new CliJsonResult(outputs[i], result.Engine, seeds[Math.Min(i, seeds.Count - 1)], result.CanvasWidth, result.CanvasHeight, Math.Round(seconds, 4))));
                }
            }
            else
            {
                for (int i = 0; i < outputs.Count; i++)
                    io.Err.WriteLine($"wrote {outputs[i]} ({result.CanvasWidth}x{result.CanvasHeight}, engine {result.Engine}, seed {seeds[Math.Min(i, seeds.Count - 1)]}, {seconds:0.00} s)");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    internal static OutpaintExtent ParseExtent(int left, int top, int right, int bottom, string? aspect)
    {
        bool anySide = left != 0 || top != 0 || right != 0 || bottom != 0;
        if (aspect is { Length: > 0 })
        {
            if (anySide) throw new UsageException("give either --aspect or --left/--top/--right/--bottom, not both");
            var parts = aspect.Split(':', 'x', '/');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int aw) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int ah) || aw <= 0 || ah <= 0)
                throw new UsageException($"--aspect '{aspect}' is not W:H with positive integers (e.g. 16:9)");
            return new OutpaintExtent { AspectWidth = aw, AspectHeight = ah };
        }
        if (left < 0 || top < 0 || right < 0 || bottom < 0) throw new UsageException("--left/--top/--right/--bottom must be >= 0");
        if (!anySide) throw new UsageException("outpaint needs --aspect W:H or at least one of --left/--top/--right/--bottom");
        return new OutpaintExtent { Left = left, Top = top, Right = right, Bottom = bottom };
    }

    internal static ulong? ParseSeed(string? s)
    {
        if (s is not { Length: > 0 } || s.Equals("random", StringComparison.OrdinalIgnoreCase)) return null;
        if (!ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var seed))
            throw new UsageException($"--seed '{s}' is not an unsigned integer");
        return seed;
    }

    internal static InpaintSuite.Pipelines.FillMode ParseFillMode(string? s) => s?.ToLowerInvariant() switch
    {
        null or "" or "default" => InpaintSuite.Pipelines.FillMode.Default,
        "blur" => InpaintSuite.Pipelines.FillMode.Blur,
        "noise" => InpaintSuite.Pipelines.FillMode.Noise,
        "original" => InpaintSuite.Pipelines.FillMode.Original,
        "border" => InpaintSuite.Pipelines.FillMode.Border,
        "content-aware" => InpaintSuite.Pipelines.FillMode.ContentAware,
        _ => throw new UsageException($"--fill-mode '{s}' is not one of blur, noise, original, border, content-aware"),
    };

    private static int NonNegative(int v, string name) => v >= 0 ? v : throw new UsageException($"{name} must be >= 0");
}

internal sealed record CliJsonResult(
    [property: System.Text.Json.Serialization.JsonPropertyName("output")] string Output,
    [property: System.Text.Json.Serialization.JsonPropertyName("engine")] string Engine,
    [property: System.Text.Json.Serialization.JsonPropertyName("seed")] ulong Seed,
    [property: System.Text.Json.Serialization.JsonPropertyName("width")] int Width,
    [property: System.Text.Json.Serialization.JsonPropertyName("height")] int Height,
    [property: System.Text.Json.Serialization.JsonPropertyName("seconds")] double Seconds);
