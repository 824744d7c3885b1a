namespace InpaintSuite.Imaging.ContentAware;

/// <summary>
/// Content-aware fill: completes the masked pixels from the image's own known pixels with multi-scale
/// PatchMatch and EM voting, so texture and structure continue into the hole. Needs no model weights.
/// </summary>
public static class ContentAwareFill
{
    /// <summary>
    /// Fills <paramref name="mask"/>'s pixels (255 = fill; values between blend) of <paramref name="image"/>.
    /// With no mask, transparent pixels are the hole (coverage = 255 - alpha) and filled pixels become opaque.
    /// Each connected hole is solved on a crop with context, so cost follows the hole area, not the canvas.
    /// Returns a new image of the same size and depth; pixels with zero coverage are bit-identical to the input.
    /// </summary>
    /// <exception cref="NothingToCopyException">the mask covers everything, or leaves no whole patch of known pixels.</exception>
    public static RgbaImage Fill(RgbaImage image, Mask? mask, ContentAwareOptions? options = null,
        IProgress<ContentAwareProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new ContentAwareOptions();
        options.Validate();
        int w = image.Width, h = image.Height;
        if (mask != null && (mask.Width != w || mask.Height != h))
            throw new ArgumentException($"mask is {mask.Width}x{mask.Height}, image is {w}x{h}", nameof(mask));
        bool fromAlpha = mask == null;
        byte[] coverage = mask?.Data ?? CoverageFromAlpha(image);

        var result = image.Clone();
        if (!coverage.AsSpan().ContainsAnyExcept((byte)0)) return result;
        if (!coverage.AsSpan().ContainsAnyExcept((byte)255))
            throw new NothingToCopyException("the mask covers the whole image: nothing to copy from");

        var boxes = CropBoxes(coverage, w, h, options);
        var jobs = new List<(PixelRect Box, float[] Plane, byte[] Hole, PatchMatchCompletion Solver)>();
        foreach (var box in boxes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var plane = ReadPlane(image, box);
            var hole = new byte[box.Width * box.Height];
            for (int y = 0; y < box.Height; y++)
                for (int x = 0; x < box.Width; x++)
                    hole[y * box.Width + x] = coverage[(box.Y + y) * w + box.X + x] != 0 ? (byte)1 : (byte)0;
            jobs.Add((box, plane, hole, new PatchMatchCompletion(plane, hole, box.Width, box.Height, options, cancellationToken)));
        }
        int total = jobs.Sum(j => j.Solver.TotalIterations), done = 0;
        progress?.Report(new ContentAwareProgress(0, total, "content-aware"));
        foreach (var job in jobs)
        {
            job.Solver.Run(() => progress?.Report(new ContentAwareProgress(++done, total, "content-aware")), cancellationToken);
            WriteBack(result, job.Box, job.Plane, coverage, fromAlpha);
        }
        return result;
    }

    /// <summary>Hole coverage from alpha: fully transparent = 255 (fill), opaque = 0 (keep).</summary>
    internal static byte[] CoverageFromAlpha(RgbaImage image)
    {
        int n = image.Width * image.Height;
        var c = new byte[n];
        switch (image.Depth)
        {
            case PixelDepth.U8:
                for (int i = 0; i < n; i++) c[i] = (byte)(255 - image.Data[i * 4 + 3]);
                break;
            case PixelDepth.U16:
                var p16 = image.Pixels16;
                for (int i = 0; i < n; i++) c[i] = (byte)(255 - (p16[i * 4 + 3] * 255 + 32767) / 65535);
                break;
            default:
                var pf = image.PixelsF;
                for (int i = 0; i < n; i++) c[i] = (byte)(255 - (int)MathF.Round(Math.Clamp(pf[i * 4 + 3], 0f, 1f) * 255));
                break;
        }
        return c;
    }

