using System.Runtime.InteropServices;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>EXIF orientation 1..8 applied to decoded pixels (SKCodec reports the tag but leaves the pixels as stored).</summary>
internal static class ExifOrientation
{
    /// <summary>Rotates/flips an 8-bit image so it shows as viewers (and Pillow's ImageOps.exif_transpose) show it.</summary>
    public static RgbaImage Apply(RgbaImage src, int orientation)
    {
        if (orientation is < 2 or > 8) return src;
        int w = src.Width, h = src.Height;
        bool swap = orientation >= 5;
        var dst = new RgbaImage(swap ? h : w, swap ? w : h);
        var s = MemoryMarshal.Cast<byte, uint>(src.Bytes);
        var o = MemoryMarshal.Cast<byte, uint>(dst.Bytes);
        int ow = dst.Width, oh = dst.Height;
        for (int y = 0; y < oh; y++)
        {
            var row = o.Slice(y * ow, ow);
            for (int x = 0; x < ow; x++)
            {
                // (sx, sy): the stored pixel that shows at (x, y)
                var (sx, sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                row[x] = s[sy * w + sx];
            }
        }
        return dst;
    }
}
