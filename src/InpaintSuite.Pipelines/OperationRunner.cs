using System.Diagnostics;
using InpaintSuite.Imaging;

namespace InpaintSuite.Pipelines;

/// <summary>
/// Runs inpaint and outpaint (and hands img2img / depth-to-image to engines that support them) through the
/// engine seam with the region craft around it:
/// validate -> hole mask (given mask, or the transparent pixels) -> grow/shrink -> blend weight (the coverage, plus
/// the feather band OUTSIDE the mask for diffusion engines) -> crop region with context -> engine.FillAsync on every
/// pixel of weight &gt; 0 -> one patch per batch item covering only the pixels that change (colour = generated,
/// alpha = blend weight, input depth). The contract (docs/masks-and-blending.md): coverage 255 is fully replaced,
/// coverage 0 never changes outside the band, partial coverage blends by coverage.
/// Empty mask: one patch covering the whole image with alpha 0 everywhere (clients composite to the input).
/// </summary>
public sealed class OperationRunner(EngineRegistry engines, RequestLimits? limits = null) : IOperationRunner
{
    public EngineRegistry Engines { get; } = engines;

    /// <summary>What a request may ask for; a daemon sets its own here and validates against the same object before queueing.</summary>
    public RequestLimits Limits { get; set; } = limits ?? RequestLimits.Default;

    public async Task<OperationResult> RunAsync(OperationRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        Limits.Validate(request);
        var engine = Engines.Resolve(request.Settings.Engine, request.Operation);
        ulong seed = request.Settings.Seed ?? RandomSeed();
        int batch = Math.Max(1, request.Settings.BatchSize);
        progress?.Report(new OperationProgress(0, 1, "prepare"));

        return request.Operation switch
        {
            Operation.Outpaint => await OutpaintAsync(request, engine, seed, batch, progress, cancellationToken).ConfigureAwait(false),
            Operation.Inpaint => await InpaintAsync(request, request.Image, HoleMask(request), engine, seed, batch, 0, 0, null,
                MaskOps.BandWidth(EffectiveFeather(engine, request.MaskOptions)), progress, cancellationToken).ConfigureAwait(false),
            _ => await WholeImageAsync(request, engine, seed, batch, progress, cancellationToken).ConfigureAwait(false),
        };
    }

    /// <summary>A random seed that fits every consumer (53 bits: exact in a double, positive in an int64).</summary>
    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(0, 1L << 53);

    /// <summary>
    /// The feather in effect: the request's, else the engine's default. Diffusion engines blend through a band outside
    /// the mask (their output drifts in colour from the photo, a hard edge would show); content-aware and fill copy or
    /// extend the photo's own pixels, and the eval's seam score is best with no band (docs/masks-and-blending.md).
    /// </summary>
    public static float EffectiveFeather(IFillEngine engine, MaskOptions options)
        => options.Feather ?? (EngineRegistry.IsDiffusion(engine) ? CraftDefaults.DiffusionFeather : 0f);

    /// <summary>The given mask, or (no mask) the transparent pixels: mask = 255 - alpha.</summary>
    public static Mask HoleMask(OperationRequest r)
    {
        if (r.Mask is { } m) return m;
        var img = PixelConversions.ConvertDepth(r.Image, PixelDepth.U8);
        var hole = new Mask(img.Width, img.Height);
        for (int y = 0; y < img.Height; y++)
        {
            var row = img.Row8(y);
            var mr = hole.Row(y);
            for (int x = 0; x < img.Width; x++) mr[x] = (byte)(255 - row[x * 4 + 3]);
        }
        return hole;
    }

    private static OperationResult Unchanged(RgbaImage canvas, string engine, ulong seed, int offX = 0, int offY = 0)
    {
        var patch = canvas.Clone();
        ClearAlpha(patch);
        return new OperationResult
        {
            Patches = [new ResultPatch(0, 0, patch, seed)],
            Engine = engine,
            CanvasWidth = canvas.Width,
            CanvasHeight = canvas.Height,
            InputOffsetX = offX,
            InputOffsetY = offY,
        };
    }

    private static void ClearAlpha(RgbaImage img)
    {
        for (int y = 0; y < img.Height; y++)
        {
            switch (img.Depth)
            {
                case PixelDepth.U8: { var r = img.Row8(y); for (int i = 3; i < r.Length; i += 4) r[i] = 0; break; }
                case PixelDepth.U16: { var r = img.Row16(y); for (int i = 3; i < r.Length; i += 4) r[i] = 0; break; }
                default: { var r = img.RowF(y); for (int i = 3; i < r.Length; i += 4) r[i] = 0; break; }
            }
        }
    }

