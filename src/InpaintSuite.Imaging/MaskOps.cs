using System.Numerics;

namespace InpaintSuite.Imaging;

/// <summary>Defaults adopted from the tools users know.</summary>
public static class CraftDefaults
{
    /// <summary>Default feather of diffusion engines in px (A1111's "mask blur" 4): a blend band of 2 x 4 = 8 px outside the mask.</summary>
    public const float DiffusionFeather = 4;
    /// <summary>A1111 "only masked padding, pixels".</summary>
    public const int OnlyMaskedPadding = 32;
    /// <summary>IOPaint crop margin.</summary>
    public const int IoPaintCropMargin = 128;
    /// <summary>krita-ai-diffusion: minimum crop region side and snapping multiple.</summary>
    public const int MinRegionSize = 512;
    public const int RegionMultiple = 8;

    /// <summary>krita-ai-diffusion's context padding: max(canvas longest side / 16, selection's longer side / 2).</summary>
    public static int ContextPadding(int canvasWidth, int canvasHeight, PixelRect selection)
        => Math.Max(Math.Max(canvasWidth, canvasHeight) / 16, Math.Max(selection.Width, selection.Height) / 2);
}

/// <summary>Mask craft: threshold, grow/shrink, feather, blend weight, bounding box, crop region.</summary>
public static class MaskOps
{
    /// <summary>Binary mask: 255 where value &gt;= threshold, else 0.</summary>
    public static Mask Threshold(Mask mask, byte threshold = 128)
    {
        var r = new Mask(mask.Width, mask.Height);
        ThresholdRow(mask.Data, r.Data, threshold);
        return r;
    }

