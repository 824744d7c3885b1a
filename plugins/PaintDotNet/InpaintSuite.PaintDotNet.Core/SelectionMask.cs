namespace InpaintSuite.PaintDotNet.Core;

/// <summary>
/// The selection as per-pixel coverage over the whole document, 255 = selected, 0 = not, between =
/// the antialiased edge (Paint.NET's Selection.MaskBitmap). Built from that mask or from the
/// selection's scan rectangles (Selection.RenderScans).
/// </summary>
public sealed class SelectionMask
{
    private bool? isWholeImage;

    private SelectionMask(int width, int height, byte[] coverage)
    {
        Width = width;
        Height = height;
        Coverage = coverage;
        Bounds = ComputeBounds(width, height, coverage);
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>Packed, Width bytes per row.</summary>
    public byte[] Coverage { get; }

    /// <summary>The smallest box holding every pixel with coverage &gt; 0 (empty for an empty selection).</summary>
    public PixelBox Bounds { get; }

    public bool IsEmpty => Bounds.IsEmpty;

    /// <summary>Every pixel fully selected: Paint.NET's state when nothing is selected.</summary>
    public bool IsWholeImage => isWholeImage ??= Bounds == new PixelBox(0, 0, Width, Height) && Coverage.AsSpan().IndexOfAnyExcept((byte)255) < 0;

    public byte this[int x, int y] => Coverage[y * Width + x];

    public ReadOnlySpan<byte> Row(int y) => Coverage.AsSpan(y * Width, Width);

    public static SelectionMask WholeImage(int width, int height)
    {
        var c = new byte[checked(width * height)];
        c.AsSpan().Fill(255);
        return new SelectionMask(width, height, c);
    }

    /// <summary>From an 8-bit coverage bitmap with <paramref name="stride"/> bytes per row.</summary>
    public static SelectionMask FromCoverage(int width, int height, ReadOnlySpan<byte> data, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (stride < width) throw new ArgumentOutOfRangeException(nameof(stride));
        if ((long)stride * (height - 1) + width > data.Length) throw new ArgumentException("mask data too short", nameof(data));
        var c = new byte[checked(width * height)];
        for (int y = 0; y < height; y++) data.Slice(y * stride, width).CopyTo(c.AsSpan(y * width, width));
        return new SelectionMask(width, height, c);
    }

    /// <summary>From scan rectangles (hard-edged; overlapping rectangles are fine, parts outside are clipped).</summary>
    public static SelectionMask FromScans(int width, int height, IEnumerable<PixelBox> scans)
    {
        var c = new byte[checked(width * height)];
        var doc = new PixelBox(0, 0, width, height);
        foreach (var scan in scans)
        {
            var r = scan.Intersect(doc);
            for (int y = r.Y; y < r.Bottom; y++) c.AsSpan(y * width + r.X, r.Width).Fill(255);
        }
        return new SelectionMask(width, height, c);
    }

    private static PixelBox ComputeBounds(int width, int height, byte[] c)
    {
        int top = -1, bottom = -1, left = width, right = -1;
        for (int y = 0; y < height; y++)
        {
            var row = c.AsSpan(y * width, width);
            int first = row.IndexOfAnyExcept((byte)0);
            if (first < 0) continue;
            int last = row.LastIndexOfAnyExcept((byte)0);
            if (top < 0) top = y;
            bottom = y;
            left = Math.Min(left, first);
            right = Math.Max(right, last);
        }
        return top < 0 ? default : PixelBox.FromEdges(left, top, right + 1, bottom + 1);
    }
}
