using InpaintSuite.Protocol.V1;

namespace InpaintSuite.PaintDotNet.Core;

/// <summary>
/// The finished result, ready for Paint.NET's tiled, multithreaded render: <see cref="Render"/> writes
/// the composited pixels of any output rectangle. Where the blend weight is 0 the source bytes are
/// copied unchanged; elsewhere the patch is blended over the source (Imaging's PatchBlend: transparent
/// canvas takes the generated colour without dark fringes). Immutable: safe to call from many threads.
/// </summary>
public sealed class InpaintRenderer
{
    private readonly Bgra32Surface source;
    private readonly byte[] patch; // BGRA, packed, PatchBounds-sized; A = blend weight
    private readonly SelectionMask? clip;

    public InpaintRenderer(Bgra32Surface source, PixelBox patchBounds, byte[] patchBgra, SelectionMask? clip, string engine = "", ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(patchBgra);
        if (patchBgra.Length != patchBounds.Width * patchBounds.Height * 4) throw new ArgumentException("patch size does not match its bounds");
        if (clip != null && (clip.Width != source.Width || clip.Height != source.Height)) throw new ArgumentException("clip size differs from source");
        this.source = source;
        this.patch = patchBgra;
        this.clip = clip;
        PatchBounds = patchBounds;
        Engine = engine;
        Seed = seed;
    }

    /// <summary>Where the generated pixels sit in the document (may extend past it; that part is ignored).</summary>
    public PixelBox PatchBounds { get; }
    public PixelBox Bounds => source.Bounds;
    public string Engine { get; }
    public ulong Seed { get; }

    /// <summary>The only area whose pixels can differ from the source.</summary>
    public PixelBox ChangedBounds => PatchBounds.Intersect(source.Bounds);

    /// <summary>
    /// Builds the renderer for a daemon result: the first patch, placed through the plan's context box.
    /// </summary>
    public static InpaintRenderer FromResult(Bgra32Surface source, InpaintPlan plan, Result result)
    {
        if (result.Patches.Count == 0) throw new InpaintServiceException(InpaintFailure.Failed, "The daemon returned no result patch.");
        var p = result.Patches[0];
        var img = p.Image ?? throw new InpaintServiceException(InpaintFailure.Failed, "The daemon's result patch has no image.");
        // Patch coordinates are on the result canvas, where our crop's top-left sits at InputOffset.
        var box = new PixelBox(plan.Context.X + p.X - result.InputOffsetX, plan.Context.Y + p.Y - result.InputOffsetY, (int)img.Width, (int)img.Height);
        byte[] bgra;
        try { bgra = WireImages.ToBgra8(img); }
        catch (FormatException e) { throw new InpaintServiceException(InpaintFailure.Failed, "The daemon's result patch is malformed: " + e.Message, e); }
        return new InpaintRenderer(source, box, bgra, plan.Clip, result.Engine, p.Seed);
    }

    /// <summary>
    /// Writes the pixels of <paramref name="rect"/> (document coordinates, inside <see cref="Bounds"/>)
    /// to <paramref name="destination"/>, whose row 0 is rect's top row, <paramref name="destinationStride"/> bytes per row.
    /// </summary>
    public void Render(PixelBox rect, Span<byte> destination, int destinationStride)
    {
        if (rect.IsEmpty) return;
        if (!source.Bounds.Contains(rect)) throw new ArgumentOutOfRangeException(nameof(rect), $"{rect} is outside the layer {source.Bounds}");
        if (destinationStride < rect.Width * 4 || (long)destinationStride * (rect.Height - 1) + rect.Width * 4 > destination.Length)
            throw new ArgumentException("destination too small for the rectangle", nameof(destination));

        var overlap = rect.Intersect(PatchBounds);
        for (int y = rect.Y; y < rect.Bottom; y++)
        {
            var src = source.Data.AsSpan(y * source.Stride + rect.X * 4, rect.Width * 4);
            var dst = destination.Slice((y - rect.Y) * destinationStride, rect.Width * 4);
            src.CopyTo(dst);
            if (overlap.IsEmpty || y < overlap.Y || y >= overlap.Bottom) continue;

            int x0 = overlap.X - rect.X;
            var srcPart = src.Slice(x0 * 4, overlap.Width * 4);
            var dstPart = dst.Slice(x0 * 4, overlap.Width * 4);
            var patchRow = patch.AsSpan(((y - PatchBounds.Y) * PatchBounds.Width + (overlap.X - PatchBounds.X)) * 4, overlap.Width * 4);
            var clipRow = clip == null ? default : clip.Row(y).Slice(overlap.X, overlap.Width);
            CompositeRow(srcPart, patchRow, clipRow, dstPart);
        }
    }

    /// <summary>Renders the whole layer (tests, and the CLI-free preview path).</summary>
    public Bgra32Surface RenderAll()
    {
        var all = new Bgra32Surface(source.Width, source.Height);
        Render(all.Bounds, all.Data, all.Stride);
        return all;
    }

    /// <summary>
    /// One row: weight w = patch alpha x clip coverage; w = 0 leaves dst (already the source) alone. The blend is
    /// Imaging's <see cref="InpaintSuite.Imaging.PatchBlend"/> (patch over source), the one the CLI and Krita's layer
    /// stack use, so the same patch gives the same pixels in every client.
    /// </summary>
    internal static void CompositeRow(ReadOnlySpan<byte> src, ReadOnlySpan<byte> patchRow, ReadOnlySpan<byte> clipRow, Span<byte> dst)
    {
        src.CopyTo(dst);
        InpaintSuite.Imaging.PatchBlend.Over8(dst, patchRow, clipRow);
    }
}
