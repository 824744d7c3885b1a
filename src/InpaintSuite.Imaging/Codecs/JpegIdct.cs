using System.Runtime.CompilerServices;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>
/// The accurate integer inverse DCT of libjpeg (jidctint.c, "ISLOW": Loeffler-Ligtenberg-Moschytz with 13-bit
/// constants), reproduced operation for operation so output matches libjpeg-turbo bit for bit.
/// </summary>
internal static class JpegIdct
{
    private const int ConstBits = 13, Pass1Bits = 2;
    private const int F0298631336 = 2446, F0390180644 = 3196, F0541196100 = 4433, F0765366865 = 6270, F0899976223 = 7373,
        F1175875602 = 9633, F1501321110 = 12299, F1847759065 = 15137, F1961570560 = 16069, F2053119869 = 16819,
        F2562915447 = 20995, F3072711026 = 25172;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clamp(int v) => (uint)v <= 255 ? (byte)v : v < 0 ? (byte)0 : (byte)255;

    /// <summary>Dequantises and inverse-transforms one block (natural order coefficients) into 8x8 samples at <paramref name="dst"/>.</summary>
    public static unsafe void IdctIslow(ReadOnlySpan<short> coef, ushort[] quant, Span<byte> dst, int stride)
    {
        int* ws = stackalloc int[64];
        fixed (short* inp = coef)
        fixed (ushort* q = quant)
        {
            for (int col = 0; col < 8; col++)
            {
                short* ip = inp + col;
                ushort* qp = q + col;
                int* wp = ws + col;
                if (ip[8] == 0 && ip[16] == 0 && ip[24] == 0 && ip[32] == 0 && ip[40] == 0 && ip[48] == 0 && ip[56] == 0)
                {
                    int dc = (ip[0] * qp[0]) << Pass1Bits;
                    wp[0] = dc; wp[8] = dc; wp[16] = dc; wp[24] = dc; wp[32] = dc; wp[40] = dc; wp[48] = dc; wp[56] = dc;
                    continue;
                }
                long z2 = ip[16] * qp[16], z3 = ip[48] * qp[48];
                long z1 = (z2 + z3) * F0541196100;
                long tmp2 = z1 + z3 * -F1847759065;
                long tmp3 = z1 + z2 * F0765366865;
                z2 = ip[0] * qp[0]; z3 = ip[32] * qp[32];
                long tmp0 = (z2 + z3) << ConstBits;
                long tmp1 = (z2 - z3) << ConstBits;
                long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

                tmp0 = ip[56] * qp[56]; tmp1 = ip[40] * qp[40]; tmp2 = ip[24] * qp[24]; tmp3 = ip[8] * qp[8];
                z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2; long z4 = tmp1 + tmp3;
                long z5 = (z3 + z4) * F1175875602;
                tmp0 *= F0298631336; tmp1 *= F2053119869; tmp2 *= F3072711026; tmp3 *= F1501321110;
                z1 *= -F0899976223; z2 *= -F2562915447; z3 *= -F1961570560; z4 *= -F0390180644;
                z3 += z5; z4 += z5;
                tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;

                const int s1 = ConstBits - Pass1Bits; const long r1 = 1L << (s1 - 1);
                wp[0] = (int)((tmp10 + tmp3 + r1) >> s1);
                wp[56] = (int)((tmp10 - tmp3 + r1) >> s1);
                wp[8] = (int)((tmp11 + tmp2 + r1) >> s1);
                wp[48] = (int)((tmp11 - tmp2 + r1) >> s1);
                wp[16] = (int)((tmp12 + tmp1 + r1) >> s1);
                wp[40] = (int)((tmp12 - tmp1 + r1) >> s1);
                wp[24] = (int)((tmp13 + tmp0 + r1) >> s1);
                wp[32] = (int)((tmp13 - tmp0 + r1) >> s1);
            }
        }
        const int s2 = ConstBits + Pass1Bits + 3; const long r2 = 1L << (s2 - 1);
        for (int row = 0; row < 8; row++)
        {
            int* wp = ws + row * 8;
            var o = dst.Slice(row * stride, 8);
            if (wp[1] == 0 && wp[2] == 0 && wp[3] == 0 && wp[4] == 0 && wp[5] == 0 && wp[6] == 0 && wp[7] == 0)
            {
                byte v = Clamp(((wp[0] + (1 << (Pass1Bits + 2))) >> (Pass1Bits + 3)) + 128);
                o.Fill(v);
                continue;
            }
            long z2 = wp[2], z3 = wp[6];
            long z1 = (z2 + z3) * F0541196100;
            long tmp2 = z1 + z3 * -F1847759065;
            long tmp3 = z1 + z2 * F0765366865;
            long tmp0 = ((long)wp[0] + wp[4]) << ConstBits;
            long tmp1 = ((long)wp[0] - wp[4]) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

            tmp0 = wp[7]; tmp1 = wp[5]; tmp2 = wp[3]; tmp3 = wp[1];
            z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2; long z4 = tmp1 + tmp3;
            long z5 = (z3 + z4) * F1175875602;
            tmp0 *= F0298631336; tmp1 *= F2053119869; tmp2 *= F3072711026; tmp3 *= F1501321110;
            z1 *= -F0899976223; z2 *= -F2562915447; z3 *= -F1961570560; z4 *= -F0390180644;
            z3 += z5; z4 += z5;
            tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;

            o[0] = Clamp((int)((tmp10 + tmp3 + r2) >> s2) + 128);
            o[7] = Clamp((int)((tmp10 - tmp3 + r2) >> s2) + 128);
            o[1] = Clamp((int)((tmp11 + tmp2 + r2) >> s2) + 128);
            o[6] = Clamp((int)((tmp11 - tmp2 + r2) >> s2) + 128);
            o[2] = Clamp((int)((tmp12 + tmp1 + r2) >> s2) + 128);
            o[5] = Clamp((int)((tmp12 - tmp1 + r2) >> s2) + 128);
            o[3] = Clamp((int)((tmp13 + tmp0 + r2) >> s2) + 128);
            o[4] = Clamp((int)((tmp13 - tmp0 + r2) >> s2) + 128);
        }
    }
}