    /// <summary>
    /// One crop per group of connected holes: each hole's bounding box grown by the context margin, overlapping
    /// boxes merged (so no crop cuts through a hole it does not own).
    /// </summary>
    internal static List<PixelRect> CropBoxes(byte[] coverage, int w, int h, ContentAwareOptions options)
    {
        var seen = new bool[w * h];
        var boxes = new List<PixelRect>();
        var stack = new Stack<int>();
        for (int start = 0; start < coverage.Length; start++)
        {
            if (coverage[start] == 0 || seen[start]) continue;
            int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            seen[start] = true;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int i = stack.Pop(), x = i % w, y = i / w;
                x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                        int j = ny * w + nx;
                        if (coverage[j] != 0 && !seen[j]) { seen[j] = true; stack.Push(j); }
                    }
            }
            int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
            int margin = options.ContextMargin ?? Math.Max(32, Math.Max(bw, bh));
            margin = Math.Max(margin, options.PatchSize);
            int ax = Math.Max(0, x0 - margin), ay = Math.Max(0, y0 - margin);
            boxes.Add(new PixelRect(ax, ay, Math.Min(w, x1 + 1 + margin) - ax, Math.Min(h, y1 + 1 + margin) - ay));
        }
        bool merged = true;
        while (merged)
        {
            merged = false;
            for (int i = 0; i < boxes.Count && !merged; i++)
                for (int j = i + 1; j < boxes.Count; j++)
                {
                    if (boxes[i].Intersect(boxes[j]).IsEmpty) continue;
                    boxes[i] = boxes[i].Union(boxes[j]);
                    boxes.RemoveAt(j);
                    merged = true;
                    break;
                }
        }
        return boxes;
    }

    /// <summary>The crop as R, G, B (0..255 floats) and a spare 4th channel, whatever the image depth.</summary>
    private static float[] ReadPlane(RgbaImage image, PixelRect box)
    {
        var plane = new float[box.Width * box.Height * 4];
        for (int y = 0; y < box.Height; y++)
        {
            int src = ((box.Y + y) * image.Width + box.X) * 4, dst = y * box.Width * 4;
            switch (image.Depth)
            {
                case PixelDepth.U8:
                    var row8 = image.Data.AsSpan(src, box.Width * 4);
                    for (int x = 0; x < box.Width; x++)
                        for (int k = 0; k < 3; k++) plane[dst + x * 4 + k] = row8[x * 4 + k];
                    break;
                case PixelDepth.U16:
                    var row16 = image.Pixels16.Slice(src, box.Width * 4);
                    for (int x = 0; x < box.Width; x++)
                        for (int k = 0; k < 3; k++) plane[dst + x * 4 + k] = row16[x * 4 + k] / 257f;
                    break;
                default:
                    var rowF = image.PixelsF.Slice(src, box.Width * 4);
                    for (int x = 0; x < box.Width; x++)
                        for (int k = 0; k < 3; k++) plane[dst + x * 4 + k] = Math.Clamp(rowF[x * 4 + k], 0f, 1f) * 255f;
                    break;
            }
        }
        return plane;
    }

    /// <summary>Blends the filled plane into the result by coverage; untouched where coverage is 0.</summary>
    private static void WriteBack(RgbaImage result, PixelRect box, float[] plane, byte[] coverage, bool opaque)
    {
        int w = result.Width;
        for (int y = 0; y < box.Height; y++)
            for (int x = 0; x < box.Width; x++)
            {
                int gi = (box.Y + y) * w + box.X + x;
                int c = coverage[gi];
                if (c == 0) continue;
                float t = c / 255f;
                int pi = (y * box.Width + x) * 4;
                switch (result.Depth)
                {
                    case PixelDepth.U8:
                        var d8 = result.Data;
                        for (int k = 0; k < 3; k++)
                            d8[gi * 4 + k] = (byte)Math.Clamp(MathF.Round(d8[gi * 4 + k] * (1 - t) + plane[pi + k] * t), 0, 255);
                        d8[gi * 4 + 3] = opaque ? (byte)255 : (byte)MathF.Round(d8[gi * 4 + 3] * (1 - t) + 255 * t);
                        break;
                    case PixelDepth.U16:
                        var d16 = result.Pixels16;
                        for (int k = 0; k < 3; k++)
                            d16[gi * 4 + k] = (ushort)Math.Clamp(MathF.Round(d16[gi * 4 + k] * (1 - t) + plane[pi + k] * 257f * t), 0, 65535);
                        d16[gi * 4 + 3] = opaque ? (ushort)65535 : (ushort)MathF.Round(d16[gi * 4 + 3] * (1 - t) + 65535 * t);
                        break;
                    default:
                        var df = result.PixelsF;
                        for (int k = 0; k < 3; k++) df[gi * 4 + k] = df[gi * 4 + k] * (1 - t) + plane[pi + k] / 255f * t;
                        df[gi * 4 + 3] = opaque ? 1f : df[gi * 4 + 3] * (1 - t) + t;
                        break;
                }
            }
    }
}
