using System.Runtime.InteropServices;
using Google.Protobuf;
using InpaintSuite.Imaging;
using InpaintSuite.Pipelines;
using W = InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon;

/// <summary>
/// The one mapping between wire messages and core types, both directions (daemon side: requests in, job updates and
/// results out; client side: requests out, results in), on Imaging's pixel conversions. It checks only what the
/// conversion itself needs (pixel format, stride, data length, sizes before allocating); every value limit is
/// <see cref="RequestLimits"/>, checked once at submit. Rejections are <see cref="InvalidRequestException"/>s naming
/// the wire field. Pixels are not copied where the layout allows: a packed RGBA request's bytes become the core
/// image, and a result's pixels go out wrapped, not copied (<see cref="UnsafeByteOperations"/>).
/// </summary>
public static class WireMapping
{
    private static readonly RequestLimits Unlimited = new() { MaxPixels = long.MaxValue, MaxSide = int.MaxValue };

    // ------------------------------------------------------------------ daemon side: requests in

    public static OperationRequest ToRequest(W.InpaintRequest r, RequestLimits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        return new OperationRequest
        {
            Operation = Operation.Inpaint,
            Image = image,
            Mask = r.Mask == null ? null : ToMask(r.Mask, "mask", image),
            Settings = ToSettings(r.Settings),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    public static OperationRequest ToRequest(W.OutpaintRequest r, RequestLimits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        OutpaintExtent extent = r.SizeCase switch
        {
            W.OutpaintRequest.SizeOneofCase.Extend => new OutpaintExtent
            {
                Left = Side(r.Extend.Left, "left"), Top = Side(r.Extend.Top, "top"), Right = Side(r.Extend.Right, "right"), Bottom = Side(r.Extend.Bottom, "bottom"),
            },
            W.OutpaintRequest.SizeOneofCase.Aspect => new OutpaintExtent { AspectWidth = Side(r.Aspect.Width, "aspect"), AspectHeight = Side(r.Aspect.Height, "aspect") },
            _ => throw new InvalidRequestException("size", "give either extend (px per side) or aspect"),
        };
        if (r.SizeCase == W.OutpaintRequest.SizeOneofCase.Aspect && (extent.AspectWidth == 0 || extent.AspectHeight == 0))
            throw new InvalidRequestException("aspect", "aspect width and height must both be positive");
        return new OperationRequest
        {
            Operation = Operation.Outpaint,
            Image = image,
            Outpaint = extent,
            Settings = ToSettings(r.Settings),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    /// <summary>uint on the wire, int in the core: out-of-range values stay out of range (the limits reject them).</summary>
    private static int Side(uint v, string name) => v > int.MaxValue ? throw new InvalidRequestException("extend." + name, $"extend.{name} = {v} is too large") : (int)v;

    public static OperationRequest ToRequest(W.ImageToImageRequest r, RequestLimits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        return new OperationRequest
        {
            Operation = Operation.ImageToImage,
            Image = image,
            Mask = r.Mask == null ? null : ToMask(r.Mask, "mask", image),
            Settings = ToSettings(r.Settings),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    public static OperationRequest ToRequest(W.DepthToImageRequest r, RequestLimits limits)
    {
        var image = ToImage(r.Image, "image", limits);
        return new OperationRequest
        {
            Operation = Operation.DepthToImage,
            Image = image,
            DepthMap = r.DepthMap == null ? null : ToImage(r.DepthMap, "depth_map", limits),
            Mask = r.Mask == null ? null : ToMask(r.Mask, "mask", image),
            Settings = ToSettings(r.Settings),
            MaskOptions = ToMaskOptions(r.MaskOptions),
        };
    }

    /// <summary>Text-to-image: a blank canvas of the asked size and pixel format (the engine draws from pure noise).</summary>
    public static OperationRequest ToRequest(W.TextToImageRequest r, RequestLimits limits)
    {
        if (r.Width is < RequestLimits.MinTextToImageSide or > RequestLimits.MaxTextToImageSide)
            throw new InvalidRequestException("width", $"width {r.Width} is outside {RequestLimits.MinTextToImageSide}..{RequestLimits.MaxTextToImageSide}");
        if (r.Height is < RequestLimits.MinTextToImageSide or > RequestLimits.MaxTextToImageSide)
            throw new InvalidRequestException("height", $"height {r.Height} is outside {RequestLimits.MinTextToImageSide}..{RequestLimits.MaxTextToImageSide}");
        limits.CheckImageSize("width", r.Width, r.Height);
        var depth = r.Format switch
        {
            W.PixelFormat.Unspecified or W.PixelFormat.Rgba8 or W.PixelFormat.Bgra8 => PixelDepth.U8,
            W.PixelFormat.Rgba16 => PixelDepth.U16,
            W.PixelFormat.Rgba32F => PixelDepth.F32,
            _ => throw new InvalidRequestException("format", $"format {r.Format} is not a pixel format"),
        };
        return OperationRequest.TextToImage((int)r.Width, (int)r.Height, ToSettings(r.Settings), depth);
    }

    public static W.TextToImageRequest ToTextToImage(OperationRequest r) => new()
    {
        Width = (uint)r.Image.Width,
        Height = (uint)r.Image.Height,
        Settings = ToWire(r.Settings),
        Format = r.Image.Depth switch { PixelDepth.U16 => W.PixelFormat.Rgba16, PixelDepth.F32 => W.PixelFormat.Rgba32F, _ => W.PixelFormat.Rgba8 },
        Client = "inpaintsuite-cli",
    };

    public static int BytesPerPixel(W.PixelFormat format) => format switch
    {
        W.PixelFormat.Rgba8 or W.PixelFormat.Bgra8 => 4,
        W.PixelFormat.Rgba16 => 8,
        W.PixelFormat.Rgba32F => 16,
        _ => 0,
    };

    /// <summary>A wire image as a packed RGBA image (BGRA swapped, stride removed); its size is checked before any allocation.</summary>
    public static RgbaImage ToImage(W.Image? wire, string field, RequestLimits limits)
    {
        if (wire == null) throw new InvalidRequestException(field, $"{field} is required");
        limits.CheckImageSize(field, wire.Width, wire.Height);
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
        if (stride == row && MemoryMarshal.TryGetArray(data.Memory, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length && seg.Count == needed)
        {
            // The parsed message owns this array and is dropped after conversion: no copy (BGRA is swapped in place).
            packed = seg.Array;
            if (wire.Format == W.PixelFormat.Bgra8) PixelConversions.SwapRedBlue(packed, packed);
        }
        else
        {
            packed = GC.AllocateUninitializedArray<byte>(checked((int)(row * h)));
            var src = data.Span;
            for (int y = 0; y < h; y++)
            {
                var from = src.Slice((int)(y * stride), (int)row);
                var to = packed.AsSpan((int)(y * row), (int)row);
                if (wire.Format == W.PixelFormat.Bgra8) PixelConversions.SwapRedBlue(from, to);
                else from.CopyTo(to);
            }
        }
        return RgbaImage.Wrap(w, h, depth, packed);
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
        return PixelConversions.MaskFromBytes(wire.Data.Span, w, h, (int)stride);
    }

    public static GenerationSettings ToSettings(W.GenerationSettings? s)
    {
        if (s == null) return new GenerationSettings();
        return new GenerationSettings
        {
            Engine = s.Engine.Length == 0 ? EngineNames.Auto : s.Engine,
            Prompt = s.Prompt,
            NegativePrompt = s.NegativePrompt,
            Steps = s.Steps > int.MaxValue ? int.MaxValue : (int)s.Steps,
            GuidanceScale = s.HasGuidanceScale ? s.GuidanceScale : null,
            Scheduler = s.Scheduler.Length == 0 ? null : s.Scheduler,
            Seed = s.HasSeed ? s.Seed : null,
            Strength = s.HasStrength ? s.Strength : null,
            BatchSize = s.BatchSize == 0 ? 1 : s.BatchSize > int.MaxValue ? int.MaxValue : (int)s.BatchSize,
            // An absent multiplier means the LoRA as trained (1); RequestLimits checks count, names and range.
            Loras = s.Loras.Select(l => new LoraWeight(l.Name, l.HasMultiplier ? l.Multiplier : 1f)).ToList(),
            LoraLenient = s.LoraLenient,
        };
    }

    public static MaskOptions ToMaskOptions(W.MaskOptions? m)
    {
        if (m == null) return new MaskOptions();
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
            ContextPadding = m.HasContextPadding ? (m.ContextPadding > int.MaxValue ? int.MaxValue : (int)m.ContextPadding) : null,
            WholeImageContext = m.WholeImageContext,
            ColorMatch = m.ColorMatch,
        };
    }

    // ------------------------------------------------------------------ daemon side: updates and results out

    /// <summary>A core update as the wire event of job <paramref name="jobId"/>; patches keep the input's format (BGRA8 in, BGRA8 out).</summary>
    public static W.JobEvent ToWire(JobUpdate update, string jobId, W.PixelFormat inputFormat)
    {
        var e = new W.JobEvent { JobId = jobId };
        switch (update)
        {
            case JobQueued q: e.Queued = new W.Queued { Position = (uint)Math.Max(0, q.Position) }; break;
            case JobStarted s: e.Started = new W.Started { Engine = s.Engine }; break;
            case JobProgress p:
                e.Progress = new W.Progress
                {
                    Step = (uint)Math.Max(0, p.Progress.Step),
                    Total = (uint)Math.Max(0, p.Progress.Total),
                    Stage = p.Progress.Stage ?? "",
                    Preview = p.Progress.Preview == null ? null : ToWire(p.Progress.Preview),
                };
                break;
            case JobCompleted c: e.Result = ToWire(c.Result, inputFormat, c.QueueTime, c.TotalTime); break;
            default: throw new ArgumentOutOfRangeException(nameof(update), update.GetType().Name);
        }
        return e;
    }

    public static W.CancelJobResponse ToWire(CancelOutcome o) => new() { Cancelled = o.Cancelled, PreviousState = o.PreviousState };

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

    /// <summary>
    /// An image on the wire, sharing its buffer (the wire is serialised before anyone touches the image again); BGRA8
    /// needs its own swapped copy.
    /// </summary>
    public static W.Image ToWire(RgbaImage image, W.PixelFormat preferred = W.PixelFormat.Rgba8)
    {
        var format = image.Depth switch
        {
            PixelDepth.U16 => W.PixelFormat.Rgba16,
            PixelDepth.F32 => W.PixelFormat.Rgba32F,
            _ => preferred == W.PixelFormat.Bgra8 ? W.PixelFormat.Bgra8 : W.PixelFormat.Rgba8,
        };
        byte[] data = image.Data;
        if (format == W.PixelFormat.Bgra8) data = PixelConversions.ToBgra8(image);
        return new W.Image { Width = (uint)image.Width, Height = (uint)image.Height, Format = format, Data = UnsafeByteOperations.UnsafeWrap(data) };
    }

    /// <summary>The limits a client is told (GetCapabilities), from the one <see cref="RequestLimits"/> the daemon enforces.</summary>
    public static void ToWire(RequestLimits limits, W.Capabilities caps)
    {
        caps.MaxPixels = (ulong)limits.MaxPixels;
        caps.MaxBatch = (uint)limits.MaxBatch;
        caps.MaxSteps = (uint)limits.MaxSteps;
        caps.MaxFeather = limits.MaxFeather;
        caps.MaxGrow = (uint)limits.MaxGrow;
        caps.MaxGuidanceScale = limits.MaxGuidance;
        caps.MaxPromptChars = (uint)limits.MaxPromptChars;
        caps.MaxExtension = (uint)limits.MaxExtension;
    }

    // ------------------------------------------------------------------ client side: requests out, results in

    public static W.InpaintRequest ToInpaint(OperationRequest r) => new()
    {
        Image = ToWire(r.Image),
        Mask = r.Mask is null ? null : ToWire(r.Mask),
        Settings = ToWire(r.Settings),
        MaskOptions = ToWire(r.MaskOptions),
        Client = "inpaintsuite-cli",
    };

    public static W.OutpaintRequest ToOutpaint(OperationRequest r)
    {
        var e = r.Outpaint ?? throw new InvalidRequestException("outpaint", "outpaint needs an extension");
        var w = new W.OutpaintRequest { Image = ToWire(r.Image), Settings = ToWire(r.Settings), MaskOptions = ToWire(r.MaskOptions), Client = "inpaintsuite-cli" };
        if (e.AspectWidth > 0 && e.AspectHeight > 0) w.Aspect = new W.AspectRatio { Width = (uint)e.AspectWidth, Height = (uint)e.AspectHeight };
        else w.Extend = new W.Extension { Left = (uint)e.Left, Top = (uint)e.Top, Right = (uint)e.Right, Bottom = (uint)e.Bottom };
        return w;
    }

    public static W.ImageToImageRequest ToImageToImage(OperationRequest r) => new()
    {
        Image = ToWire(r.Image),
        Mask = r.Mask is null ? null : ToWire(r.Mask),
        Settings = ToWire(r.Settings),
        MaskOptions = ToWire(r.MaskOptions),
        Client = "inpaintsuite-cli",
    };

    public static W.DepthToImageRequest ToDepth(OperationRequest r) => new()
    {
        Image = ToWire(r.Image),
        DepthMap = r.DepthMap is null ? null : ToWire(r.DepthMap),
        Mask = r.Mask is null ? null : ToWire(r.Mask),
        Settings = ToWire(r.Settings),
        MaskOptions = ToWire(r.MaskOptions),
        Client = "inpaintsuite-cli",
    };

    public static W.Mask ToWire(Mask m) => new() { Width = (uint)m.Width, Height = (uint)m.Height, Data = Google.Protobuf.ByteString.CopyFrom(m.Data) };

    public static W.GenerationSettings ToWire(GenerationSettings s)
    {
        var w = new W.GenerationSettings
        {
            Engine = s.Engine,
            Prompt = s.Prompt,
            NegativePrompt = s.NegativePrompt,
            Steps = (uint)Math.Max(0, s.Steps),
            Scheduler = s.Scheduler ?? "",
            BatchSize = (uint)Math.Max(1, s.BatchSize),
        };
        if (s.GuidanceScale is { } g) w.GuidanceScale = g;
        if (s.Seed is { } seed) w.Seed = seed;
        if (s.Strength is { } st) w.Strength = st;
        foreach (var l in s.Loras) w.Loras.Add(new W.LoraWeight { Name = l.Name, Multiplier = l.Multiplier });
        w.LoraLenient = s.LoraLenient;
        return w;
    }

    public static W.MaskOptions ToWire(MaskOptions m)
    {
        var w = new W.MaskOptions
        {
            Grow = m.Grow,
            FillMode = m.FillMode switch
            {
                FillMode.Blur => W.FillMode.Blur,
                FillMode.Noise => W.FillMode.Noise,
                FillMode.Original => W.FillMode.Original,
                FillMode.Border => W.FillMode.Border,
                FillMode.ContentAware => W.FillMode.ContentAware,
                _ => W.FillMode.Unspecified,
            },
            WholeImageContext = m.WholeImageContext,
            ColorMatch = m.ColorMatch,
        };
        if (m.Feather is { } f) w.Feather = f;
        if (m.ContextPadding is { } cp) w.ContextPadding = (uint)Math.Max(0, cp);
        return w;
    }

    public static OperationResult FromWire(W.Result r, PixelDepth inputDepth, TimeSpan elapsed)
    {

        var patches = r.Patches.Select(p =>
        {
            var img = ToImage(p.Image, "result.patches.image", Unlimited);
            if (img.Depth != inputDepth) img = PixelConversions.ConvertDepth(img, inputDepth);
            return new ResultPatch(p.X, p.Y, img, p.Seed);
        }).ToList();
        return new OperationResult
        {
            Patches = patches,
            Engine = r.Engine,
            CanvasWidth = (int)r.CanvasWidth,
            CanvasHeight = (int)r.CanvasHeight,
            InputOffsetX = r.InputOffsetX,
            InputOffsetY = r.InputOffsetY,
            EngineTime = r.Timings is { EngineSeconds: > 0 } t ? TimeSpan.FromSeconds(t.EngineSeconds) : elapsed,
        };
    }
}
