using System.Runtime.InteropServices;
using SkiaSharp;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>
/// JPEG (baseline, progressive, grey, CMYK), WebP (lossy, lossless, alpha), GIF (first frame) and BMP through
/// SkiaSharp's SKCodec, and JPEG/WebP encoding. What Skia leaves to the caller is done here:
/// <list type="bullet">
/// <item>the pixel budget is checked on the header before any pixel buffer exists;</item>
/// <item>any result but Success is an error: Skia reports a truncated file as IncompleteInput with the rows it
/// could not read left blank, and this codec never returns such a partial image;</item>
/// <item>EXIF orientation (SKCodec reports it but does not apply it) is applied like Pillow's exif_transpose;</item>
/// <item>colour: no colour-space conversion (the destination has no colour space, so Skia does none), i.e. the
/// stored values are taken as sRGB like Pillow does by default; CMYK JPEGs become RGB in Skia's libjpeg-turbo path
/// (Adobe inverted CMYK, R = C·K/255), which equals Pillow's conversion (measured in the parity tests).</item>
/// </list>
/// Output is straight (unpremultiplied) RGBA8.
/// </summary>
internal static class SkiaCodec
{
    public static ImageInfo Identify(ReadOnlySpan<byte> data, ImageFormat format)
    {
        using var codec = Open(data, format);
        return MakeInfo(codec, data, format, oriented: true);
    }

    public static RgbaImage Decode(ReadOnlySpan<byte> data, ImageFormat format, out ImageInfo info, DecodeOptions options)
    {
        using var codec = Open(data, format);
        CheckComplete(data, format);
        var header = codec.Info;
        long pixels = (long)header.Width * header.Height;
        if (header.Width <= 0 || header.Height <= 0) throw Bad(format, $"invalid size {header.Width}x{header.Height}");
        if (pixels > options.MaxPixels)
            throw ImageLimits.TooLarge($"{Name(format)}: {header.Width}x{header.Height} is {pixels:N0} pixels, over the limit of {options.MaxPixels:N0}");
        var image = new RgbaImage(header.Width, header.Height);
        // No colour space on the destination: Skia converts nothing (values kept as stored, i.e. assumed sRGB).
        var dst = new SKImageInfo(header.Width, header.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul, null);
        SKCodecResult result;
        var handle = GCHandle.Alloc(image.Data, GCHandleType.Pinned);
        try
        {
            // Frame 0 only: an animated GIF/WebP decodes as its first frame.
            result = codec.GetPixels(dst, handle.AddrOfPinnedObject(), dst.RowBytes, new SKCodecOptions(0));
        }
        finally { handle.Free(); }
        if (result != SKCodecResult.Success)
            throw Bad(format, result switch
            {
                SKCodecResult.IncompleteInput => "the file is truncated (image data ends early)",
                SKCodecResult.ErrorInInput => "the image data is corrupt",
                SKCodecResult.InvalidInput => "the file is not a valid image",
                SKCodecResult.InvalidConversion => "its pixel format cannot be converted to RGBA",
                _ => $"decoding failed ({result})",
            });
        int orientation = Orientation(codec);
        if (options.ApplyExifOrientation && orientation != 1) image = ExifOrientation.Apply(image, orientation);
        info = MakeInfo(codec, data, format, options.ApplyExifOrientation);
        return image;
    }

    private static SKCodec Open(ReadOnlySpan<byte> data, ImageFormat format)
    {
        using (var skData = SKData.CreateCopy(data))
        {
            // the codec takes ownership of the stream; the stream holds its own reference to the data
            var codec = SKCodec.Create(new SKMemoryStream(skData), out var result);
            if (codec is null) throw Bad(format, result == SKCodecResult.IncompleteInput ? "the file is truncated (header incomplete)" : $"the header is not valid ({result})");
            var decoded = ToFormat(codec.EncodedFormat);
            if (decoded != format)
            {
                codec.Dispose();
                throw Bad(format, $"content is {decoded}, not {format}");
            }
            return codec;
        }
    }

