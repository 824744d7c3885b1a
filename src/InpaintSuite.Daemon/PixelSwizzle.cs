using System.Runtime.Intrinsics;

namespace InpaintSuite.Daemon;

/// <summary>RGBA8 &lt;-&gt; BGRA8 in place (the same swap both ways).</summary>
public static class PixelSwizzle
{
    public static void SwapRedBlue(Span<byte> pixels)
    {
        if (pixels.Length % 4 != 0) throw new ArgumentException("length is not a multiple of 4", nameof(pixels));
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var shuffle = Vector128.Create((byte)2, 1, 0, 3, 6, 5, 4, 7, 10, 9, 8, 11, 14, 13, 12, 15);
            for (; i + 16 <= pixels.Length; i += 16)
            {
                var v = Vector128.Create<byte>(pixels.Slice(i, 16));
                Vector128.Shuffle(v, shuffle).CopyTo(pixels.Slice(i, 16));
            }
        }
        SwapRedBlueScalar(pixels[i..]);
    }

    /// <summary>The reference the vector path is tested against.</summary>
    public static void SwapRedBlueScalar(Span<byte> pixels)
    {
        for (int i = 0; i + 3 < pixels.Length; i += 4) (pixels[i], pixels[i + 2]) = (pixels[i + 2], pixels[i]);
    }
}
