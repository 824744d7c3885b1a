namespace InpaintSuite.Imaging.Codecs;

/// <summary>Container formats the codecs recognise by their signature.</summary>
public enum ImageFormat
{
    Unknown = 0,
    Png,
    Jpeg,
}

/// <summary>Limits and choices applied while decoding untrusted bytes.</summary>
public sealed record DecodeOptions
{
    /// <summary>The largest pixel count <see cref="RgbaImage"/> can hold (its buffer index is an int).</summary>
    public const long DefaultMaxPixels = int.MaxValue / 16;

    public static readonly DecodeOptions Default = new();

    /// <summary>
    /// Images declaring more pixels than this are refused with <see cref="InvalidDataException"/> before any
    /// pixel buffer is allocated. Decoders never allocate more than a small constant times this many pixels.
    /// </summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>Rotate/flip JPEGs as their EXIF orientation tag says (what every viewer shows). Default true.</summary>
    public bool ApplyExifOrientation { get; init; } = true;
}

/// <summary>What the source file held, before expansion to RGBA.</summary>
/// <param name="Format">Container format.</param>
/// <param name="Width">Width as decoded (after EXIF orientation when it was applied).</param>
/// <param name="Height">Height as decoded.</param>
/// <param name="BitDepth">Bits per sample in the file (1, 2, 4, 8 or 16); decoded depth is U16 when 16, else U8.</param>
/// <param name="Channels">Colour channels in the file before palette expansion: 1 grey, 2 grey+alpha, 3 colour, 4 colour+alpha (a palette counts as 3, or 4 with tRNS).</param>
/// <param name="HasAlpha">True when the file carries transparency (alpha channel or tRNS).</param>
/// <param name="Interlaced">Adam7 (PNG) or progressive (JPEG).</param>
/// <param name="ExifOrientation">JPEG EXIF orientation 1..8 (1 when absent).</param>
public sealed record ImageInfo(ImageFormat Format, int Width, int Height, int BitDepth, int Channels, bool HasAlpha, bool Interlaced, int ExifOrientation = 1)
{
    /// <summary>The <see cref="PixelDepth"/> a decode of this file produces.</summary>
    public PixelDepth DecodedDepth => BitDepth > 8 ? PixelDepth.U16 : PixelDepth.U8;

    public bool IsGrey => Channels <= 2;
}

/// <summary>Builds the error for an image declaring more pixels than <see cref="DecodeOptions.MaxPixels"/> allows.</summary>
internal static class ImageLimits
{
    /// <summary>Marker in <see cref="Exception.Data"/> so callers can tell "too large" from "corrupt".</summary>
    public const string TooLargeKey = "InpaintSuite.ImageTooLarge";

    public static InvalidDataException TooLarge(string message)
    {
        var e = new InvalidDataException(message);
        e.Data[TooLargeKey] = true;
        return e;
    }
}

/// <summary>
/// The codec seam: decode PNG/JPEG bytes or files into <see cref="RgbaImage"/> (U8, or U16 for 16-bit PNG),
/// and save RGBA images as PNG. Every malformed or over-limit input ends in <see cref="InvalidDataException"/>
/// (<see cref="IsTooLarge"/> tells the over-limit case apart).
/// </summary>
public static class ImageCodec
{
    /// <summary>True when <paramref name="e"/> reports an image over <see cref="DecodeOptions.MaxPixels"/>.</summary>
    public static bool IsTooLarge(Exception e) => e.Data.Contains(ImageLimits.TooLargeKey);

    public static ImageFormat DetectFormat(ReadOnlySpan<byte> data)
    {
        if (PngDecoder.HasSignature(data)) return ImageFormat.Png;
        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat.Jpeg;
        return ImageFormat.Unknown;
    }

    public static RgbaImage Decode(ReadOnlySpan<byte> data, DecodeOptions? options = null) => Decode(data, out _, options);

    public static RgbaImage Decode(ReadOnlySpan<byte> data, out ImageInfo info, DecodeOptions? options = null)
    {
        options ??= DecodeOptions.Default;
        return DetectFormat(data) switch
        {
            ImageFormat.Png => PngDecoder.Decode(data, out info, options),
            ImageFormat.Jpeg => JpegDecoder.Decode(data, out info, options),
            _ => throw new InvalidDataException("not a PNG or JPEG file (unknown signature)"),
        };
    }

    /// <summary>Reads the header only: size, bit depth, channels. Cheap; does not decode pixels.</summary>
    public static ImageInfo Identify(ReadOnlySpan<byte> data) => DetectFormat(data) switch
    {
        ImageFormat.Png => PngDecoder.Identify(data),
        ImageFormat.Jpeg => JpegDecoder.Identify(data),
        _ => throw new InvalidDataException("not a PNG or JPEG file (unknown signature)"),
    };

    public static RgbaImage Load(string path, DecodeOptions? options = null) => Load(path, out _, options);

    public static RgbaImage Load(string path, out ImageInfo info, DecodeOptions? options = null)
    {
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return Decode(bytes, out info, options);
        }
        catch (InvalidDataException e)
        {
            var wrapped = new InvalidDataException($"{path}: {e.Message}", e);
            foreach (System.Collections.DictionaryEntry kv in e.Data) wrapped.Data[kv.Key] = kv.Value;
            throw wrapped;
        }
    }

    /// <summary>Encodes as PNG (8-bit for U8, 16-bit for U16 and F32), reducing to RGB/grey when lossless.</summary>
    public static byte[] EncodePng(RgbaImage image, PngEncodeOptions? options = null)
    {
        using var ms = new MemoryStream();
        PngEncoder.Encode(image, ms, options);
        return ms.ToArray();
    }

    public static void SavePng(RgbaImage image, Stream stream, PngEncodeOptions? options = null) => PngEncoder.Encode(image, stream, options);

    public static void SavePng(RgbaImage image, string path, PngEncodeOptions? options = null)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        PngEncoder.Encode(image, fs, options);
    }
}