    /// <summary>
    /// Truncation Skia decodes as Success: a progressive JPEG cut anywhere decodes from the scans it has (a blurred
    /// partial image), and a WebP cut in its trailing chunks (EXIF) loses them silently. So a JPEG must have its
    /// end-of-image marker after the first scan (FF D9 cannot occur inside entropy-coded data, which stuffs FF as FF 00),
    /// and a WebP all the bytes its RIFF header declares.
    /// </summary>
    internal static void CheckComplete(ReadOnlySpan<byte> data, ImageFormat format)
    {
        if (format == ImageFormat.Jpeg)
        {
            int sos = FirstScan(data);
            if (sos < 0 || data[sos..].IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) < 0)
                throw Bad(format, "the file is truncated (no end-of-image marker after the image data)");
        }
        else if (format == ImageFormat.Webp)
        {
            long declared = 8L + System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            if (declared > data.Length) throw Bad(format, $"the file is truncated ({data.Length:N0} of the {declared:N0} bytes its header declares)");
        }
    }

    /// <summary>Offset of the first SOS marker, walking the marker segments (-1 when there is none).</summary>
    private static int FirstScan(ReadOnlySpan<byte> d)
    {
        int pos = 2;
        while (pos + 4 <= d.Length)
        {
            if (d[pos] != 0xFF) return -1;
            byte m = d[pos + 1];
            if (m == 0xFF) { pos++; continue; }
            if (m == 0xDA) return pos;
            if (m == 0xD9) return -1;
            pos += 2 + ((d[pos + 2] << 8) | d[pos + 3]);
        }
        return -1;
    }

    private static int Orientation(SKCodec codec)
    {
        int o = (int)codec.EncodedOrigin;
        return o is >= 1 and <= 8 ? o : 1;
    }

    private static ImageInfo MakeInfo(SKCodec codec, ReadOnlySpan<byte> data, ImageFormat format, bool oriented)
    {
        var i = codec.Info;
        int orientation = Orientation(codec);
        bool swap = oriented && orientation >= 5;
        bool alpha = i.AlphaType != SKAlphaType.Opaque;
        int channels = (i.ColorType == SKColorType.Gray8 ? 1 : 3) + (alpha ? 1 : 0);
        bool progressive = format == ImageFormat.Jpeg && JpegIsProgressive(data);
        return new ImageInfo(format, swap ? i.Height : i.Width, swap ? i.Width : i.Height, 8, channels, alpha, progressive, orientation);
    }

    /// <summary>Walks the JPEG marker segments to the frame header: SOF2/6/10/14 are progressive.</summary>
    internal static bool JpegIsProgressive(ReadOnlySpan<byte> d)
    {
        int pos = 2;
        while (pos + 4 <= d.Length)
        {
            if (d[pos] != 0xFF) return false;
            byte m = d[pos + 1];
            if (m == 0xFF) { pos++; continue; }
            if (m is >= 0xC0 and <= 0xCF && m is not (0xC4 or 0xC8 or 0xCC)) return m is 0xC2 or 0xC6 or 0xCA or 0xCE;
            if (m == 0xDA || m == 0xD9) return false;
            pos += 2 + ((d[pos + 2] << 8) | d[pos + 3]);
        }
        return false;
    }

    private static ImageFormat ToFormat(SKEncodedImageFormat f) => f switch
    {
        SKEncodedImageFormat.Jpeg => ImageFormat.Jpeg,
        SKEncodedImageFormat.Webp => ImageFormat.Webp,
        SKEncodedImageFormat.Gif => ImageFormat.Gif,
        SKEncodedImageFormat.Bmp => ImageFormat.Bmp,
        SKEncodedImageFormat.Png => ImageFormat.Png,
        _ => ImageFormat.Unknown,
    };

    internal static string Name(ImageFormat f) => f switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Webp => "WebP",
        ImageFormat.Gif => "GIF",
        ImageFormat.Bmp => "BMP",
        _ => f.ToString(),
    };

    private static InvalidDataException Bad(ImageFormat f, string message) => new($"{Name(f)}: {message}");

    /// <summary>JPEG (4:2:0, alpha dropped) or WebP (lossy with alpha, or lossless) of an 8-bit copy of <paramref name="image"/>.</summary>
    public static void Encode(RgbaImage image, ImageFormat format, Stream output, ImageEncodeOptions options)
    {
        if (options.Quality is < 0 or > 100) throw new ArgumentOutOfRangeException(nameof(options), $"quality must be 0..100 (got {options.Quality})");
        var u8 = image.Depth == PixelDepth.U8 ? image : PixelConversions.ConvertDepth(image, PixelDepth.U8);
        var info = new SKImageInfo(u8.Width, u8.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var handle = GCHandle.Alloc(u8.Data, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), info.RowBytes);
            bool ok;
            using (var w = new SKManagedWStream(output, disposeManagedStream: false))
            {
                ok = format switch
                {
                    ImageFormat.Jpeg => pixmap.Encode(w, new SKJpegEncoderOptions(options.Quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore)),
                    ImageFormat.Webp => pixmap.Encode(w, new SKWebpEncoderOptions(options.Lossless ? SKWebpEncoderCompression.Lossless : SKWebpEncoderCompression.Lossy, options.Quality)),
                    _ => throw new NotSupportedException($"{Name(format)} encoding is not supported"),
                };
            }
            if (!ok) throw new IOException($"{Name(format)} encoding failed");
        }
        finally { handle.Free(); }
    }
}