    internal static void ThresholdRow(ReadOnlySpan<byte> s, Span<byte> d, byte threshold)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && threshold > 0)
        {
            var t = new Vector<byte>((byte)(threshold - 1));
            for (; i <= s.Length - Vector<byte>.Count; i += Vector<byte>.Count)
                Vector.GreaterThan(new Vector<byte>(s[i..]), t).CopyTo(d[i..]); // all-ones byte = 255
        }
        for (; i < s.Length; i++) d[i] = s[i] >= threshold ? (byte)255 : (byte)0;
    }

    /// <summary>
    /// Grows (px &gt; 0) or shrinks (px &lt; 0) the mask by |px| pixels (Euclidean, exact distance transform).
    /// The mask is taken as pixels &gt;= 128; grown pixels become 255, shrunk pixels 0, and the rest keep their value
    /// (so antialiased edges far from the change survive).
    /// </summary>
    public static Mask Grow(Mask mask, int px)
    {
        var r = mask.Clone();
        if (px == 0) return r;
        long lim = (long)px * px;
        if (px > 0)
        {
            var d2 = DistanceTransform.SquaredEdt(mask.Data, mask.Width, mask.Height, v => v >= 128);
            for (int i = 0; i < d2.Length; i++) if (d2[i] <= lim) r.Data[i] = 255;
        }
        else
        {
            // distance to the nearest kept pixel; out-of-canvas does not count as kept (editors do the same).
            var d2 = DistanceTransform.SquaredEdt(mask.Data, mask.Width, mask.Height, v => v < 128);
            for (int i = 0; i < d2.Length; i++) if (d2[i] <= lim) r.Data[i] = 0;
        }
        return r;
    }

    /// <summary>Gaussian feather with sigma = <paramref name="sigmaPx"/> (A1111's mask blur).</summary>
    public static Mask Feather(Mask mask, float sigmaPx) => GaussianBlur.Blur(mask, sigmaPx);

    /// <summary>
    /// The blend weight of a result (the product's mask contract, docs/masks-and-blending.md): the user's coverage
    /// itself (255 = fully replaced, 0 = unchanged, partial = blended by coverage), raised in a band of
    /// <paramref name="band"/> px OUTSIDE the selection (coverage &gt;= 128) by a smoothstep ramp that falls from ~1 next
    /// to the selection to 0 beyond <paramref name="band"/> px (krita-ai-diffusion's grow-then-feather: the transition
    /// never eats into the hole, so the removed object's pixels never blend back in). Pixels farther than
    /// <paramref name="band"/> px from the selection keep their coverage; band 0 returns the coverage unchanged.
    /// </summary>
    public static Mask BlendWeight(Mask coverage, int band)
    {
        var r = coverage.Clone();
        if (band <= 0) return r;
        var d2 = DistanceTransform.SquaredEdt(coverage.Data, coverage.Width, coverage.Height, v => v >= 128);
        long lim = (long)band * band;
        var ramp = BandRamp(band);
        var data = r.Data;
        for (int i = 0; i < d2.Length; i++)
        {
            long d = d2[i];
            if (d == 0 || d > lim) continue;
            byte w = ramp[d];
            if (w > data[i]) data[i] = w;
        }
        return r;
    }

    /// <summary>Band weight by squared distance 0..band^2: 255 * smoothstep(t), t = (band + 1 - d) / (band + 1).</summary>
    internal static byte[] BandRamp(int band)
    {
        var ramp = new byte[(long)band * band + 1];
        for (int d2 = 0; d2 < ramp.Length; d2++)
        {
            double t = (band + 1 - Math.Sqrt(d2)) / (band + 1);
            ramp[d2] = (byte)Math.Round(255 * t * t * (3 - 2 * t));
        }
        return ramp;
    }

    /// <summary>Width in px of the blend band outside the mask for a feather of <paramref name="feather"/> px: 2 x feather, rounded up.</summary>
    public static int BandWidth(float feather) => feather > 0 ? (int)Math.Ceiling(2.0 * feather - 1e-6) : 0;

    internal static void MinInPlace(Span<byte> a, ReadOnlySpan<byte> b)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= a.Length - Vector<byte>.Count; i += Vector<byte>.Count)
                Vector.Min(new Vector<byte>(a[i..]), new Vector<byte>(b[i..])).CopyTo(a[i..]);
        for (; i < a.Length; i++) a[i] = Math.Min(a[i], b[i]);
    }

    /// <summary>Bounding box of pixels &gt;= <paramref name="threshold"/>; empty rect when there are none.</summary>
    public static PixelRect BoundingBox(Mask mask, byte threshold = 1)
    {
        int x0 = int.MaxValue, x1 = -1, y0 = -1, y1 = -1;
        for (int y = 0; y < mask.Height; y++)
        {
            var row = mask.Row(y);
            int first = threshold <= 1 ? row.IndexOfAnyExcept((byte)0) : IndexAtLeast(row, threshold);
            if (first < 0) continue;
            int last = threshold <= 1 ? row.LastIndexOfAnyExcept((byte)0) : LastIndexAtLeast(row, threshold);
            if (y0 < 0) y0 = y;
            y1 = y;
            x0 = Math.Min(x0, first);
            x1 = Math.Max(x1, last);
        }
        return y0 < 0 ? default : new PixelRect(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    }

    private static int IndexAtLeast(ReadOnlySpan<byte> r, byte t) { for (int i = 0; i < r.Length; i++) if (r[i] >= t) return i; return -1; }
    private static int LastIndexAtLeast(ReadOnlySpan<byte> r, byte t) { for (int i = r.Length - 1; i >= 0; i--) if (r[i] >= t) return i; return -1; }

    /// <summary>
    /// Crop region for only-masked work: the mask box grown by <paramref name="padding"/> on each side, grown
    /// (short axis, evenly) to <paramref name="aspect"/> (width/height; &lt;= 0 keeps the padded box's shape), at least
    /// <paramref name="minSize"/> per side, sizes rounded up to a multiple of <paramref name="multiple"/>, centred on
    /// the box, shifted to stay inside the canvas and never larger than the canvas. When the canvas side is not a
    /// multiple, the side is rounded down to one if that still holds the box, else it is the whole canvas side.
    /// </summary>
    public static PixelRect CropRegion(PixelRect box, int canvasWidth, int canvasHeight, int padding,
        double aspect = 0, int minSize = 0, int multiple = CraftDefaults.RegionMultiple)
    {
        if (box.IsEmpty) throw new ArgumentException("empty mask box", nameof(box));
        multiple = Math.Max(1, multiple);
        double w = box.Width + 2.0 * Math.Max(0, padding), h = box.Height + 2.0 * Math.Max(0, padding);
        if (aspect > 0)
        {
            if (w / h < aspect) w = h * aspect; else h = w / aspect;
        }
        w = Math.Max(w, minSize);
        h = Math.Max(h, minSize);
        int iw = FitSide(w, box.Width, canvasWidth, multiple);
        int ih = FitSide(h, box.Height, canvasHeight, multiple);
        double cx = box.X + box.Width / 2.0, cy = box.Y + box.Height / 2.0;
        int x = Place(cx, iw, box.X, box.Right, canvasWidth);
        int y = Place(cy, ih, box.Y, box.Bottom, canvasHeight);
        return new PixelRect(x, y, iw, ih);
    }

    private static int FitSide(double want, int boxSide, int canvas, int multiple)
    {
        int s = (int)Math.Ceiling(want - 1e-9);
        s = (s + multiple - 1) / multiple * multiple;
        if (s <= canvas) return s;
        int down = canvas / multiple * multiple;
        return down >= boxSide ? down : canvas;
    }

    private static int Place(double centre, int size, int boxStart, int boxEnd, int canvas)
    {
        int x = (int)Math.Round(centre - size / 2.0);
        x = Math.Clamp(x, 0, canvas - size);
        // Keep the box inside even when rounding pushed it out (size >= box side always holds).
        if (x > boxStart) x = boxStart;
        if (x + size < boxEnd) x = boxEnd - size;
        return Math.Clamp(x, 0, canvas - size);
    }
}
