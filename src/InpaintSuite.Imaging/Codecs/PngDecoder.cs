using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>
/// PNG decoder: colour types 0/2/3/4/6, bit depths 1-16, palette + tRNS, Adam7, multiple IDAT, CRC checked.
/// 1-8 bit images decode to U8 RGBA, 16-bit ones to U16 RGBA. Rows are inflated and unfiltered one at a time,
/// so memory beyond the output is a few rows; inflation stops at the size the header implies (zip bombs
/// cannot expand past it).
/// </summary>
public static class PngDecoder
{
    internal static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static bool HasSignature(ReadOnlySpan<byte> data) => data.Length >= 8 && data[..8].SequenceEqual(Signature);

    public static RgbaImage Decode(ReadOnlySpan<byte> data, DecodeOptions? options = null) => Decode(data, out _, options);

    public static ImageInfo Identify(ReadOnlySpan<byte> data)
    {
        var h = ReadHeader(data, headerOnly: true);
        return h.Info;
    }

    public static RgbaImage Decode(ReadOnlySpan<byte> data, out ImageInfo info, DecodeOptions? options = null)
    {
        options ??= DecodeOptions.Default;
        var h = ReadHeader(data, headerOnly: false);
        info = h.Info;
        if ((long)h.Width * h.Height > options.MaxPixels)
            throw ImageLimits.TooLarge($"PNG declares {h.Width}x{h.Height} pixels, more than the limit of {options.MaxPixels}");
        if ((long)h.Width * h.Height > DecodeOptions.DefaultMaxPixels)
            throw ImageLimits.TooLarge($"PNG declares {h.Width}x{h.Height} pixels, more than an RgbaImage can hold");
        // A row's raw bytes must fit an int with room; a 2^31-wide 16-bit RGBA row cannot.
        if ((long)h.Width * h.BitsPerPixel / 8 + 16 > int.MaxValue / 2)
            throw ImageLimits.TooLarge($"PNG row of {h.Width} pixels is too long");

        var image = new RgbaImage(h.Width, h.Height, h.BitDepth == 16 ? PixelDepth.U16 : PixelDepth.U8);
        using var ms = new MemoryStream(h.Idat, writable: false);
        using var zs = new ZLibStream(ms, CompressionMode.Decompress);
        var z = new InflateReader(zs);
        try
        {
            if (!h.Interlaced) DecodePass(z, h, image, 0, 0, 1, 1, h.Width, h.Height);
            else
            {
                ReadOnlySpan<int> x0 = [0, 4, 0, 2, 0, 1, 0], y0 = [0, 0, 4, 0, 2, 0, 1];
                ReadOnlySpan<int> dx = [8, 8, 4, 4, 2, 2, 1], dy = [8, 8, 8, 4, 4, 2, 2];
                for (int p = 0; p < 7; p++)
                {
                    int pw = (h.Width - x0[p] + dx[p] - 1) / dx[p], ph = (h.Height - y0[p] + dy[p] - 1) / dy[p];
                    if (pw <= 0 || ph <= 0) continue;
                    DecodePass(z, h, image, x0[p], y0[p], dx[p], dy[p], pw, ph);
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("PNG image data ends early (truncated IDAT)", e);
        }
        return image;
    }

    internal sealed class Header
    {
        public int Width, Height, BitDepth, ColorType, Channels, BitsPerPixel;
        public bool Interlaced;
        public uint[] Palette = []; // RGBA packed as little-endian uint (R in low byte)
        public int PaletteCount;
        public bool HasTrns;
        public ushort TrnsR, TrnsG, TrnsB; // colour key (grey uses TrnsR), raw sample values
        public byte[] Idat = [];
        public ImageInfo Info = null!;
    }

    private static Header ReadHeader(ReadOnlySpan<byte> data, bool headerOnly)
    {
        if (!HasSignature(data)) throw new InvalidDataException("not a PNG file (bad signature)");
        var h = new Header();
        int pos = 8;
        bool sawIhdr = false, sawPlte = false, sawIend = false;
        var idatParts = new List<(int Offset, int Length)>();
        long idatTotal = 0;
        while (pos < data.Length)
        {
            if (data.Length - pos < 12) throw new InvalidDataException($"PNG chunk header at byte {pos} is truncated");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(pos));
            if (len > int.MaxValue || len > data.Length - pos - 12)
                throw new InvalidDataException($"PNG chunk at byte {pos} declares {len} bytes, past the end of the file");
            var type = data.Slice(pos + 4, 4);
            var body = data.Slice(pos + 8, (int)len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(pos + 8 + (int)len));
            for (int i = 0; i < 4; i++)
            {
                byte c = type[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) throw new InvalidDataException($"PNG chunk at byte {pos} has an invalid type");
            }
            if (Crc32.Compute(data.Slice(pos + 4, 4 + (int)len)) != crc)
                throw new InvalidDataException($"PNG chunk {System.Text.Encoding.ASCII.GetString(type)} at byte {pos} fails its CRC check");
            string name = System.Text.Encoding.ASCII.GetString(type);
            if (!sawIhdr && name != "IHDR") throw new InvalidDataException("PNG does not start with IHDR");
            switch (name)
            {
                case "IHDR":
                    if (sawIhdr) throw new InvalidDataException("PNG has two IHDR chunks");
                    if (len != 13) throw new InvalidDataException("PNG IHDR has the wrong length");
                    ParseIhdr(h, body);
                    sawIhdr = true;
                    if (headerOnly) { h.Info = MakeInfo(h); return h; }
                    break;
                case "PLTE":
                    if (len % 3 != 0 || len == 0 || len / 3 > 256) throw new InvalidDataException("PNG PLTE has an invalid length");
                    if (h.ColorType == 0 || h.ColorType == 4) throw new InvalidDataException("PNG PLTE in a greyscale image");
                    if (sawPlte) throw new InvalidDataException("PNG has two PLTE chunks");
                    if (idatParts.Count > 0) throw new InvalidDataException("PNG PLTE after IDAT");
                    sawPlte = true;
                    h.PaletteCount = (int)len / 3;
                    h.Palette = new uint[256];
                    for (int i = 0; i < 256; i++) h.Palette[i] = 0xFF000000u; // out-of-range indices: opaque black
                    for (int i = 0; i < h.PaletteCount; i++)
                        h.Palette[i] = body[3 * i] | ((uint)body[3 * i + 1] << 8) | ((uint)body[3 * i + 2] << 16) | 0xFF000000u;
                    break;
                case "tRNS":
                    if (idatParts.Count > 0) throw new InvalidDataException("PNG tRNS after IDAT");
                    if (h.ColorType == 3)
                    {
                        if (!sawPlte) throw new InvalidDataException("PNG tRNS before PLTE");
                        if (len > h.PaletteCount) throw new InvalidDataException("PNG tRNS longer than the palette");
                        for (int i = 0; i < (int)len; i++) h.Palette[i] = (h.Palette[i] & 0x00FFFFFFu) | ((uint)body[i] << 24);
                        h.HasTrns = len > 0;
                    }
                    else if (h.ColorType == 0)
                    {
                        if (len != 2) throw new InvalidDataException("PNG grey tRNS must be 2 bytes");
                        h.TrnsR = BinaryPrimitives.ReadUInt16BigEndian(body);
                        h.HasTrns = true;
                    }
                    else if (h.ColorType == 2)
                    {
                        if (len != 6) throw new InvalidDataException("PNG RGB tRNS must be 6 bytes");
                        h.TrnsR = BinaryPrimitives.ReadUInt16BigEndian(body);
                        h.TrnsG = BinaryPrimitives.ReadUInt16BigEndian(body.Slice(2));
                        h.TrnsB = BinaryPrimitives.ReadUInt16BigEndian(body.Slice(4));
                        h.HasTrns = true;
                    }
                    // tRNS with an alpha colour type is invalid; libpng ignores it with a warning, so do we.
                    break;
                case "IDAT":
                    idatParts.Add((pos + 8, (int)len));
                    idatTotal += len;
                    break;
                case "IEND":
                    sawIend = true;
                    break;
                default:
                    if ((type[0] & 0x20) == 0) throw new InvalidDataException($"PNG has an unknown critical chunk {name}");
                    break;
            }
            pos += 12 + (int)len;
            if (sawIend) break;
        }
        if (!sawIhdr) throw new InvalidDataException("PNG has no IHDR");
        if (idatParts.Count == 0) throw new InvalidDataException("PNG has no image data (IDAT)");
        if (h.ColorType == 3 && !sawPlte) throw new InvalidDataException("PNG palette image has no PLTE");
        // A 16-bit colour key cannot match a sample of lower depth unless it is in range; keys out of range match nothing.
        h.Idat = new byte[idatTotal];
        int o = 0;
        foreach (var (off, l) in idatParts) { data.Slice(off, l).CopyTo(h.Idat.AsSpan(o)); o += l; }
        h.Info = MakeInfo(h);
        return h;
    }

    private static ImageInfo MakeInfo(Header h) =>
        new(ImageFormat.Png, h.Width, h.Height, h.BitDepth,
            h.ColorType switch { 0 => h.HasTrns ? 2 : 1, 2 => h.HasTrns ? 4 : 3, 3 => h.HasTrns ? 4 : 3, 4 => 2, _ => 4 },
            h.ColorType is 4 or 6 || h.HasTrns, h.Interlaced);

    private static void ParseIhdr(Header h, ReadOnlySpan<byte> b)
    {
        uint w = BinaryPrimitives.ReadUInt32BigEndian(b), hh = BinaryPrimitives.ReadUInt32BigEndian(b.Slice(4));
        if (w == 0 || hh == 0 || w > int.MaxValue || hh > int.MaxValue) throw new InvalidDataException($"PNG size {w}x{hh} is invalid");
        h.Width = (int)w; h.Height = (int)hh;
        h.BitDepth = b[8]; h.ColorType = b[9];
        if (b[10] != 0) throw new InvalidDataException("PNG compression method is not deflate");
        if (b[11] != 0) throw new InvalidDataException("PNG filter method is unknown");
        if (b[12] > 1) throw new InvalidDataException("PNG interlace method is unknown");
        h.Interlaced = b[12] == 1;
        bool ok = h.ColorType switch
        {
            0 => h.BitDepth is 1 or 2 or 4 or 8 or 16,
            3 => h.BitDepth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => h.BitDepth is 8 or 16,
            _ => false,
        };
        if (!ok) throw new InvalidDataException($"PNG colour type {h.ColorType} with bit depth {h.BitDepth} is invalid");
        h.Channels = h.ColorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        h.BitsPerPixel = h.Channels * h.BitDepth;
    }

    /// <summary>
    /// Serves scanlines from the inflater in 64 KiB reads: images with tiny rows (1 pixel wide, a million rows)
    /// would otherwise pay a ZLibStream call per row and per filter byte.
    /// </summary>
    private sealed class InflateReader(Stream z)
    {
        private readonly byte[] _buf = new byte[1 << 16];
        private int _pos, _len;

        public byte ReadByte()
        {
            if (_pos == _len) Refill();
            return _buf[_pos++];
        }

        public void ReadExactly(Span<byte> dst)
        {
            while (dst.Length > 0)
            {
                if (_pos == _len)
                {
                    if (dst.Length >= _buf.Length) { z.ReadExactly(dst); return; }
                    Refill();
                }
                int k = Math.Min(dst.Length, _len - _pos);
                _buf.AsSpan(_pos, k).CopyTo(dst);
                _pos += k;
                dst = dst[k..];
            }
        }

        private void Refill()
        {
            _pos = 0;
            try
            {
                _len = z.Read(_buf, 0, _buf.Length);
            }
            catch (IOException e) when (e is not EndOfStreamException)
            {
                // zlib reports corrupt streams as ZLibException (an IOException); callers expect InvalidDataException.
                throw new InvalidDataException("PNG image data is not a valid zlib stream: " + e.Message, e);
            }
            if (_len <= 0) { _len = 0; throw new EndOfStreamException(); }
        }
    }

    private static void DecodePass(InflateReader z, Header h, RgbaImage image, int x0, int y0, int dx, int dy, int pw, int ph)
    {
        int rowBytes = (int)(((long)pw * h.BitsPerPixel + 7) / 8);
        int bpp = Math.Max(1, h.BitsPerPixel / 8);
        // Rows carry bpp leading zero bytes so filters never branch on the left edge.
        byte[] prevBuf = new byte[bpp + rowBytes], curBuf = new byte[bpp + rowBytes];
        bool direct = dx == 1;
        int outBpp = 4 * image.BytesPerChannel;
        byte[]? passRow = direct ? null : new byte[pw * outBpp];
        for (int y = 0; y < ph; y++)
        {
            byte filter = z.ReadByte();
            var cur = curBuf.AsSpan(bpp, rowBytes);
            z.ReadExactly(cur);
            PngFilters.Unfilter(filter, curBuf, prevBuf, bpp, rowBytes);
            int outY = y0 + y * dy;
            if (direct) ExpandRow(h, cur, image.RowBytes(outY), pw);
            else
            {
                ExpandRow(h, cur, passRow, pw);
                var dst = image.RowBytes(outY);
                if (outBpp == 4)
                {
                    var src32 = MemoryMarshal.Cast<byte, uint>(passRow.AsSpan());
                    var dst32 = MemoryMarshal.Cast<byte, uint>(dst);
                    for (int i = 0, x = x0; i < pw; i++, x += dx) dst32[x] = src32[i];
                }
                else
                {
                    var src64 = MemoryMarshal.Cast<byte, ulong>(passRow.AsSpan());
                    var dst64 = MemoryMarshal.Cast<byte, ulong>(dst);
                    for (int i = 0, x = x0; i < pw; i++, x += dx) dst64[x] = src64[i];
                }
            }
            (prevBuf, curBuf) = (curBuf, prevBuf);
        }
    }

    /// <summary>Expands one unfiltered scanline of <paramref name="n"/> pixels to RGBA8 or RGBA16 (native order).</summary>
    private static void ExpandRow(Header h, ReadOnlySpan<byte> src, Span<byte> dst, int n)
    {
        if (h.BitDepth == 16)
        {
            var d = MemoryMarshal.Cast<byte, ushort>(dst);
            switch (h.ColorType)
            {
                case 0:
                    for (int i = 0; i < n; i++)
                    {
                        ushort g = BinaryPrimitives.ReadUInt16BigEndian(src.Slice(2 * i));
                        d[4 * i] = g; d[4 * i + 1] = g; d[4 * i + 2] = g;
                        d[4 * i + 3] = h.HasTrns && g == h.TrnsR ? (ushort)0 : (ushort)65535;
                    }
                    break;
                case 2:
                    for (int i = 0; i < n; i++)
                    {
                        ushort r = BinaryPrimitives.ReadUInt16BigEndian(src.Slice(6 * i));
                        ushort g = BinaryPrimitives.ReadUInt16BigEndian(src.Slice(6 * i + 2));
                        ushort b = BinaryPrimitives.ReadUInt16BigEndian(src.Slice(6 * i + 4));
                        d[4 * i] = r; d[4 * i + 1] = g; d[4 * i + 2] = b;
                        d[4 * i + 3] = h.HasTrns && r == h.TrnsR && g == h.TrnsG && b == h.TrnsB ? (ushort)0 : (ushort)65535;
                    }
                    break;
                case 4:
                    for (int i = 0; i < n; i++)
                    {
                        ushort g = BinaryPrimitives.ReadUInt16BigEndian(src.Slice(4 * i));
                        d[4 * i] = g; d[4 * i + 1] = g; d[4 * i + 2] = g;
                        d[4 * i + 3] = BinaryPrimitives.ReadUInt16BigEndian(src.Slice(4 * i + 2));
                    }
                    break;
                default:
                    var s16 = MemoryMarshal.Cast<byte, ushort>(src[..(8 * n)]);
                    if (BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(s16, d[..(4 * n)]);
                    else s16.CopyTo(d);
                    break;
            }
            return;
        }

        if (h.BitDepth == 8)
        {
            switch (h.ColorType)
            {
                case 6:
                    src[..(4 * n)].CopyTo(dst);
                    return;
                case 2:
                    if (h.HasTrns) { ExpandRgbKeyed(src, dst, n, h); return; }
                    ExpandRgb(src, dst, n);
                    return;
                case 0:
                    {
                        var d32 = MemoryMarshal.Cast<byte, uint>(dst);
                        int key = h.HasTrns ? h.TrnsR : -1;
                        for (int i = 0; i < n; i++)
                        {
                            uint g = src[i];
                            d32[i] = (g * 0x010101u) | (g == key ? 0u : 0xFF000000u);
                        }
                        return;
                    }
                case 4:
                    {
                        var d32 = MemoryMarshal.Cast<byte, uint>(dst);
                        for (int i = 0; i < n; i++)
                        {
                            uint g = src[2 * i];
                            d32[i] = (g * 0x010101u) | ((uint)src[2 * i + 1] << 24);
                        }
                        return;
                    }
                case 3:
                    {
                        var d32 = MemoryMarshal.Cast<byte, uint>(dst);
                        var pal = h.Palette;
                        for (int i = 0; i < n; i++) d32[i] = pal[src[i]];
                        if (!BitConverter.IsLittleEndian) for (int i = 0; i < n; i++) d32[i] = BinaryPrimitives.ReverseEndianness(d32[i]);
                        return;
                    }
            }
        }

        // 1, 2, 4 bit grey or palette.
        {
            int bd = h.BitDepth;
            int mask = (1 << bd) - 1;
            int scale = 255 / mask;
            int perByte = 8 / bd;
            int key = h.HasTrns && h.ColorType == 0 ? h.TrnsR : -1;
            for (int i = 0; i < n; i++)
            {
                int v = (src[i / perByte] >> (8 - bd - (i % perByte) * bd)) & mask;
                if (h.ColorType == 3)
                {
                    uint c = h.Palette[v];
                    dst[4 * i] = (byte)c; dst[4 * i + 1] = (byte)(c >> 8); dst[4 * i + 2] = (byte)(c >> 16); dst[4 * i + 3] = (byte)(c >> 24);
                }
                else
                {
                    byte g = (byte)(v * scale);
                    dst[4 * i] = g; dst[4 * i + 1] = g; dst[4 * i + 2] = g; dst[4 * i + 3] = v == key ? (byte)0 : (byte)255;
                }
            }
        }
    }

    private static unsafe void ExpandRgb(ReadOnlySpan<byte> src, Span<byte> dst, int n)
    {
        fixed (byte* s0 = src)
        fixed (byte* d0 = dst)
        {
            byte* s = s0; uint* d = (uint*)d0;
            int i = 0;
            // Read 4 bytes per pixel where safe (all but the last pixel), then fix alpha.
            for (; i < n - 1; i++, s += 3) d[i] = (*(uint*)s & 0x00FFFFFFu) | 0xFF000000u;
            for (; i < n; i++, s += 3) { d0[4 * i] = s[0]; d0[4 * i + 1] = s[1]; d0[4 * i + 2] = s[2]; d0[4 * i + 3] = 255; }
        }
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
    }

    private static void ExpandRgbKeyed(ReadOnlySpan<byte> src, Span<byte> dst, int n, Header h)
    {
        for (int i = 0; i < n; i++)
        {
            byte r = src[3 * i], g = src[3 * i + 1], b = src[3 * i + 2];
            dst[4 * i] = r; dst[4 * i + 1] = g; dst[4 * i + 2] = b;
            dst[4 * i + 3] = r == h.TrnsR && g == h.TrnsG && b == h.TrnsB ? (byte)0 : (byte)255;
        }
    }
}
