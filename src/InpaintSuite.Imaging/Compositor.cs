namespace InpaintSuite.Imaging;

/// <summary>
/// Pastes generated pixels back through a blend weight. A patch is an RGBA image whose colour is the
/// generated content and whose alpha is the blend weight w; it is composited "patch over input" (straight alpha:
/// out alpha = in.a*(1-w) + w, colour = (in*in.a*(1-w) + patch*w) / out alpha; with an opaque input the plain lerp),
/// the same blend as the Paint.NET plugin (<see cref="PatchBlend"/>) and Krita's layer stack. Where w = 0 the input
/// is left byte-identical at every depth (the blend is skipped, not computed).
/// </summary>
public static class Compositor
{
    /// <summary>
    /// A patch of <paramref name="depth"/>: colour from <paramref name="generated"/> (converted), alpha = <paramref name="weight"/>
    /// (255 = 1). Both must have the same size.
    /// </summary>
    public static RgbaImage MakePatch(RgbaImage generated, Mask weight, PixelDepth depth)
    {
        if (generated.Width != weight.Width || generated.Height != weight.Height)
            throw new ArgumentException($"generated {generated.Width}x{generated.Height} and weight {weight.Width}x{weight.Height} differ");
        var p = PixelConversions.ConvertDepth(generated, depth);
        if (ReferenceEquals(p, generated)) p = generated.Clone();
        for (int y = 0; y < p.Height; y++)
        {
            var m = weight.Row(y);
            switch (depth)
            {
                case PixelDepth.U8: { var r = p.Row8(y); for (int x = 0; x < m.Length; x++) r[x * 4 + 3] = m[x]; break; }
                case PixelDepth.U16: { var r = p.Row16(y); for (int x = 0; x < m.Length; x++) r[x * 4 + 3] = (ushort)(m[x] * 257); break; }
                default: { var r = p.RowF(y); for (int x = 0; x < m.Length; x++) r[x * 4 + 3] = m[x] / 255f; break; }
            }
        }
        return p;
    }

    /// <summary>Applies a patch in place with its top-left at (x, y) on <paramref name="target"/>; parts outside are clipped.</summary>
    public static void ApplyPatch(RgbaImage target, RgbaImage patch, int x, int y)
    {
        var p = PixelConversions.ConvertDepth(patch, target.Depth);
        int x0 = Math.Max(0, x), y0 = Math.Max(0, y);
        int x1 = Math.Min(target.Width, x + p.Width), y1 = Math.Min(target.Height, y + p.Height);
        if (x1 <= x0 || y1 <= y0) return;
        int n = (x1 - x0) * 4;
        Parallel.For(y0, y1, new ParallelOptions { MaxDegreeOfParallelism = (long)n * (y1 - y0) > 1 << 18 ? -1 : 1 }, row =>
        {
            int ps = (x0 - x) * 4;
            switch (target.Depth)
            {
                case PixelDepth.U8: BlendRow8(target.Row8(row).Slice(x0 * 4, n), p.Row8(row - y).Slice(ps, n)); break;
                case PixelDepth.U16: BlendRow16(target.Row16(row).Slice(x0 * 4, n), p.Row16(row - y).Slice(ps, n)); break;
                default: BlendRowF(target.RowF(row).Slice(x0 * 4, n), p.RowF(row - y).Slice(ps, n)); break;
            }
        });
    }

    /// <summary>Returns a copy of <paramref name="image"/> with the patches applied in order.</summary>
    public static RgbaImage ApplyPatches(RgbaImage image, IEnumerable<(int X, int Y, RgbaImage Patch)> patches)
    {
        var r = image.Clone();
        foreach (var (x, y, patch) in patches) ApplyPatch(r, patch, x, y);
        return r;
    }

    /// <summary>
    /// input with <paramref name="generated"/> (region-sized, placed at x,y) blended through <paramref name="weight"/>
    /// (region-sized): the common "paste back" in one call.
    /// </summary>
    public static RgbaImage Composite(RgbaImage input, RgbaImage generated, Mask weight, int x, int y)
    {
        var r = input.Clone();
        ApplyPatch(r, MakePatch(generated, weight, input.Depth), x, y);
        return r;
    }

    internal static void BlendRow8(Span<byte> t, ReadOnlySpan<byte> p) => PatchBlend.Over8(t, p, default);

    internal static void BlendRow16(Span<ushort> t, ReadOnlySpan<ushort> p)
    {
        for (int i = 0; i < t.Length; i += 4)
        {
            long w = p[i + 3];
            if (w == 0) continue;
            if (w == 65535) { t[i] = p[i]; t[i + 1] = p[i + 1]; t[i + 2] = p[i + 2]; t[i + 3] = 65535; continue; }
            long ks = t[i + 3] * (65535 - w), kp = 65535 * w, d = ks + kp, half = d / 2;
            t[i] = (ushort)((t[i] * ks + p[i] * kp + half) / d);
            t[i + 1] = (ushort)((t[i + 1] * ks + p[i + 1] * kp + half) / d);
            t[i + 2] = (ushort)((t[i + 2] * ks + p[i + 2] * kp + half) / d);
            t[i + 3] = (ushort)((d + 32767) / 65535);
        }
    }

    internal static void BlendRowF(Span<float> t, ReadOnlySpan<float> p)
    {
        for (int i = 0; i < t.Length; i += 4)
        {
            float w = p[i + 3];
            if (!(w > 0)) continue;
            if (w >= 1f) { t[i] = p[i]; t[i + 1] = p[i + 1]; t[i + 2] = p[i + 2]; t[i + 3] = 1f; continue; }
            float ks = Math.Clamp(t[i + 3], 0f, 1f) * (1f - w), a = ks + w;
            t[i] = (t[i] * ks + p[i] * w) / a;
            t[i + 1] = (t[i + 1] * ks + p[i + 1] * w) / a;
            t[i + 2] = (t[i + 2] * ks + p[i + 2] * w) / a;
            t[i + 3] = a;
        }
    }
}
