using InpaintSuite.PaintDotNet.Core;

namespace InpaintSuite.PaintDotNet.Core.Tests;

internal static class TestImages
{
    /// <summary>A smooth, opaque, non-square gradient with some texture, so fills have something to match.</summary>
    public static Bgra32Surface Gradient(int width, int height)
    {
        var s = new Bgra32Surface(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                s[x, y] = ((byte)(40 + 150 * x / width), (byte)(60 + 120 * y / height), (byte)(90 + ((x * 7 + y * 3) % 23)), 255);
        return s;
    }

    /// <summary>
    /// An irregular selection with an antialiased edge: an ellipse united with an offset disc, coverage
    /// from 4x4 supersampling (so edge pixels hold values between 0 and 255, like Paint.NET's mask).
    /// </summary>
    public static SelectionMask IrregularSelection(int width, int height)
    {
        var c = new byte[width * height];
        double ecx = width * 0.42, ecy = height * 0.45, erx = width * 0.18, ery = height * 0.12;
        double dcx = width * 0.58, dcy = height * 0.55, dr = Math.Min(width, height) * 0.11;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int hits = 0;
                for (int sy = 0; sy < 4; sy++)
                    for (int sx = 0; sx < 4; sx++)
                    {
                        double px = x + (sx + 0.5) / 4, py = y + (sy + 0.5) / 4;
                        double e = Math.Pow((px - ecx) / erx, 2) + Math.Pow((py - ecy) / ery, 2);
                        double d = Math.Pow(px - dcx, 2) + Math.Pow(py - dcy, 2);
                        if (e <= 1 || d <= dr * dr) hits++;
                    }
                c[y * width + x] = (byte)(hits * 255 / 16);
            }
        return SelectionMask.FromCoverage(width, height, c, width);
    }

    /// <summary>Paints <paramref name="colour"/> where the selection covers anything (a "defect" to remove).</summary>
    public static void PaintSelected(Bgra32Surface s, SelectionMask sel, (byte B, byte G, byte R, byte A) colour)
    {
        for (int y = 0; y < s.Height; y++)
            for (int x = 0; x < s.Width; x++)
                if (sel[x, y] > 0) s[x, y] = colour;
    }

    /// <summary>
    /// A picture in the middle of a larger transparent canvas, as Image &gt; Canvas Size leaves it
    /// (anchor centre). Returns the canvas and the picture's box.
    /// </summary>
    public static (Bgra32Surface Canvas, PixelBox Picture) CanvasResized(int width, int height, int left, int top, int right, int bottom)
    {
        var picture = Gradient(width, height);
        var canvas = new Bgra32Surface(width + left + right, height + top + bottom);
        for (int y = 0; y < height; y++) picture.Row(y).CopyTo(canvas.Row(y + top).Slice(left * 4));
        return (canvas, new PixelBox(left, top, width, height));
    }
}
