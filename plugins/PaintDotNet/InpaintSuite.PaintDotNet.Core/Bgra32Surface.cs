namespace InpaintSuite.PaintDotNet.Core;

/// <summary>
/// A BGRA32 bitmap (Paint.NET's ColorBgra32 layout: B, G, R, A bytes, straight alpha), rows of
/// <see cref="Stride"/> bytes. The adapter copies Paint.NET's source bitmap into one of these.
/// </summary>
public sealed class Bgra32Surface
{
    public const int BytesPerPixel = 4;

    public Bgra32Surface(int width, int height)
        : this(width, height, new byte[checked(width * height * BytesPerPixel)], width * BytesPerPixel)
    {
    }

    public Bgra32Surface(int width, int height, byte[] data, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(data);
        if (stride < width * BytesPerPixel) throw new ArgumentOutOfRangeException(nameof(stride), $"stride {stride} < width*4 ({width * BytesPerPixel})");
        if ((long)stride * (height - 1) + (long)width * BytesPerPixel > data.Length)
            throw new ArgumentException($"{data.Length} bytes cannot hold {width}x{height} BGRA32 with stride {stride}", nameof(data));
        Width = width;
        Height = height;
        Data = data;
        Stride = stride;
    }

    public int Width { get; }
    public int Height { get; }
    public int Stride { get; }
    public byte[] Data { get; }
    public PixelBox Bounds => new(0, 0, Width, Height);

    /// <summary>The pixels of row <paramref name="y"/> (Width*4 bytes, no padding).</summary>
    public Span<byte> Row(int y) => Data.AsSpan(y * Stride, Width * BytesPerPixel);

    public (byte B, byte G, byte R, byte A) this[int x, int y]
    {
        get
        {
            int o = y * Stride + x * BytesPerPixel;
            return (Data[o], Data[o + 1], Data[o + 2], Data[o + 3]);
        }
        set
        {
            int o = y * Stride + x * BytesPerPixel;
            Data[o] = value.B; Data[o + 1] = value.G; Data[o + 2] = value.R; Data[o + 3] = value.A;
        }
    }

    /// <summary>A packed copy of <paramref name="box"/> (which must lie inside the surface).</summary>
    public Bgra32Surface Crop(PixelBox box)
    {
        if (!Bounds.Contains(box)) throw new ArgumentOutOfRangeException(nameof(box), $"{box} is not inside {Bounds}");
        var crop = new Bgra32Surface(box.Width, box.Height);
        for (int y = 0; y < box.Height; y++)
            Data.AsSpan((box.Y + y) * Stride + box.X * BytesPerPixel, box.Width * BytesPerPixel).CopyTo(crop.Row(y));
        return crop;
    }

    public Bgra32Surface Clone() => Crop(Bounds);

    /// <summary>True when both hold the same pixels (padding bytes ignored).</summary>
    public bool PixelsEqual(Bgra32Surface other)
    {
        if (other.Width != Width || other.Height != Height) return false;
        for (int y = 0; y < Height; y++)
            if (!Row(y).SequenceEqual(other.Row(y))) return false;
        return true;
    }
}