    /// <summary>
    /// Inpaint on <paramref name="canvas"/> with <paramref name="hole"/> (coverage). <paramref name="forceFull"/> marks
    /// pixels whose blend weight must be 1 (outpaint's new area, which has nothing to blend with); <paramref name="band"/>
    /// is the blend band outside the mask in px (0 = nothing outside the mask changes).
    /// </summary>
    private async Task<OperationResult> InpaintAsync(OperationRequest request, RgbaImage canvas, Mask hole, IFillEngine engine, ulong seed, int batch,
        int offX, int offY, Mask? forceFull, int band, IProgress<OperationProgress>? progress, CancellationToken ct)
    {
        var opts = request.MaskOptions;
        // Mask craft runs on a window around the hole (box + grow + band + 2 px), not the whole canvas: a small mask
        // on a 4096x3072 photo costs a small-mask's time. Grow and the band's distances inside the window are exact
        // because every pixel outside it is unmasked and the window keeps a 2 px unmasked margin (except at canvas edges).
        var holeBox = MaskOps.BoundingBox(hole, 1);
        if (holeBox.IsEmpty) return Unchanged(canvas, engine.Name, seed, offX, offY);
        int margin = Math.Max(0, opts.Grow) + band + 2;
        var win = new PixelRect(holeBox.X - margin, holeBox.Y - margin, holeBox.Width + 2 * margin, holeBox.Height + 2 * margin)
            .Intersect(new PixelRect(0, 0, canvas.Width, canvas.Height));
        var holeW = hole.Crop(win.X, win.Y, win.Width, win.Height); // a copy: the caller's mask is never modified
        var grown = opts.Grow == 0 ? holeW : MaskOps.Grow(holeW, opts.Grow);
        var forceW = forceFull?.Crop(win.X, win.Y, win.Width, win.Height);
        // Fully transparent pixels in the hole have nothing to blend with: they take the generated pixel at weight 1.
        var transparent = TransparentWithin(canvas, grown, win);
        if (transparent != null) { if (forceW != null) MaxInPlace(transparent, forceW); forceW = transparent; }
        if (forceW != null) MaxInPlace(grown, forceW);
        // The blend weight is the product's contract; the engine repaints every pixel it reaches (weight > 0), so a
        // partially covered pixel blends the photo with generated content, never with the engine's copy of the photo.
        var weightW = MaskOps.BlendWeight(grown, band);
        var boxW = MaskOps.BoundingBox(weightW, 1);
        if (boxW.IsEmpty) return Unchanged(canvas, engine.Name, seed, offX, offY);
        var box = new PixelRect(boxW.X + win.X, boxW.Y + win.Y, boxW.Width, boxW.Height);

        PixelRect region = opts.WholeImageContext
            ? new PixelRect(0, 0, canvas.Width, canvas.Height)
            : MaskOps.CropRegion(box, canvas.Width, canvas.Height,
                opts.ContextPadding ?? CraftDefaults.ContextPadding(canvas.Width, canvas.Height, box),
                minSize: CraftDefaults.MinRegionSize, multiple: CraftDefaults.RegionMultiple);

        var regionImage = canvas.Crop(region.X, region.Y, region.Width, region.Height);
        var weight = FromWindow(weightW, win, region);
        var engineMask = MaskOps.Threshold(weight, 1);
        var engineImage = engine is IWorkingDepth wd ? PixelConversions.ConvertDepth(regionImage, wd.WorkingDepth) : regionImage;
        var depth = request.DepthMap is { } dm && request.Operation != Operation.Outpaint ? dm.Crop(region.X, region.Y, region.Width, region.Height) : null;

        var fill = new FillRequest
        {
            Operation = request.Operation,
            Region = engineImage,
            Mask = engineMask,
            Settings = request.Settings,
            MaskOptions = opts,
            Seed = seed,
            BatchSize = batch,
            DepthMap = depth,
        };
        var sw = Stopwatch.StartNew();
        var generated = await engine.FillAsync(fill, progress, ct).ConfigureAwait(false);
        sw.Stop();
        ct.ThrowIfCancellationRequested();
        CheckEngineOutput(engine, generated, batch, region);

        var changed = MaskOps.BoundingBox(weight, 1);
        if (changed.IsEmpty) return Unchanged(canvas, engine.Name, seed, offX, offY);
        var patchWeight = weight.Crop(changed.X, changed.Y, changed.Width, changed.Height);

        var patches = new List<ResultPatch>(batch);
        for (int i = 0; i < batch; i++)
        {
            // Colour matching and compositing a large batch item take tens of ms each: stop between items.
            ct.ThrowIfCancellationRequested();
            // Colour matching reads the whole region; otherwise only the changed box is converted (per-pixel, same bytes).
            var gen = opts.ColorMatch
                ? ColorMatch.Apply(PixelConversions.ConvertDepth(generated[i], canvas.Depth), regionImage, engineMask)
                    .Crop(changed.X, changed.Y, changed.Width, changed.Height)
                : PixelConversions.ConvertDepth(generated[i].Crop(changed.X, changed.Y, changed.Width, changed.Height), canvas.Depth);
            var patch = Compositor.MakePatch(gen, patchWeight, canvas.Depth);
            patches.Add(new ResultPatch(region.X + changed.X, region.Y + changed.Y, patch, seed + (ulong)i));
        }
        progress?.Report(new OperationProgress(1, 1, "composite"));
        return new OperationResult
        {
            Patches = patches,
            Engine = engine.Name,
            CanvasWidth = canvas.Width,
            CanvasHeight = canvas.Height,
            InputOffsetX = offX,
            InputOffsetY = offY,
            EngineTime = sw.Elapsed,
        };
    }

