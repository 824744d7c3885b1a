namespace InpaintSuite.Imaging.Codecs;

/// <summary>Container formats the codecs recognise by their signature.</summary>
public enum ImageFormat
{
    Unknown = 0,
    Png,
    Jpeg,
    Webp,
    Gif,
    Bmp,
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

    /// <summary>Rotate/flip JPEG/WebP images as their EXIF orientation tag says (what every viewer shows). Default true.</summary>
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
/// <param name="ExifOrientation">EXIF orientation 1..8 (1 when absent).</param>
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

/// <summary>How <see cref="ImageCodec.Encode"/> writes JPEG and WebP (PNG is lossless and takes <see cref="PngEncodeOptions"/>).</summary>
public sealed record ImageEncodeOptions
{
    public static readonly ImageEncodeOptions Default = new();

    /// <summary>JPEG / lossy WebP quality 0..100 (for lossless WebP: compression effort). Default 90.</summary>
    public int Quality { get; init; } = 90;

    /// <summary>WebP only: lossless instead of lossy.</summary>
    public bool Lossless { get; init; }

    /// <summary>PNG options when the format is PNG.</summary>
    public PngEncodeOptions? Png { get; init; }
}

/// <summary>
/// The codec seam: decode image bytes or files into <see cref="RgbaImage"/> and write them back.
/// PNG is the project's own decoder/encoder (exact 16-bit, U16 for 16-bit files); JPEG (all kinds, CMYK too), WebP,
/// GIF (first frame) and BMP decode through SkiaSharp (<see cref="SkiaCodec"/>) to U8; JPEG and WebP encode through
/// SkiaSharp, chosen by the output file's extension (<see cref="FormatForPath"/>). Every malformed, truncated or
/// over-limit input ends in <see cref="InvalidDataException"/> (<see cref="IsTooLarge"/> tells the over-limit case apart).
/// </summary>
public static class ImageCodec
{
    /// <summary>True when <paramref name="e"/> reports an image over <see cref="DecodeOptions.MaxPixels"/>.</summary>
    public static bool IsTooLarge(Exception e) => e.Data.Contains(ImageLimits.TooLargeKey);

    public static ImageFormat DetectFormat(ReadOnlySpan<byte> data)
    {
        if (PngDecoder.HasSignature(data)) return ImageFormat.Png;
        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat.Jpeg;
        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WEBP"u8)) return ImageFormat.Webp;
        if (data.Length >= 6 && (data[..6].SequenceEqual("GIF87a"u8) || data[..6].SequenceEqual("GIF89a"u8))) return ImageFormat.Gif;
        if (data.Length >= 14 && data[0] == 'B' && data[1] == 'M') return ImageFormat.Bmp;
        return ImageFormat.Unknown;
    }

    public static RgbaImage Decode(ReadOnlySpan<byte> data, DecodeOptions? options = null) => Decode(data, out _, options);

    public static RgbaImage Decode(ReadOnlySpan<byte> data, out ImageInfo info, DecodeOptions? options = null)
    {
        options ??= DecodeOptions.Default;
        return DetectFormat(data) switch
        {
            ImageFormat.Png => PngDecoder.Decode(data, out info, options),
            ImageFormat.Unknown => throw UnknownSignature(),
            var f => SkiaCodec.Decode(data, f, out info, options),
        };
    }

    /// <summary>Reads the header only: size, bit depth, channels. Cheap; does not decode pixels.</summary>
    public static ImageInfo Identify(ReadOnlySpan<byte> data) => DetectFormat(data) switch
    {
        ImageFormat.Png => PngDecoder.Identify(data),
        ImageFormat.Unknown => throw UnknownSignature(),
        var f => SkiaCodec.Identify(data, f),
    };

    private static InvalidDataException UnknownSignature() => new("not a PNG, JPEG, WebP, GIF or BMP file (unknown signature)");

    /// <summary>The output extensions <see cref="Save"/> can write, and the format each one means.</summary>
    public static IReadOnlyDictionary<string, ImageFormat> WritableExtensions { get; } = new Dictionary<string, ImageFormat>(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = ImageFormat.Png,
        [".jpg"] = ImageFormat.Jpeg,
        [".jpeg"] = ImageFormat.Jpeg,
        [".webp"] = ImageFormat.Webp,
    };

    /// <summary>The format an output path's extension asks for; <see cref="NotSupportedException"/> (naming the writable ones) for any other.</summary>
    public static ImageFormat FormatForPath(string path)
    {
        string ext = Path.GetExtension(path);
        if (WritableExtensions.TryGetValue(ext, out var f)) return f;
        throw new NotSupportedException($"cannot write '{(ext.Length == 0 ? "(no extension)" : ext)}' files: the output name must end in .png, .jpg, .jpeg or .webp");
    }

    /// <summary>Encodes as <paramref name="format"/> (PNG, JPEG or WebP); JPEG and WebP store 8 bits (16-bit/float images are reduced), JPEG drops alpha.</summary>
    public static void Encode(RgbaImage image, ImageFormat format, Stream output, ImageEncodeOptions? options = null)
    {
        options ??= ImageEncodeOptions.Default;
        if (format == ImageFormat.Png) PngEncoder.Encode(image, output, options.Png);
        else if (format is ImageFormat.Jpeg or ImageFormat.Webp) SkiaCodec.Encode(image, format, output, options);
        else throw new NotSupportedException($"cannot encode {format} (PNG, JPEG and WebP can be written)");
    }

    public static byte[] Encode(RgbaImage image, ImageFormat format, ImageEncodeOptions? options = null)
    {
        using var ms = new MemoryStream();
        Encode(image, format, ms, options);
        return ms.ToArray();
    }

    /// <summary>Writes <paramref name="path"/> in the format its extension names (<see cref="FormatForPath"/>).</summary>
    public static void Save(RgbaImage image, string path, ImageEncodeOptions? options = null)
    {
        var format = FormatForPath(path);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Encode(image, format, fs, options);
    }

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
