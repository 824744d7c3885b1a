using System.Runtime.InteropServices;

namespace InpaintSuite.Imaging;

/// <summary>Bit depth of an <see cref="RgbaImage"/>'s channels.</summary>
public enum PixelDepth
{
    /// <summary>8-bit unsigned per channel (0..255).</summary>
    U8 = 1,
    /// <summary>16-bit unsigned per channel (0..65535), native byte order in memory.</summary>
    U16 = 2,
    /// <summary>32-bit float per channel, nominal range 0..1.</summary>
    F32 = 4,
}

/// <summary>
/// An RGBA image with straight (non-premultiplied) alpha, channels in R,G,B,A order, rows packed
/// (stride = width * 4 channels). The depth decides the channel type; the data is one contiguous array
/// so it can be pinned for native code and sliced into row spans without copies.
/// Wire formats (BGRA8, strided rows, ...) are converted at the edges by <see cref="PixelConversions"/>.
/// </summary>
public sealed class RgbaImage
{
    private readonly byte[] _data;

    public RgbaImage(int width, int height, PixelDepth depth = PixelDepth.U8)
    {
        ValidateSize(width, height);
        Width = width;
        Height = height;
        Depth = depth;
        _data = GC.AllocateUninitializedArray<byte>(checked(width * height * 4 * (int)depth));
        Array.Clear(_data);
    }

    private RgbaImage(int width, int height, PixelDepth depth, byte[] data)
    {
        Width = width;
        Height = height;
        Depth = depth;
        _data = data;
    }

    /// <summary>Wraps an existing packed RGBA buffer (no copy). Its length must be exactly width*height*4*bytesPerChannel.</summary>
    public static RgbaImage Wrap(int width, int height, PixelDepth depth, byte[] data)
    {
        ValidateSize(width, height);
        long expected = (long)width * height * 4 * (int)depth;
        if (data.Length != expected)
            throw new ArgumentException($"buffer holds {data.Length} bytes, a {width}x{height} {depth} RGBA image needs {expected}", nameof(data));
        return new RgbaImage(width, height, depth, data);
    }

    public int Width { get; }
    public int Height { get; }
    public PixelDepth Depth { get; }

    /// <summary>Bytes per channel: 1, 2 or 4.</summary>
    public int BytesPerChannel => (int)Depth;

    /// <summary>Bytes per row (packed).</summary>
    public int Stride => Width * 4 * (int)Depth;

    /// <summary>Number of channel values per row (width * 4).</summary>
    public int RowLength => Width * 4;

    /// <summary>The raw packed bytes (native byte order for 16-bit and float).</summary>
    public byte[] Data => _data;

    public Span<byte> Bytes => _data;

    public Span<byte> RowBytes(int y) => _data.AsSpan(y * Stride, Stride);

    /// <summary>Row <paramref name="y"/> as 8-bit channels (R,G,B,A,...). Depth must be U8.</summary>
    public Span<byte> Row8(int y)
    {
        Require(PixelDepth.U8);
        return _data.AsSpan(y * Stride, Stride);
    }

    /// <summary>Row <paramref name="y"/> as 16-bit channels. Depth must be U16.</summary>
    public Span<ushort> Row16(int y)
    {
        Require(PixelDepth.U16);
        return MemoryMarshal.Cast<byte, ushort>(_data.AsSpan(y * Stride, Stride));
    }

    /// <summary>Row <paramref name="y"/> as float channels. Depth must be F32.</summary>
    public Span<float> RowF(int y)
    {
        Require(PixelDepth.F32);
        return MemoryMarshal.Cast<byte, float>(_data.AsSpan(y * Stride, Stride));
    }

    /// <summary>All pixels as 16-bit channels. Depth must be U16.</summary>
    public Span<ushort> Pixels16 { get { Require(PixelDepth.U16); return MemoryMarshal.Cast<byte, ushort>(_data.AsSpan()); } }

    /// <summary>All pixels as float channels. Depth must be F32.</summary>
    public Span<float> PixelsF { get { Require(PixelDepth.F32); return MemoryMarshal.Cast<byte, float>(_data.AsSpan()); } }

    public RgbaImage Clone() => new(Width, Height, Depth, (byte[])_data.Clone());

    /// <summary>Copies the rectangle (x, y, w, h), which must lie inside the image, into a new image.</summary>
    public RgbaImage Crop(int x, int y, int w, int h)
    {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > Width || y + h > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop {x},{y} {w}x{h} outside {Width}x{Height}");
        var r = new RgbaImage(w, h, Depth);
        int bpp = 4 * (int)Depth;
        for (int row = 0; row < h; row++)
            _data.AsSpan((y + row) * Stride + x * bpp, w * bpp).CopyTo(r.RowBytes(row));
        return r;
    }

    /// <summary>Copies <paramref name="src"/> (same depth) into this image with its top-left at (x, y); parts outside are clipped.</summary>
    public void Paste(RgbaImage src, int x, int y)
    {
        if (src.Depth != Depth) throw new ArgumentException("depth differs", nameof(src));
        int bpp = 4 * (int)Depth;
        int x0 = Math.Max(0, x), y0 = Math.Max(0, y);
        int x1 = Math.Min(Width, x + src.Width), y1 = Math.Min(Height, y + src.Height);
        if (x1 <= x0 || y1 <= y0) return;
        for (int row = y0; row < y1; row++)
            src.Data.AsSpan((row - y) * src.Stride + (x0 - x) * bpp, (x1 - x0) * bpp).CopyTo(_data.AsSpan(row * Stride + x0 * bpp));
    }

    private void Require(PixelDepth d)
    {
        if (Depth != d) throw new InvalidOperationException($"image is {Depth}, not {d}");
    }

    internal static void ValidateSize(int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        if ((long)width * height > int.MaxValue / 16) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} is too large");
    }
}
