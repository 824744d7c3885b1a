using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Cli;

/// <summary>Reading inputs and writing outputs with errors a user can act on (exit 2, one line).</summary>
internal static class ImageFiles
{
    /// <summary>The format an output path asks for by its extension (.png, .jpg/.jpeg, .webp); anything else is a usage error.</summary>
    public static ImageFormat OutputFormat(string path, string what = "--output")
    {
        try { return ImageCodec.FormatForPath(path); }
        catch (NotSupportedException e) { throw new UsageException($"{what} {path}: {e.Message}"); }
    }

    /// <summary>--quality for JPEG/WebP outputs: 1..100, or null for the codec default (90); 100 on WebP means lossless.</summary>
    public static ImageEncodeOptions EncodeOptions(int? quality)
    {
        if (quality is null) return ImageEncodeOptions.Default;
        if (quality is < 1 or > 100) throw new UsageException($"--quality must be between 1 and 100 (got {quality})");
        return new ImageEncodeOptions { Quality = quality.Value, Lossless = quality == 100 };
    }

    /// <summary>Writes <paramref name="image"/> to <paramref name="path"/> as <paramref name="format"/> (the name may be a temporary one).</summary>
    public static void Save(RgbaImage image, string path, ImageFormat format, ImageEncodeOptions options)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        ImageCodec.Encode(image, format, fs, options);
    }

    public static RgbaImage LoadImage(string path, string what)
    {
        if (!File.Exists(path)) throw new UsageException($"{what}: file not found: {path}");
        try
        {
            return ImageCodec.Load(path);
        }
        catch (InvalidDataException e)
        {
            // One line: the codec's message names the format and the reason (truncated, corrupt, too large, unknown signature).
            throw new UsageException($"{what}: {path} is not a readable image ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>
    /// A mask file: white (or any bright value) = repaint. Grey files use their value; colour files use
    /// the brightest channel; alpha multiplies, so a transparent-background stroke layer works too.
    /// </summary>
    public static Mask LoadMask(string path)
    {
        var img = LoadImage(path, "--mask");
        return MaskFromImage(img);
    }

    internal static Mask MaskFromImage(RgbaImage img)
    {
        var u8 = img.Depth == PixelDepth.U8 ? img : PixelConversions.ConvertDepth(img, PixelDepth.U8);
        var mask = new Mask(u8.Width, u8.Height);
        for (int y = 0; y < u8.Height; y++)
        {
            var src = u8.Row8(y);
            var dst = mask.Row(y);
            for (int x = 0; x < dst.Length; x++)
            {
                int v = Math.Max(src[4 * x], Math.Max(src[4 * x + 1], src[4 * x + 2]));
                dst[x] = (byte)((v * src[4 * x + 3] + 127) / 255);
            }
        }
        return mask;
    }
}
