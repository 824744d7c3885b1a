namespace InpaintSuite.Imaging.Codecs;

/// <summary>libjpeg-turbo's fancy upsamplers (jdsample.c) and fixed-point YCbCr->RGB (jdcolor.c), exact.</summary>
internal static class JpegColor
{
    private const int ScaleBits = 16, OneHalf = 1 << (ScaleBits - 1);
    private static int Fix(double x) => (int)(x * (1 << ScaleBits) + 0.5);
    private static readonly int[] CrR = new int[256], CbB = new int[256], CrG = new int[256], CbG = new int[256];

    static JpegColor()
    {
        for (int i = 0; i < 256; i++)
        {
            int x = i - 128;
            CrR[i] = (Fix(1.40200) * x + OneHalf) >> ScaleBits;
            CbB[i] = (Fix(1.77200) * x + OneHalf) >> ScaleBits;
            CrG[i] = -Fix(0.71414) * x;
            CbG[i] = -Fix(0.34414) * x + OneHalf;
        }
    }

    private static byte Clamp(int v) => (uint)v <= 255 ? (byte)v : v < 0 ? (byte)0 : (byte)255;

    public static void YccToRgba(ReadOnlySpan<byte> yRow, ReadOnlySpan<byte> cbRow, ReadOnlySpan<byte> crRow, Span<byte> dst, int w)
    {
        var crr = CrR; var cbb = CbB; var crg = CrG; var cbg = CbG;
        for (int x = 0; x < w; x++)
        {
            int y = yRow[x], cb = cbRow[x], cr = crRow[x];
            dst[4 * x] = Clamp(y + crr[cr]);
            dst[4 * x + 1] = Clamp(y + ((cbg[cb] + crg[cr]) >> ScaleBits));
            dst[4 * x + 2] = Clamp(y + cbb[cb]);
            dst[4 * x + 3] = 255;
        }
    }

    public static void RgbToRgba(ReadOnlySpan<byte> r, ReadOnlySpan<byte> g, ReadOnlySpan<byte> b, Span<byte> dst, int w)
    {
        for (int x = 0; x < w; x++) { dst[4 * x] = r[x]; dst[4 * x + 1] = g[x]; dst[4 * x + 2] = b[x]; dst[4 * x + 3] = 255; }
    }

    public static void GreyToRgba(ReadOnlySpan<byte> g, Span<byte> dst, int w)
    {
        for (int x = 0; x < w; x++) { byte v = g[x]; dst[4 * x] = v; dst[4 * x + 1] = v; dst[4 * x + 2] = v; dst[4 * x + 3] = 255; }
    }

    /// <summary>h2v1_fancy_upsample: <paramref name="cw"/> input samples (cw &gt; 2) to 2*cw outputs.</summary>
    public static void FancyH2V1(ReadOnlySpan<byte> src, int cw, Span<byte> dst)
    {
        int v = src[0];
        dst[0] = (byte)v;
        dst[1] = (byte)((v * 3 + src[1] + 2) >> 2);
        int o = 2;
        for (int i = 1; i < cw - 1; i++, o += 2)
        {
            int t = src[i] * 3;
            dst[o] = (byte)((t + src[i - 1] + 1) >> 2);
            dst[o + 1] = (byte)((t + src[i + 1] + 2) >> 2);
        }
        v = src[cw - 1];
        dst[o] = (byte)((v * 3 + src[cw - 2] + 1) >> 2);
        dst[o + 1] = (byte)v;
    }

    /// <summary>h2v2_fancy_upsample for one output row: <paramref name="near"/> is the input row, <paramref name="far"/> the row above (upper output) or below.</summary>
    public static void FancyH2V2(ReadOnlySpan<byte> near, ReadOnlySpan<byte> far, int cw, bool upper, Span<byte> dst)
    {
        _ = upper; // the bias is the same for both output rows in libjpeg's h2v2 (8 left, 7 right)
        int thisSum = near[0] * 3 + far[0];
        int nextSum = near[1] * 3 + far[1];
        dst[0] = (byte)((thisSum * 4 + 8) >> 4);
        dst[1] = (byte)((thisSum * 3 + nextSum + 7) >> 4);
        int lastSum = thisSum; thisSum = nextSum;
        int o = 2;
        for (int i = 2; i < cw; i++, o += 2)
        {
            nextSum = near[i] * 3 + far[i];
            dst[o] = (byte)((thisSum * 3 + lastSum + 8) >> 4);
            dst[o + 1] = (byte)((thisSum * 3 + nextSum + 7) >> 4);
            lastSum = thisSum; thisSum = nextSum;
        }
        dst[o] = (byte)((thisSum * 3 + lastSum + 8) >> 4);
        dst[o + 1] = (byte)((thisSum * 4 + 7) >> 4);
    }

    /// <summary>h1v2_fancy_upsample (libjpeg-turbo): vertical only, bias 1 for the upper output row, 2 for the lower.</summary>
    public static void FancyH1V2(ReadOnlySpan<byte> near, ReadOnlySpan<byte> far, int cw, bool upper, Span<byte> dst)
    {
        int bias = upper ? 1 : 2;
        for (int i = 0; i < cw; i++) dst[i] = (byte)((near[i] * 3 + far[i] + bias) >> 2);
    }
}
