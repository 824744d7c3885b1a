using System.Buffers.Binary;
using System.IO.Compression;
using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Imaging.Tests.Codecs;

/// <summary>
/// A deliberately plain PNG writer for tests: any colour type / bit depth, Adam7, a chosen filter per row,
/// IDAT split into many chunks. Independent of the production encoder; files it writes are checked against
/// Pillow / OpenCV, so it does not need to be trusted.
/// </summary>
internal static class PngTestWriter
{
    public static byte[] Write(int w, int h, int colorType, int bitDepth, bool interlace, Func<int, int, int, int> sample,
        byte[]? plte = null, byte[]? trns = null, int seed = 1, int idatChunk = 97)
    {
        int channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        int bitsPP = channels * bitDepth, bpp = Math.Max(1, bitsPP / 8);
        var rng = new Random(seed);
        var raw = new MemoryStream();
        void Pass(int x0, int y0, int dx, int dy)
        {
            int pw = (w - x0 + dx - 1) / dx, ph = (h - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0) return;
            int rowBytes = (pw * bitsPP + 7) / 8;
            var prev = new byte[rowBytes];
            for (int j = 0; j < ph; j++)
            {
                var row = new byte[rowBytes];
                for (int i = 0; i < pw; i++)
                    for (int c = 0; c < channels; c++)
                    {
                        int v = sample(x0 + i * dx, y0 + j * dy, c);
                        int bit = (i * channels + c) * bitDepth;
                        if (bitDepth == 16) { row[bit / 8] = (byte)(v >> 8); row[bit / 8 + 1] = (byte)v; }
                        else if (bitDepth == 8) row[bit / 8] = (byte)v;
                        else row[bit / 8] |= (byte)(v << (8 - bitDepth - bit % 8));
                    }
                int f = rng.Next(5);
                raw.WriteByte((byte)f);
                for (int k = 0; k < rowBytes; k++)
                {
                    int a = k >= bpp ? row[k - bpp] : 0, b = prev[k], c = k >= bpp ? prev[k - bpp] : 0;
                    int p = f switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2, _ => Paeth(a, b, c) };
                    raw.WriteByte((byte)(row[k] - p));
                }
                prev = row;
            }
        }
        if (!interlace) Pass(0, 0, 1, 1);
        else
        {
            Pass(0, 0, 8, 8); Pass(4, 0, 8, 8); Pass(0, 4, 4, 8); Pass(2, 0, 4, 4); Pass(0, 2, 2, 4); Pass(1, 0, 2, 2); Pass(0, 1, 1, 2);
        }
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.SmallestSize, true)) zs.Write(raw.ToArray());
        var o = new MemoryStream();
        o.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)h);
        ihdr[8] = (byte)bitDepth; ihdr[9] = (byte)colorType; ihdr[12] = (byte)(interlace ? 1 : 0);
        Chunk(o, "IHDR", ihdr);
        if (plte != null) Chunk(o, "PLTE", plte);
        if (trns != null) Chunk(o, "tRNS", trns);
        Chunk(o, "tEXt", "Comment\0test writer"u8.ToArray());
        var zd = z.ToArray();
        for (int i = 0; i < zd.Length; i += idatChunk) Chunk(o, "IDAT", zd.AsSpan(i, Math.Min(idatChunk, zd.Length - i)).ToArray());
        Chunk(o, "IEND", []);
        return o.ToArray();
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    public static void Chunk(Stream o, string type, byte[] body)
    {
        var hdr = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(hdr, (uint)body.Length);
        System.Text.Encoding.ASCII.GetBytes(type, hdr.AsSpan(4));
        o.Write(hdr);
        o.Write(body);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.Update(Crc32.Compute(hdr.AsSpan(4)), body));
        o.Write(crc);
    }

    /// <summary>Every valid colour type / bit depth combination, plain and Adam7, at awkward sizes.</summary>
    public static IEnumerable<(string Name, byte[] Png)> Matrix()
    {
        (int Ct, int[] Depths)[] combos = [(0, [1, 2, 4, 8, 16]), (2, [8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16]), (6, [8, 16])];
        int[][] sizes = [[1, 1], [3, 2], [13, 7], [37, 21]];
        foreach (var (ct, depths) in combos)
            foreach (int bd in depths)
                foreach (bool il in new[] { false, true })
                    foreach (var s in sizes)
                    {
                        int w = s[0], h = s[1], max = (1 << bd) - 1;
                        int seed = ct * 1000 + bd * 10 + (il ? 1 : 0) + w;
                        var rng = new Random(seed);
                        byte[]? plte = null, trns = null;
                        if (ct == 3)
                        {
                            plte = new byte[3 * (max + 1)];
                            rng.NextBytes(plte);
                            if (w > 3) { trns = new byte[Math.Min(max + 1, 5)]; rng.NextBytes(trns); }
                        }
                        Func<int, int, int, int> f = (x, y, c) =>
                            ct == 3 ? (x * 7 + y * 3) % (max + 1) : (int)(((x * 31 + y * 17 + c * 57) * 2654435761L >> 7) % (max + 1));
                        yield return ($"t_ct{ct}_bd{bd}_{(il ? "adam7" : "plain")}_{w}x{h}.png", Write(w, h, ct, bd, il, f, plte, trns, seed));
                    }
    }
}
