using InpaintSuite.Imaging;

namespace InpaintSuite.Imaging.Tests;

/// <summary>Deterministic random images and masks for tests.</summary>
public static class TestImages
{
    public static RgbaImage Random(int w, int h, PixelDepth depth, int seed, bool opaque = false)
    {
        var rng = new Random(seed);
        var img = new RgbaImage(w, h, depth);
        switch (depth)
        {
            case PixelDepth.U8: rng.NextBytes(img.Data); if (opaque) for (int i = 3; i < img.Data.Length; i += 4) img.Data[i] = 255; break;
            case PixelDepth.U16: { var p = img.Pixels16; for (int i = 0; i < p.Length; i++) p[i] = opaque && i % 4 == 3 ? (ushort)65535 : (ushort)rng.Next(65536); break; }
            default: { var p = img.PixelsF; for (int i = 0; i < p.Length; i++) p[i] = opaque && i % 4 == 3 ? 1f : (float)rng.NextDouble(); break; }
        }
        return img;
    }

    /// <summary>A mask of a few discs and rectangles with antialiased-looking partial values and salt noise.</summary>
    public static Mask Blobs(int w, int h, int seed, int count = 3)
    {
        var rng = new Random(seed);
        var m = new Mask(w, h);
        for (int b = 0; b < count; b++)
        {
            int cx = rng.Next(w), cy = rng.Next(h), r = 1 + rng.Next(Math.Max(2, Math.Min(w, h) / 3));
            bool rect = rng.Next(2) == 0;
            for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double d = rect ? Math.Max(Math.Abs(x - cx), Math.Abs(y - cy)) : Math.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
                double v = Math.Clamp((r - d + 0.5) * 255, 0, 255);
                m.Data[y * w + x] = (byte)Math.Max(m.Data[y * w + x], v);
            }
        }
        for (int i = 0; i < w * h / 200; i++) m.Data[rng.Next(w * h)] = (byte)rng.Next(256);
        return m;
    }
}
