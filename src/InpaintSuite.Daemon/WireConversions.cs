using System.Runtime.InteropServices;
using Google.Protobuf;
using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// Wire messages to core types and back, with the request validation every transport shares.
/// Every rejection is an <see cref="InvalidRequestException"/> naming the offending field.
/// </summary>
public static class WireConversions
{
    /// <summary>The runtime's scheduler names (Capabilities.schedulers): one list, so the wire cannot drift from what runs.</summary>
    public static IReadOnlyList<string> KnownSchedulers => InpaintSuite.Runtime.Schedulers.NoiseScheduler.Names;

    public const int MaxSteps = 500;
    public const float MaxGuidance = 100f;
    public const int MaxPromptChars = 4096;
    public const int MaxGrow = 4096;
    public const float MaxFeather = 1024f;
    public const int MaxExtension = 8192;

    public sealed record Limits(long MaxPixels, int MaxBatch);

    public static OperationRequest ToRequest(W.InpaintRequest r, Limits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        return new OperationRequest
        {
            Operation = Operation.Inpaint,
            Image = image,
            Mask = r.Mask == null ? null : ToMask(r.Mask, "mask", image),
            Settings = ToSettings(r.Settings, limits),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    public static OperationRequest ToRequest(W.OutpaintRequest r, Limits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        OutpaintExtent extent;
        switch (r.SizeCase)
        {
            case W.OutpaintRequest.SizeOneofCase.Extend:
                var e = r.Extend;
                foreach (var (v, name) in new[] { (e.Left, "left"), (e.Top, "top"), (e.Right, "right"), (e.Bottom, "bottom") })
                    if (v > MaxExtension) throw new InvalidRequestException("extend." + name, $"extend.{name} = {v} exceeds {MaxExtension} px");
                if (e.Left + e.Top + e.Right + e.Bottom == 0) throw new InvalidRequestException("extend", "extend is zero on every side: nothing to outpaint");
                var canvas = (long)(image.Width + e.Left + e.Right) * (image.Height + e.Top + e.Bottom);
                if (canvas > limits.MaxPixels) throw new InvalidRequestException("extend", $"the extended canvas has {canvas} pixels, more than the limit {limits.MaxPixels}");
                extent = new OutpaintExtent { Left = (int)e.Left, Top = (int)e.Top, Right = (int)e.Right, Bottom = (int)e.Bottom };
                break;
            case W.OutpaintRequest.SizeOneofCase.Aspect:
                var a = r.Aspect;
                if (a.Width == 0 || a.Height == 0) throw new InvalidRequestException("aspect", "aspect width and height must both be positive");
                if (a.Width > 100 * a.Height || a.Height > 100 * a.Width) throw new InvalidRequestException("aspect", $"aspect {a.Width}:{a.Height} is beyond 100:1");
                extent = new OutpaintExtent { AspectWidth = (int)a.Width, AspectHeight = (int)a.Height };
                break;
            default:
                throw new InvalidRequestException("size", "give either extend (px per side) or aspect");
        }
        return new OperationRequest
        {
            Operation = Operation.Outpaint,
            Image = image,
            Outpaint = extent,
            Settings = ToSettings(r.Settings, limits),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    public static OperationRequest ToRequest(W.ImageToImageRequest r, Limits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        return new OperationRequest
        {
            Operation = Operation.ImageToImage,
            Image = image,
            Mask = r.Mask == null ? null : ToMask(r.Mask, "mask", image),
            Settings = ToSettings(r.Settings, limits),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    public static OperationRequest ToRequest(W.DepthToImageRequest r, Limits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        RgbaImage? depth = null;
        if (r.DepthMap != null)
        {
            depth = ToImage(r.DepthMap, "depth_map", limits);
            if (depth.Width != image.Width || depth.Height != image.Height)
                throw new InvalidRequestException("depth_map", $"depth_map is {depth.Width}x{depth.Height} but image is {image.Width}x{image.Height}");
        }
        return new OperationRequest
        {
            Operation = Operation.DepthToImage,
            Image = image,
            DepthMap = depth,
            Mask = r.Mask == null ? null : ToMask(r.Mask, "mask", image),
            Settings = ToSettings(r.Settings, limits),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    public static int BytesPerPixel(W.PixelFormat format) => format switch
    {
        W.PixelFormat.Rgba8 or W.PixelFormat.Bgra8 => 4,
        W.PixelFormat.Rgba16 => 8,
        W.PixelFormat.Rgba32F => 16,
        _ => 0,
    };

    /// <summary>A wire image as a packed RGBA image (BGRA swapped, stride removed).</summary>
    public static RgbaImage ToImage(W.Image? wire, string field, Limits limits)
    {
        if (wire == null) throw new InvalidRequestException(field, $"{field} is required");
        if (wire.Width == 0 || wire.Height == 0) throw new InvalidRequestException(field, $"{field} size {wire.Width}x{wire.Height} must be positive");
        var pixels = (long)wire.Width * wire.Height;
        if (pixels > limits.MaxPixels || wire.Width > 65535 || wire.Height > 65535)
            throw new InvalidRequestException(field, $"{field} is {wire.Width}x{wire.Height} = {pixels} pixels, more than the limit {limits.MaxPixels}");
        var bpp = BytesPerPixel(wire.Format);
        if (bpp == 0) throw new InvalidRequestException(field + ".format", $"{field}.format {wire.Format} is not a pixel format");
        int w = (int)wire.Width, h = (int)wire.Height;
        long row = (long)w * bpp;
        long stride = wire.Stride == 0 ? row : wire.Stride;
        if (stride < row) throw new InvalidRequestException(field + ".stride", $"{field}.stride {stride} is less than a row ({row} bytes)");
        long needed = stride * (h - 1) + row;
        var data = wire.Data;
        if (data.Length < needed || data.Length > stride * h)
            throw new InvalidRequestException(field + ".data", $"{field}.data holds {data.Length} bytes; {w}x{h} {wire.Format} with stride {stride} needs {stride * h}");
        var depth = bpp switch { 4 => PixelDepth.U8, 8 => PixelDepth.U16, _ => PixelDepth.F32 };

        byte[] packed;
        if (stride == row && wire.Format != W.PixelFormat.Bgra8 && MemoryMarshal.TryGetArray(data.Memory, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length && seg.Count == needed)
        {
            // The parsed message owns this array and is dropped after conversion: no copy.
            packed = seg.Array;
        }
        else
        {
            packed = GC.AllocateUninitializedArray<byte>(checked((int)(row * h)));
            var src = data.Span;
            for (int y = 0; y < h; y++) src.Slice((int)(y * stride), (int)row).CopyTo(packed.AsSpan((int)(y * row), (int)row));
            if (wire.Format == W.PixelFormat.Bgra8) PixelSwizzle.SwapRedBlue(packed);
        }
        var image = RgbaImage.Wrap(w, h, depth, packed);
        if (depth == PixelDepth.F32)
            foreach (var v in image.PixelsF)
                if (!float.IsFinite(v)) throw new InvalidRequestException(field + ".data", $"{field}.data holds NaN or infinite values");
        return image;
    }

    public static Imaging.Mask ToMask(W.Mask wire, string field, RgbaImage image)
    {
        if (wire.Width != image.Width || wire.Height != image.Height)
            throw new InvalidRequestException(field, $"{field} is {wire.Width}x{wire.Height} but image is {image.Width}x{image.Height}");
        int w = (int)wire.Width, h = (int)wire.Height;
        long stride = wire.Stride == 0 ? w : wire.Stride;
        if (stride < w) throw new InvalidRequestException(field + ".stride", $"{field}.stride {stride} is less than the width {w}");
        long needed = stride * (h - 1) + w;
        if (wire.Data.Length < needed || wire.Data.Length > stride * h)
            throw new InvalidRequestException(field + ".data", $"{field}.data holds {wire.Data.Length} bytes; {w}x{h} with stride {stride} needs {stride * h}");
        var packed = GC.AllocateUninitializedArray<byte>(w * h);
        var src = wire.Data.Span;
        for (int y = 0; y < h; y++) src.Slice((int)(y * stride), w).CopyTo(packed.AsSpan(y * w, w));
        return Imaging.Mask.Wrap(w, h, packed);
    }

    public static GenerationSettings ToSettings(W.GenerationSettings? s, Limits limits)
    {
        if (s == null) return new GenerationSettings();
        if (s.Steps > MaxSteps) throw new InvalidRequestException("settings.steps", $"settings.steps = {s.Steps} is outside 0..{MaxSteps}");
        if (s.HasGuidanceScale && (!float.IsFinite(s.GuidanceScale) || s.GuidanceScale < 0 || s.GuidanceScale > MaxGuidance))
            throw new InvalidRequestException("settings.guidance_scale", $"settings.guidance_scale = {s.GuidanceScale} is outside 0..{MaxGuidance}");
        if (s.HasStrength && (!float.IsFinite(s.Strength) || s.Strength < 0 || s.Strength > 1))
            throw new InvalidRequestException("settings.strength", $"settings.strength = {s.Strength} is outside 0..1");
        if (s.BatchSize > limits.MaxBatch)
            throw new InvalidRequestException("settings.batch_size", $"settings.batch_size = {s.BatchSize} is more than the limit {limits.MaxBatch}");
        if (s.Prompt.Length > MaxPromptChars) throw new InvalidRequestException("settings.prompt", $"settings.prompt has {s.Prompt.Length} characters, more than {MaxPromptChars}");
        if (s.NegativePrompt.Length > MaxPromptChars) throw new InvalidRequestException("settings.negative_prompt", $"settings.negative_prompt has {s.NegativePrompt.Length} characters, more than {MaxPromptChars}");
        if (s.Scheduler.Length > 0 && !KnownSchedulers.Contains(s.Scheduler))
            throw new InvalidRequestException("settings.scheduler", $"settings.scheduler '{s.Scheduler}' is unknown; known: {string.Join(", ", KnownSchedulers)}");
        if (s.Engine.Length > 256) throw new InvalidRequestException("settings.engine", "settings.engine is longer than 256 characters");
        return new GenerationSettings
        {
            Engine = s.Engine.Length == 0 ? EngineNames.Auto : s.Engine,
            Prompt = s.Prompt,
            NegativePrompt = s.NegativePrompt,
            Steps = (int)s.Steps,
            GuidanceScale = s.HasGuidanceScale ? s.GuidanceScale : null,
            Scheduler = s.Scheduler.Length == 0 ? null : s.Scheduler,
            Seed = s.HasSeed ? s.Seed : null,
            Strength = s.HasStrength ? s.Strength : null,
            BatchSize = s.BatchSize == 0 ? 1 : (int)s.BatchSize,
        };
    }

    public static MaskOptions ToMaskOptions(W.MaskOptions? m)
    {
        if (m == null) return new MaskOptions();
        if (m.HasGrow && Math.Abs((long)m.Grow) > MaxGrow) throw new InvalidRequestException("mask_options.grow", $"mask_options.grow = {m.Grow} is outside ±{MaxGrow}");
        if (m.HasFeather && (!float.IsFinite(m.Feather) || m.Feather < 0 || m.Feather > MaxFeather))
            throw new InvalidRequestException("mask_options.feather", $"mask_options.feather = {m.Feather} is outside 0..{MaxFeather}");
        if (m.HasContextPadding && m.ContextPadding > 8192)
            throw new InvalidRequestException("mask_options.context_padding", $"mask_options.context_padding = {m.ContextPadding} is more than 8192");
        if (!Enum.IsDefined(m.FillMode)) throw new InvalidRequestException("mask_options.fill_mode", $"mask_options.fill_mode {(int)m.FillMode} is unknown");
        return new MaskOptions
        {
            Grow = m.HasGrow ? m.Grow : 0,
            Feather = m.HasFeather ? m.Feather : null, // absent: the engine's default (OperationRunner.EffectiveFeather)
            FillMode = m.FillMode switch
            {
                W.FillMode.Blur => FillMode.Blur,
                W.FillMode.Noise => FillMode.Noise,
                W.FillMode.Original => FillMode.Original,
                W.FillMode.Border => FillMode.Border,
                W.FillMode.ContentAware => FillMode.ContentAware,
                _ => FillMode.Default,
            },
            ContextPadding = m.HasContextPadding ? (int)m.ContextPadding : null,
            WholeImageContext = m.WholeImageContext,
            ColorMatch = m.ColorMatch,
        };
    }

    /// <summary>A result on the wire; patches keep the input's pixel format (BGRA8 in, BGRA8 out).</summary>
    public static W.Result ToWire(OperationResult result, W.PixelFormat inputFormat, TimeSpan queued, TimeSpan total)
    {
        var wire = new W.Result
        {
            Engine = result.Engine,
            CanvasWidth = (uint)result.CanvasWidth,
            CanvasHeight = (uint)result.CanvasHeight,
            InputOffsetX = result.InputOffsetX,
            InputOffsetY = result.InputOffsetY,
            Timings = new W.Timings
            {
                QueueSeconds = queued.TotalSeconds,
                EngineSeconds = result.EngineTime.TotalSeconds,
                TotalSeconds = total.TotalSeconds,
            },
        };
        foreach (var p in result.Patches)
            wire.Patches.Add(new W.Patch { X = p.X, Y = p.Y, Seed = p.Seed, Image = ToWire(p.Image, inputFormat) });
        return wire;
    }

    public static W.Image ToWire(RgbaImage image, W.PixelFormat preferred = W.PixelFormat.Rgba8)
    {
        var format = image.Depth switch
        {
            PixelDepth.U16 => W.PixelFormat.Rgba16,
            PixelDepth.F32 => W.PixelFormat.Rgba32F,
            _ => preferred == W.PixelFormat.Bgra8 ? W.PixelFormat.Bgra8 : W.PixelFormat.Rgba8,
        };
        byte[] data = image.Data;
        if (format == W.PixelFormat.Bgra8)
        {
            data = (byte[])data.Clone();
            PixelSwizzle.SwapRedBlue(data);
        }
        // The result image is not touched after this point, so the wire may share its buffer.
        return new W.Image { Width = (uint)image.Width, Height = (uint)image.Height, Format = format, Data = UnsafeByteOperations.UnsafeWrap(data) };
    }

    public static W.Image? ToWirePreview(RgbaImage? preview) => preview == null ? null : ToWire(preview);
}
