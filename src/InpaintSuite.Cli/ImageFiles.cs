using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Cli;

/// <summary>Reading inputs with errors a user can act on (exit 2, one line).</summary>
internal static class ImageFiles
{
    public static RgbaImage LoadImage(string path, string what)
    {
        if (!File.Exists(path)) throw new UsageException($"{what}: file not found: {path}");
        try
        {
            return ImageCodec.Load(path);
        }
        catch (InvalidDataException e)
        {
            throw new UsageException($"{what}: {path} is not a readable PNG or JPEG image ({e.Message})");
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
