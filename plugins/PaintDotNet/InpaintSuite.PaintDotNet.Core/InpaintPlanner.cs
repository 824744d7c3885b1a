using Google.Protobuf;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.PaintDotNet.Core;

public enum HoleSource
{
    /// <summary>The selection's coverage is the hole (the usual case).</summary>
    Selection,
    /// <summary>
    /// Nothing selected (Paint.NET then selects everything) and the layer has transparent pixels, e.g.
    /// after Image &gt; Canvas Size: the transparent pixels are the hole (outpainting).
    /// </summary>
    TransparentPixels,
}

/// <summary>What will be sent and how its answer maps back onto the document.</summary>
public sealed class InpaintPlan
{
    public required HoleSource HoleSource { get; init; }
    /// <summary>The document area sent to the daemon (the hole plus context).</summary>
    public required PixelBox Context { get; init; }
    /// <summary>The hole's bounds in document pixels.</summary>
    public required PixelBox HoleBounds { get; init; }
    public required InpaintRequest Request { get; init; }
    /// <summary>
    /// Limits the composite: result weight is multiplied by this coverage, so nothing outside the
    /// selection changes whatever the daemon's feathering does. Null when the whole image is selected.
    /// </summary>
    public SelectionMask? Clip { get; init; }
}

/// <summary>Turns a BGRA32 surface and a selection into a daemon request.</summary>
public static class InpaintPlanner
{
    /// <summary>Client name the daemon logs and uses for fairness.</summary>
    public const string ClientName = "paint.net";

    /// <summary>
    /// Automatic context: half the hole's longer side on each side, at least 64 px, at most 512 px.
    /// Enough surroundings for a diffusion model to match lighting and texture without sending a
    /// whole 8K layer for a small fix; the daemon crops further around its own working size.
    /// </summary>
    public static int AutoContextPadding(PixelBox hole) => Math.Clamp((Math.Max(hole.Width, hole.Height) + 1) / 2, 64, 512);

    public static InpaintPlan Plan(Bgra32Surface source, SelectionMask selection, InpaintSettings settings)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentNullException.ThrowIfNull(settings);
        if (selection.Width != source.Width || selection.Height != source.Height)
            throw new ArgumentException($"selection is {selection.Width}x{selection.Height} but the layer is {source.Width}x{source.Height}");
        if (settings.Validate() is { } problem)
            throw new InpaintServiceException(InpaintFailure.Rejected, "InpaintSuite settings: " + problem);
        if (selection.IsEmpty)
            throw new InpaintServiceException(InpaintFailure.NothingToFill, "The selection is empty: select the area to fill.");

        HoleSource holeSource;
        byte[] hole; // document-sized coverage of what to repaint
        if (selection.IsWholeImage)
        {
            hole = TransparencyHole(source);
            if (hole.AsSpan().IndexOfAnyExcept((byte)255) < 0)
                throw new InpaintServiceException(InpaintFailure.NothingToFill,
                    "The whole layer is transparent: there is nothing to extend. Paint or paste an image first.");
            if (hole.AsSpan().IndexOfAnyExcept((byte)0) < 0)
                throw new InpaintServiceException(InpaintFailure.NothingToFill,
                    "Nothing is selected and the layer has no transparent pixels: select the area to fill, or add transparent canvas (Image > Canvas Size) to outpaint.");
            holeSource = HoleSource.TransparentPixels;
        }
        else
        {
            hole = selection.Coverage;
            holeSource = HoleSource.Selection;
        }

        var holeBounds = holeSource == HoleSource.Selection ? selection.Bounds : BoundsOf(hole, source.Width, source.Height);
        int pad = settings.ContextPadding ?? AutoContextPadding(holeBounds);
        // The daemon grows and feathers inside what it gets: leave room for both.
        pad += Math.Max(0, settings.Grow) + (int)MathF.Ceiling(settings.Feather);
        var context = holeBounds.Inflate(pad).Intersect(source.Bounds);

        var crop = source.Crop(context);
        var maskBytes = new byte[context.Width * context.Height];
        for (int y = 0; y < context.Height; y++)
            hole.AsSpan((context.Y + y) * source.Width + context.X, context.Width).CopyTo(maskBytes.AsSpan(y * context.Width, context.Width));

        var request = new InpaintRequest
        {
            Image = new Image
            {
                Width = (uint)context.Width,
                Height = (uint)context.Height,
                Format = PixelFormat.Bgra8,
                Data = ByteString.CopyFrom(crop.Data),
            },
            // Always explicit, also for the transparent-pixel case, so the hole is exactly what we composite.
            Mask = new Mask { Width = (uint)context.Width, Height = (uint)context.Height, Data = ByteString.CopyFrom(maskBytes) },
            Settings = ToWire(settings),
            MaskOptions = new MaskOptions
            {
                Grow = settings.Grow,
                Feather = settings.Feather,
                FillMode = holeSource == HoleSource.TransparentPixels ? FillMode.ContentAware : FillMode.Unspecified,
            },
            Client = ClientName,
        };
        if (settings.ContextPadding is { } cp) request.MaskOptions.ContextPadding = (uint)cp;

        return new InpaintPlan
        {
            HoleSource = holeSource,
            Context = context,
            HoleBounds = holeBounds,
            Request = request,
            Clip = holeSource == HoleSource.Selection ? selection : null,
        };
    }

    public static GenerationSettings ToWire(InpaintSettings s)
    {
        var g = new GenerationSettings
        {
            Engine = s.Engine,
            Prompt = s.Prompt,
            NegativePrompt = s.NegativePrompt,
            Steps = (uint)s.Steps,
            Scheduler = s.Scheduler,
            Strength = s.Strength,
            BatchSize = 1,
        };
        if (s.Seed is { } seed) g.Seed = seed;
        return g;
    }

    /// <summary>255 - alpha: fully transparent pixels are fully repainted, half-transparent edges half.</summary>
    internal static byte[] TransparencyHole(Bgra32Surface source)
    {
        var hole = new byte[source.Width * source.Height];
        for (int y = 0; y < source.Height; y++)
        {
            var row = source.Row(y);
            var dst = hole.AsSpan(y * source.Width, source.Width);
            for (int x = 0; x < dst.Length; x++) dst[x] = (byte)(255 - row[x * 4 + 3]);
        }
        return hole;
    }

    private static PixelBox BoundsOf(byte[] coverage, int width, int height) =>
        SelectionMask.FromCoverage(width, height, coverage, width).Bounds;
}
