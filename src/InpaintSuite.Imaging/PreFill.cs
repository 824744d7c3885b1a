namespace InpaintSuite.Imaging;

/// <summary>How masked pixels are filled before an engine repaints them.</summary>
public enum PreFillMode
{
    /// <summary>Multi-scale blur cascade from the mask edge inward (A1111 "fill", krita-ai-diffusion's blur fill).</summary>
    Blur,
    /// <summary>Uniform RGB noise (seeded).</summary>
    Noise,
    /// <summary>Leave the pixels as they are.</summary>
    Original,
    /// <summary>Edge replicate: each masked pixel takes the colour of the nearest kept pixel (exact EDT).</summary>
    Border,
}

/// <summary>
/// Pre-fills the masked part of an image. Known pixels are those with mask &lt; 128 and alpha &gt; 0 (a
/// transparent pixel carries no colour). Masked pixels end opaque; partially masked pixels are blended
/// orig*(1-m) + fill*m. The result has the input's size and depth.
/// </summary>
public static class PreFill
{
    /// <summary>(sigma px, repeats) of A1111's fill: coarse to fine, each composited over the previous.</summary>
    internal static readonly (float Sigma, int Repeats)[] Cascade = [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)];

    public static RgbaImage Apply(RgbaImage image, Mask mask, PreFillMode mode, ulong seed = 0)
    {
        if (image.Width != mask.Width || image.Height != mask.Height)
            throw new ArgumentException($"image {image.Width}x{image.Height} and mask {mask.Width}x{mask.Height} differ", nameof(mask));
        if (mode == PreFillMode.Original) return image.Clone();
        int w = image.Width, h = image.Height, n = w * h;
        var src = PixelConversions.ConvertDepth(image, PixelDepth.F32);
        var s = src.PixelsF;
        var fill = new float[n * 4];
        switch (mode)
        {
            case PreFillMode.Blur: BlurCascade(s, mask.Data, fill, w, h); break;
            case PreFillMode.Noise: Noise(fill, n, seed); break;
            case PreFillMode.Border: Border(s, mask.Data, fill, w, h); break;
        }
        var outF = new RgbaImage(w, h, PixelDepth.F32);
        var o = outF.PixelsF;
        for (int i = 0; i < n; i++)
        {
            float m = mask.Data[i] / 255f;
            if (m <= 0f) { o[i * 4] = s[i * 4]; o[i * 4 + 1] = s[i * 4 + 1]; o[i * 4 + 2] = s[i * 4 + 2]; o[i * 4 + 3] = s[i * 4 + 3]; continue; }
            for (int c = 0; c < 3; c++) o[i * 4 + c] = s[i * 4 + c] * (1 - m) + fill[i * 4 + c] * m;
            o[i * 4 + 3] = s[i * 4 + 3] * (1 - m) + m;
        }
        // Unmasked pixels must keep their exact value: copy them from the input rather than round-tripping through float.
        var result = PixelConversions.ConvertDepth(outF, image.Depth);
        if (image.Depth != PixelDepth.F32)
        {
            int bpp = 4 * image.BytesPerChannel;
            for (int i = 0; i < n; i++)
                if (mask.Data[i] == 0) image.Data.AsSpan(i * bpp, bpp).CopyTo(result.Data.AsSpan(i * bpp, bpp));
        }
        return result;
    }

    private static float[] KnownPremultiplied(ReadOnlySpan<float> s, byte[] mask, int n)
    {
        var p = new float[n * 4];
        for (int i = 0; i < n; i++)
        {
            float k = mask[i] < 128 ? s[i * 4 + 3] : 0f;
            p[i * 4] = s[i * 4] * k; p[i * 4 + 1] = s[i * 4 + 1] * k; p[i * 4 + 2] = s[i * 4 + 2] * k; p[i * 4 + 3] = k;
        }
        return p;
    }

    /// <summary>
    /// A1111's fill: blur the known pixels (premultiplied by known-ness) at decreasing sigma and composite each
    /// blur over the previous (premultiplied "over"), so the hole gets colour flowing in from its edge, smooth in
    /// the middle and detailed near the edge. Large sigmas run on a box-downsampled copy.
    /// </summary>
    internal static void BlurCascade(ReadOnlySpan<float> s, byte[] mask, float[] fill, int w, int h)
    {
        int n = w * h;
        var p = KnownPremultiplied(s, mask, n);
        var acc = new float[n * 4];
        var b = new float[n * 4];
        float cap = Math.Max(w, h) / 2f;
        foreach (var (sigma0, repeats) in Cascade)
        {
            float sigma = Math.Min(sigma0, cap);
            BlurAnyScale(p, b, w, h, 4, sigma);
            for (int r = 0; r < repeats; r++)
                for (int i = 0; i < n * 4; i += 4)
                {
                    float a = Math.Clamp(b[i + 3], 0f, 1f), ia = 1f - a;
                    acc[i] = b[i] + acc[i] * ia; acc[i + 1] = b[i + 1] + acc[i + 1] * ia; acc[i + 2] = b[i + 2] + acc[i + 2] * ia;
                    acc[i + 3] = a + acc[i + 3] * ia;
                }
        }
        for (int i = 0; i < n * 4; i += 4)
        {
            float a = acc[i + 3];
            if (a > 1e-6f) { fill[i] = acc[i] / a; fill[i + 1] = acc[i + 1] / a; fill[i + 2] = acc[i + 2] / a; }
            else { fill[i] = fill[i + 1] = fill[i + 2] = 0.5f; } // nothing known anywhere: mid grey
            fill[i + 3] = 1f;
        }
    }

    /// <summary>Gaussian blur of a float plane; for sigma &gt; 4 via integer box-downsample, blur, bilinear upsample.</summary>
    internal static void BlurAnyScale(float[] src, float[] dst, int w, int h, int ch, float sigma)
    {
        if (sigma <= 4f) { GaussianBlur.BlurPlane(src, dst, w, h, ch, sigma); return; }
        int f = Math.Max(1, (int)(sigma / 2));
        int sw = (w + f - 1) / f, sh = (h + f - 1) / f;
        var small = new float[sw * sh * ch];
        for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++)
        {
            int cnt = 0;
            int o = (y * sw + x) * ch;
            for (int yy = y * f; yy < Math.Min(h, y * f + f); yy++)
            for (int xx = x * f; xx < Math.Min(w, x * f + f); xx++, cnt++)
                for (int c = 0; c < ch; c++) small[o + c] += src[(yy * w + xx) * ch + c];
            for (int c = 0; c < ch; c++) small[o + c] /= cnt;
        }
        var sb = new float[small.Length];
        float rs = MathF.Sqrt(Math.Max(0.25f, sigma * sigma / (f * f) - 1f / 12f * (1 - 1f / (f * f))));
        GaussianBlur.BlurPlane(small, sb, sw, sh, ch, rs);
        // bilinear upsample, sample centres aligned
        for (int y = 0; y < h; y++)
        {
            float fy = Math.Clamp((y + 0.5f) / f - 0.5f, 0, sh - 1);
            int y0 = (int)fy, y1 = Math.Min(sh - 1, y0 + 1);
            float ty = fy - y0;
            for (int x = 0; x < w; x++)
            {
                float fx = Math.Clamp((x + 0.5f) / f - 0.5f, 0, sw - 1);
                int x0 = (int)fx, x1 = Math.Min(sw - 1, x0 + 1);
                float tx = fx - x0;
                for (int c = 0; c < ch; c++)
                {
                    float a = sb[(y0 * sw + x0) * ch + c] * (1 - tx) + sb[(y0 * sw + x1) * ch + c] * tx;
                    float bb = sb[(y1 * sw + x0) * ch + c] * (1 - tx) + sb[(y1 * sw + x1) * ch + c] * tx;
                    dst[(y * w + x) * ch + c] = a * (1 - ty) + bb * ty;
                }
            }
        }
    }

    private static void Noise(float[] fill, int n, ulong seed)
    {
        ulong st = seed ^ 0x9E3779B97F4A7C15UL;
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                st ^= st << 13; st ^= st >> 7; st ^= st << 17; // xorshift64
                fill[i * 4 + c] = (st >> 40) / (float)(1 << 24);
            }
            fill[i * 4 + 3] = 1f;
        }
    }

    private static void Border(ReadOnlySpan<float> s, byte[] mask, float[] fill, int w, int h)
    {
        int n = w * h;
        var known = new byte[n];
        for (int i = 0; i < n; i++) known[i] = mask[i] < 128 && s[i * 4 + 3] > 0 ? (byte)1 : (byte)0;
        var nearest = new int[n];
        DistanceTransform.SquaredEdtOfFeatures(known, w, h, nearest);
        for (int i = 0; i < n; i++)
        {
            int j = nearest[i];
            if (j < 0) { fill[i * 4] = fill[i * 4 + 1] = fill[i * 4 + 2] = 0.5f; }
            else { fill[i * 4] = s[j * 4]; fill[i * 4 + 1] = s[j * 4 + 1]; fill[i * 4 + 2] = s[j * 4 + 2]; }
            fill[i * 4 + 3] = 1f;
        }
    }
}