    /// <summary>Pixels with alpha 0 where the hole is repainted (&gt;= 128), or null when there are none.</summary>
    private static Mask? TransparentWithin(RgbaImage canvas, Mask hole, PixelRect win)
    {
        Mask? r = null;
        for (int y = 0; y < win.Height; y++)
        {
            var h = hole.Row(y);
            int cy = y + win.Y;
            for (int x = 0; x < win.Width; x++)
            {
                if (h[x] < 128) continue;
                int cx = x + win.X;
                bool clear = canvas.Depth switch
                {
                    PixelDepth.U8 => canvas.Row8(cy)[cx * 4 + 3] == 0,
                    PixelDepth.U16 => canvas.Row16(cy)[cx * 4 + 3] == 0,
                    _ => !(canvas.RowF(cy)[cx * 4 + 3] > 0),
                };
                if (!clear) continue;
                r ??= new Mask(win.Width, win.Height);
                r.Row(y)[x] = 255;
            }
        }
        return r;
    }

    /// <summary>A region-sized mask from a mask over window <paramref name="win"/> (zero outside the window).</summary>
    private static Mask FromWindow(Mask winMask, PixelRect win, PixelRect region)
    {
        var r = new Mask(region.Width, region.Height);
        var ov = win.Intersect(region);
        for (int y = ov.Y; y < ov.Bottom; y++)
            winMask.Row(y - win.Y).Slice(ov.X - win.X, ov.Width).CopyTo(r.Row(y - region.Y).Slice(ov.X - region.X));
        return r;
    }

    private static void CheckEngineOutput(IFillEngine engine, IReadOnlyList<RgbaImage> generated, int batch, PixelRect region)
    {
        if (generated.Count != batch)
            throw new InvalidOperationException($"engine '{engine.Name}' returned {generated.Count} images for batch size {batch}");
        foreach (var g in generated)
            if (g.Width != region.Width || g.Height != region.Height)
                throw new InvalidOperationException($"engine '{engine.Name}' returned {g.Width}x{g.Height} for a {region.Width}x{region.Height} region");
    }

    private static void MaxInPlace(Mask a, Mask b)
    {
        var x = a.Data; var y = b.Data;
        for (int i = 0; i < x.Length; i++) if (y[i] > x[i]) x[i] = y[i];
    }

    /// <summary>The new canvas size and the input's offset on it.</summary>
    public static (int Width, int Height, int OffsetX, int OffsetY) OutpaintCanvas(int width, int height, OutpaintExtent e)
    {
        if (e.AspectWidth > 0 && e.AspectHeight > 0)
        {
            double target = (double)e.AspectWidth / e.AspectHeight;
            if ((double)width / height < target)
            {
                int nw = (int)Math.Round(height * target);
                int left = (nw - width) / 2;
                return (Math.Max(nw, width), height, Math.Max(0, left), 0);
            }
            int nh = (int)Math.Round(width / target);
            int top = (nh - height) / 2;
            return (width, Math.Max(nh, height), 0, Math.Max(0, top));
        }
        return (width + e.Left + e.Right, height + e.Top + e.Bottom, e.Left, e.Top);
    }

