namespace InpaintSuite.Imaging;

/// <summary>
/// 8-bit coverage mask, one byte per pixel, rows packed. 255 = repaint fully, 0 = keep, values between
/// are partial coverage (antialiased selections, feathered edges).
/// </summary>
public sealed class Mask
{
    public Mask(int width, int height)
    {
        RgbaImage.ValidateSize(width, height);
        Width = width;
        Height = height;
        Data = new byte[checked(width * height)];
    }

    private Mask(int width, int height, byte[] data)
    {
        Width = width;
        Height = height;
        Data = data;
    }

    /// <summary>Wraps an existing packed buffer (no copy).</summary>
    public static Mask Wrap(int width, int height, byte[] data)
    {
        RgbaImage.ValidateSize(width, height);
        if (data.Length != (long)width * height)
            throw new ArgumentException($"mask buffer holds {data.Length} bytes, {width}x{height} needs {(long)width * height}", nameof(data));
        return new Mask(width, height, data);
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Data { get; }

    public Span<byte> Row(int y) => Data.AsSpan(y * Width, Width);

    public Mask Clone() => new(Width, Height, (byte[])Data.Clone());

    /// <summary>True when no pixel is to be repainted.</summary>
    public bool IsEmpty => !Data.AsSpan().ContainsAnyExcept((byte)0);

    /// <summary>True when every pixel is to be repainted fully.</summary>
    public bool IsFull => !Data.AsSpan().ContainsAnyExcept((byte)255);

    public Mask Crop(int x, int y, int w, int h)
    {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > Width || y + h > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop {x},{y} {w}x{h} outside {Width}x{Height}");
        var m = new Mask(w, h);
        for (int row = 0; row < h; row++) Data.AsSpan((y + row) * Width + x, w).CopyTo(m.Row(row));
        return m;
    }
}
