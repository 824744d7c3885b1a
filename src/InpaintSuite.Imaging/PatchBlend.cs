namespace InpaintSuite.Imaging;

/// <summary>
/// The one 8-bit patch blend (issue 15 rule 4), shared by <see cref="Compositor"/> (CLI, tests) and the Paint.NET core
/// (compiled into it from this file: that plugin runs on net9.0 and ships without Imaging), and matched by Krita's
/// layer stack, where the Krita plugin puts the patch as a layer above the source. A patch pixel is opaque generated
/// colour with the blend weight w in its alpha; the result is "patch over source" (Porter-Duff over, straight alpha):
/// a = sa(1-w) + w, c = (sc*sa*(1-w) + pc*w) / a. With an opaque source this is the plain lerp; over a transparent
/// source the patch colour shows at alpha w, with no dark fringe from the hidden colour of transparent pixels.
/// Channel order does not matter (RGBA or BGRA) as long as alpha is the 4th byte.
/// </summary>
internal static class PatchBlend
{
    /// <summary>
    /// Blends <paramref name="patch"/> over <paramref name="target"/> in place (both 4 bytes per pixel, same length).
    /// <paramref name="clip"/>, when not empty (one byte per pixel), scales the weight: w = w * clip / 255.
    /// Where w = 0 the target is left byte-identical.
    /// </summary>
    public static void Over8(Span<byte> target, ReadOnlySpan<byte> patch, ReadOnlySpan<byte> clip)
    {
        bool hasClip = !clip.IsEmpty;
        for (int i = 0, px = 0; i < target.Length; i += 4, px++)
        {
            int w = patch[i + 3];
            if (hasClip) w = (w * clip[px] + 127) / 255;
            if (w == 0) continue;
            if (w == 255)
            {
                target[i] = patch[i]; target[i + 1] = patch[i + 1]; target[i + 2] = patch[i + 2]; target[i + 3] = 255;
                continue;
            }
            int ks = target[i + 3] * (255 - w); // the source's premultiplied share, x255
            int kp = 255 * w;                   // the patch's share (opaque), x255
            int d = ks + kp;                    // > 0 because w > 0
            int half = d / 2;
            target[i] = (byte)((target[i] * ks + patch[i] * kp + half) / d);
            target[i + 1] = (byte)((target[i + 1] * ks + patch[i + 1] * kp + half) / d);
            target[i + 2] = (byte)((target[i + 2] * ks + patch[i + 2] * kp + half) / d);
            target[i + 3] = (byte)((d + 127) / 255);
        }
    }
}