    private async Task<OperationResult> OutpaintAsync(OperationRequest request, IFillEngine engine, ulong seed, int batch,
        IProgress<OperationProgress>? progress, CancellationToken ct)
    {
        var input = request.Image;
        var ext = request.Outpaint!;
        var (cw, ch, ox, oy) = OutpaintCanvas(input.Width, input.Height, ext);
        if ((long)cw * ch > int.MaxValue / 16)
            throw new InvalidRequestException("outpaint", $"the outpainted canvas {cw}x{ch} is too large");
        var canvas = new RgbaImage(cw, ch, input.Depth);
        canvas.Paste(input, ox, oy);
        if (cw == input.Width && ch == input.Height && request.Mask is null)
            return Unchanged(canvas, engine.Name, seed, ox, oy); // already at the aspect ratio

        // The new area is the hole; the old image is unmasked, so only the blend band (the feather's, or an explicit
        // overlap) reaches into it. Content-aware and fill default to no band: the old image stays byte-identical.
        int band = ext.BlendOverlap ?? MaskOps.BandWidth(EffectiveFeather(engine, request.MaskOptions));
        var newArea = new Mask(cw, ch);
        for (int y = 0; y < ch; y++)
        {
            var na = newArea.Row(y);
            bool rowOutside = y < oy || y >= oy + input.Height;
            for (int x = 0; x < cw; x++)
                if (rowOutside || x < ox || x >= ox + input.Width) na[x] = 255;
        }
        var hole = newArea.Clone();
        if (request.Mask is { } m)
        {
            var placed = new Mask(cw, ch);
            for (int y = 0; y < m.Height; y++) m.Row(y).CopyTo(placed.Row(y + oy).Slice(ox, m.Width));
            MaxInPlace(hole, placed);
        }
        return await InpaintAsync(request, canvas, hole, engine, seed, batch, ox, oy, newArea, band, progress, ct).ConfigureAwait(false);
    }

    /// <summary>img2img / depth: the whole image is the region, mask all 255 (or the given mask).</summary>
    private async Task<OperationResult> WholeImageAsync(OperationRequest request, IFillEngine engine, ulong seed, int batch,
        IProgress<OperationProgress>? progress, CancellationToken ct)
    {
        var img = request.Image;
        Mask mask;
        if (request.Mask is { } m) mask = m;
        else { mask = new Mask(img.Width, img.Height); mask.Data.AsSpan().Fill(255); }
        var full = new Mask(img.Width, img.Height);
        if (request.Mask is null) full.Data.AsSpan().Fill(255);
        // With no mask the whole image is replaced (weight 1 everywhere: no erosion at the canvas edge).
        return await InpaintAsync(
            new OperationRequest
            {
                Operation = request.Operation, Image = img, Mask = mask, Settings = request.Settings,
                MaskOptions = request.Mask is null ? request.MaskOptions with { WholeImageContext = true, Grow = 0 } : request.MaskOptions,
                DepthMap = request.DepthMap,
            },
            img, mask, engine, seed, batch, 0, 0, request.Mask is null ? full : null,
            MaskOps.BandWidth(EffectiveFeather(engine, request.MaskOptions)), progress, ct).ConfigureAwait(false);
    }
}

/// <summary>Applies an <see cref="OperationResult"/> to its input: what the CLI and tests use to write full images.</summary>
public static class ResultPatches
{
    /// <summary>Batch alternatives: patches grouped by seed, in order of first appearance.</summary>
    public static IReadOnlyList<IReadOnlyList<ResultPatch>> Alternatives(OperationResult result)
        => result.Patches.GroupBy(p => p.Seed).Select(g => (IReadOnlyList<ResultPatch>)g.ToList()).ToList();

    /// <summary>
    /// The full result image for batch item <paramref name="index"/>: a canvas of the result's size (transparent
    /// where the input does not reach), the input at its offset, then the item's patches blended
    /// (out = in*(1-w) + patch*w per channel; generated content is opaque). Same depth as the input.
    /// </summary>
    public static RgbaImage Apply(RgbaImage input, OperationResult result, int index = 0)
    {
        RgbaImage canvas;
        if (result.CanvasWidth == input.Width && result.CanvasHeight == input.Height && result.InputOffsetX == 0 && result.InputOffsetY == 0)
            canvas = input.Clone();
        else
        {
            canvas = new RgbaImage(result.CanvasWidth, result.CanvasHeight, input.Depth);
            canvas.Paste(input, result.InputOffsetX, result.InputOffsetY);
        }
        var alts = Alternatives(result);
        if (alts.Count == 0) return canvas;
        if (index < 0 || index >= alts.Count) throw new ArgumentOutOfRangeException(nameof(index), $"result has {alts.Count} alternatives");
        foreach (var p in alts[index]) Compositor.ApplyPatch(canvas, p.Image, p.X, p.Y);
        return canvas;
    }
}
