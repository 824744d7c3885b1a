namespace InpaintSuite.Imaging;

/// <summary>
/// Colour match of generated pixels to the original around the hole: per-channel mean/std transfer in
/// YCbCr (BT.601, full range; luma separated from chroma, so a brightness shift and a colour cast are
/// corrected independently), measured on a ring of kept pixels just outside the mask, where both the
/// original and the generated image exist. Engines (VAEs especially) shift colour slightly; this removes it.
/// </summary>
public static class ColorMatch
{
    /// <summary>
    /// Returns <paramref name="generated"/> corrected (same depth). <paramref name="ringWidth"/> 0 = automatic
    /// (max(4, 1/16 of the region's longer side)). With fewer than 16 ring pixels nothing changes.
    /// </summary>
    public static RgbaImage Apply(RgbaImage generated, RgbaImage original, Mask mask, int ringWidth = 0)
    {
        if (generated.Width != original.Width || generated.Height != original.Height || mask.Width != generated.Width || mask.Height != generated.Height)
            throw new ArgumentException("generated, original and mask must have the same size");
        int w = generated.Width, h = generated.Height, n = w * h;
        if (ringWidth <= 0) ringWidth = Math.Max(4, Math.Max(w, h) / 16);
        var d2 = DistanceTransform.SquaredEdt(mask.Data, w, h, v => v >= 128);
        var g = PixelConversions.ConvertDepth(generated, PixelDepth.F32).PixelsF;
        var o = PixelConversions.ConvertDepth(original, PixelDepth.F32).PixelsF;
        long lim = (long)ringWidth * ringWidth;
        Span<double> sg = stackalloc double[3], sg2 = stackalloc double[3], so = stackalloc double[3], so2 = stackalloc double[3];
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            if (mask.Data[i] >= 128 || d2[i] > lim || o[i * 4 + 3] <= 0) continue;
            var (gy, gcb, gcr) = ToYcc(g[i * 4], g[i * 4 + 1], g[i * 4 + 2]);
            var (oy, ocb, ocr) = ToYcc(o[i * 4], o[i * 4 + 1], o[i * 4 + 2]);
            sg[0] += gy; sg[1] += gcb; sg[2] += gcr; sg2[0] += gy * gy; sg2[1] += gcb * gcb; sg2[2] += gcr * gcr;
            so[0] += oy; so[1] += ocb; so[2] += ocr; so2[0] += oy * oy; so2[1] += ocb * ocb; so2[2] += ocr * ocr;
            count++;
        }
        if (count < 16) return generated.Clone();
        Span<float> scale = stackalloc float[3], shift = stackalloc float[3];
        for (int c = 0; c < 3; c++)
        {
            double mg = sg[c] / count, mo = so[c] / count;
            double vg = Math.Max(0, sg2[c] / count - mg * mg), vo = Math.Max(0, so2[c] / count - mo * mo);
            double k = vg > 1e-8 ? Math.Clamp(Math.Sqrt(vo / vg), 0.5, 2.0) : 1.0;
            scale[c] = (float)k;
            shift[c] = (float)(mo - mg * k);
        }
        var outF = new RgbaImage(w, h, PixelDepth.F32);
        var r = outF.PixelsF;
        for (int i = 0; i < n; i++)
        {
            var (y, cb, cr) = ToYcc(g[i * 4], g[i * 4 + 1], g[i * 4 + 2]);
            y = y * scale[0] + shift[0]; cb = cb * scale[1] + shift[1]; cr = cr * scale[2] + shift[2];
            r[i * 4] = Math.Clamp(y + 1.402f * cr, 0f, 1f);
            r[i * 4 + 1] = Math.Clamp(y - 0.344136f * cb - 0.714136f * cr, 0f, 1f);
            r[i * 4 + 2] = Math.Clamp(y + 1.772f * cb, 0f, 1f);
            r[i * 4 + 3] = g[i * 4 + 3];
        }
        return PixelConversions.ConvertDepth(outF, generated.Depth);
    }

    private static (float Y, float Cb, float Cr) ToYcc(float r, float g, float b)
        => (0.299f * r + 0.587f * g + 0.114f * b, -0.168736f * r - 0.331264f * g + 0.5f * b, 0.5f * r - 0.418688f * g - 0.081312f * b);
}
