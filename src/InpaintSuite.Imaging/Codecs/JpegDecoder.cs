using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>
/// JPEG decoder: baseline and progressive Huffman (SOF0/1/2), 8-bit, greyscale or YCbCr/RGB with any integer
/// subsampling (4:4:4, 4:2:2, 4:2:0, 4:4:0, ...), restart markers, EXIF orientation. Follows libjpeg-turbo's
/// default output path (accurate integer IDCT, "fancy" triangular chroma upsampling, fixed-point YCbCr->RGB)
/// so results match Pillow/OpenCV to within rounding. Output is U8 RGBA with opaque alpha.
/// </summary>
public static class JpegDecoder
{
    public static RgbaImage Decode(ReadOnlySpan<byte> data, DecodeOptions? options = null) => Decode(data, out _, options);

    public static RgbaImage Decode(ReadOnlySpan<byte> data, out ImageInfo info, DecodeOptions? options = null)
    {
        options ??= DecodeOptions.Default;
        var d = new JpegReader(data.ToArray(), options);
        d.Read(headerOnly: false);
        var img = d.Output();
        if (options.ApplyExifOrientation && d.Orientation != 1) img = ApplyOrientation(img, d.Orientation);
        info = d.MakeInfo(options.ApplyExifOrientation);
        return img;
    }

    public static ImageInfo Identify(ReadOnlySpan<byte> data)
    {
        var d = new JpegReader(data.ToArray(), DecodeOptions.Default);
        d.Read(headerOnly: true);
        return d.MakeInfo(true);
    }

    /// <summary>Applies EXIF orientation 2..8 (as Pillow's ImageOps.exif_transpose does).</summary>
    internal static RgbaImage ApplyOrientation(RgbaImage src, int orientation)
    {
        int w = src.Width, h = src.Height;
        bool swap = orientation >= 5;
        var dst = new RgbaImage(swap ? h : w, swap ? w : h);
        var s = MemoryMarshal.Cast<byte, uint>(src.Bytes);
        var o = MemoryMarshal.Cast<byte, uint>(dst.Bytes);
        int ow = dst.Width, oh = dst.Height;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
            {
                int sx, sy;
                switch (orientation)
                {
                    case 2: sx = w - 1 - x; sy = y; break;
                    case 3: sx = w - 1 - x; sy = h - 1 - y; break;
                    case 4: sx = x; sy = h - 1 - y; break;
                    case 5: sx = y; sy = x; break;
                    case 6: sx = y; sy = h - 1 - x; break;
                    case 7: sx = w - 1 - y; sy = h - 1 - x; break;
                    case 8: sx = w - 1 - y; sy = x; break;
                    default: sx = x; sy = y; break;
                }
                o[y * ow + x] = s[sy * w + sx];
            }
        return dst;
    }
}

internal sealed class JpegReader
{
    private static readonly byte[] ZigZag =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
        28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
        54, 47, 55, 62, 63,
    ];

    private const int MaxScans = 256; // real progressive files use ~10; caps work on crafted ones

    private sealed class Huffman
    {
        public readonly ushort[] Fast = new ushort[1 << FastBits]; // (length << 8) | symbol; 0 = not in table
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValOffset = new int[18];
        public readonly byte[] Values = new byte[256];
        public const int FastBits = 9;
    }

    private sealed class Component
    {
        public int Id, H, V, Tq;
        public int BlocksW, BlocksH;          // blocks covering the component's own size
        public int BlocksWAlloc, BlocksHAlloc; // padded to whole MCUs
        public int Width, Height;              // the component's sample dimensions
        public short[] Coefs = [];
        public int DcPred;
        public ushort[]? Quant;               // latched at the component's first scan
        public Huffman? Dc, Ac;
    }

    private readonly byte[] _data;
    private readonly DecodeOptions _options;
    private readonly ushort[]?[] _qt = new ushort[4][];
    private readonly Huffman?[] _dcTables = new Huffman[4], _acTables = new Huffman[4];
    private Component[] _comps = [];
    private int _width, _height, _hMax, _vMax, _mcusX, _mcusY, _restartInterval;
    private bool _progressive, _sawFrame, _sawScan, _adobe;
    private int _adobeTransform = -1;
    private int _eobrun;
    public int Orientation { get; private set; } = 1;

    // Bit reader state.
    private int _pos;
    private ulong _bits;
    private int _bitCount;
    private bool _markerHit;
    private int _phantomBytes;

    public JpegReader(byte[] data, DecodeOptions options)
    {
        _data = data;
        _options = options;
    }

    public ImageInfo MakeInfo(bool oriented)
    {
        bool swap = oriented && Orientation >= 5;
        return new ImageInfo(ImageFormat.Jpeg, swap ? _height : _width, swap ? _width : _height, 8, _comps.Length == 1 ? 1 : 3, false, _progressive, Orientation);
    }

    private static InvalidDataException Bad(string m) => new("JPEG: " + m);

    public void Read(bool headerOnly)
    {
        if (_data.Length < 4 || _data[0] != 0xFF || _data[1] != 0xD8) throw Bad("missing SOI marker");
        _pos = 2;
        int scans = 0;
        while (true)
        {
            int marker = NextMarker();
            if (marker < 0)
            {
                if (_sawScan && !headerOnly) return; // no EOI: tolerated when the image data was complete
                throw Bad("file ends before any image data");
            }
            if (marker == 0xD9) // EOI
            {
                if (!_sawScan) throw Bad("EOI before any scan");
                return;
            }
            if (marker >= 0xD0 && marker <= 0xD7) continue; // stray RST
            if (marker == 0x01) continue; // TEM
            if (_pos + 2 > _data.Length) throw Bad("segment length is truncated");
            int len = BinaryPrimitives.ReadUInt16BigEndian(_data.AsSpan(_pos));
            if (len < 2 || _pos + len > _data.Length) throw Bad($"segment FF{marker:X2} length {len} runs past the end of the file");
            var seg = _data.AsSpan(_pos + 2, len - 2);
            int segEnd = _pos + len;
            switch (marker)
            {
                case 0xC0: case 0xC1: case 0xC2:
                    if (_sawFrame) throw Bad("two frame headers");
                    ReadFrame(seg, marker == 0xC2);
                    if (headerOnly) return;
                    break;
                case 0xC3: case 0xC5: case 0xC6: case 0xC7: case 0xC9: case 0xCA: case 0xCB: case 0xCD: case 0xCE: case 0xCF:
                    throw Bad($"unsupported coding process (SOF{marker - 0xC0}: lossless, hierarchical or arithmetic)");
                case 0xC4: ReadHuffmanTables(seg); break;
                case 0xCC: throw Bad("arithmetic coding is not supported");
                case 0xDB: ReadQuantTables(seg); break;
                case 0xDD:
                    if (seg.Length < 2) throw Bad("DRI too short");
                    _restartInterval = BinaryPrimitives.ReadUInt16BigEndian(seg);
                    break;
                case 0xE1: ReadExif(seg); break;
                case 0xEE:
                    if (seg.Length >= 12 && seg[..5].SequenceEqual("Adobe"u8)) { _adobe = true; _adobeTransform = seg[11]; }
                    break;
                case 0xDA:
                    if (!_sawFrame) throw Bad("scan before frame header");
                    if (++scans > MaxScans) throw Bad($"more than {MaxScans} scans");
                    _pos = segEnd;
                    ReadScan(seg);
                    _sawScan = true;
                    continue; // ReadScan leaves _pos at the next marker
                case 0xDC: throw Bad("DNL (height defined after the scan) is not supported");
            }
            _pos = segEnd;
        }
    }

    /// <summary>Advances to the next marker and returns its code (without FF), or -1 at end of data.</summary>
    private int NextMarker()
    {
        while (_pos < _data.Length)
        {
            if (_data[_pos] != 0xFF) { _pos++; continue; } // garbage between segments: skip, as libjpeg does (with a warning)
            while (_pos < _data.Length && _data[_pos] == 0xFF) _pos++;
            if (_pos >= _data.Length) return -1;
            int m = _data[_pos++];
            if (m != 0) return m;
        }
        return -1;
    }

    private void ReadFrame(ReadOnlySpan<byte> s, bool progressive)
    {
        if (s.Length < 6) throw Bad("SOF too short");
        if (s[0] != 8) throw Bad($"{s[0]}-bit samples are not supported (8-bit only)");
        _height = BinaryPrimitives.ReadUInt16BigEndian(s.Slice(1));
        _width = BinaryPrimitives.ReadUInt16BigEndian(s.Slice(3));
        int n = s[5];
        if (_width == 0 || _height == 0) throw Bad($"image size {_width}x{_height} is invalid");
        if (n != 1 && n != 3) throw Bad($"{n} components are not supported (greyscale or 3-component colour only)");
        if (s.Length < 6 + 3 * n) throw Bad("SOF too short for its components");
        if ((long)_width * _height > _options.MaxPixels)
            throw ImageLimits.TooLarge($"JPEG declares {_width}x{_height} pixels, more than the limit of {_options.MaxPixels}");
        _progressive = progressive;
        _comps = new Component[n];
        for (int i = 0; i < n; i++)
        {
            var c = new Component { Id = s[6 + 3 * i], H = s[7 + 3 * i] >> 4, V = s[7 + 3 * i] & 15, Tq = s[8 + 3 * i] };
            if (c.H < 1 || c.H > 4 || c.V < 1 || c.V > 4) throw Bad("invalid sampling factor");
            if (c.Tq > 3) throw Bad("invalid quantisation table index");
            for (int j = 0; j < i; j++) if (_comps[j].Id == c.Id) throw Bad("duplicate component id");
            _comps[i] = c;
        }
        _hMax = _comps.Max(c => c.H);
        _vMax = _comps.Max(c => c.V);
        _mcusX = (_width + 8 * _hMax - 1) / (8 * _hMax);
        _mcusY = (_height + 8 * _vMax - 1) / (8 * _vMax);
        foreach (var c in _comps)
        {
            if (_hMax % c.H != 0 || _vMax % c.V != 0) throw Bad("non-integral subsampling ratio is not supported");
            c.Width = (int)(((long)_width * c.H + _hMax - 1) / _hMax);
            c.Height = (int)(((long)_height * c.V + _vMax - 1) / _vMax);
            c.BlocksW = (c.Width + 7) / 8;
            c.BlocksH = (c.Height + 7) / 8;
            c.BlocksWAlloc = _mcusX * c.H;
            c.BlocksHAlloc = _mcusY * c.V;
        }
        // MCU padding can multiply the samples stored (e.g. a 1-pixel-wide image with 4x4 sampling); bound the
        // coefficient buffers by the pixel limit too, so no input makes us allocate beyond ~20 bytes per allowed pixel.
        long samples = 0;
        foreach (var c in _comps) samples += (long)c.BlocksWAlloc * c.BlocksHAlloc * 64;
        if (samples > 4 * Math.Max(_options.MaxPixels, 64) || samples * 2 > int.MaxValue - 64)
            throw ImageLimits.TooLarge($"JPEG {_width}x{_height} with its sampling needs {samples} coefficients, over the limit of {4 * _options.MaxPixels}");
        _sawFrame = true;
    }

    private void AllocateCoefficients()
    {
        foreach (var c in _comps)
            if (c.Coefs.Length == 0) c.Coefs = new short[checked(c.BlocksWAlloc * c.BlocksHAlloc * 64)];
    }

    private void ReadQuantTables(ReadOnlySpan<byte> s)
    {
        while (s.Length > 0)
        {
            int pq = s[0] >> 4, tq = s[0] & 15;
            if (tq > 3 || pq > 1) throw Bad("invalid DQT");
            int need = 1 + 64 * (pq + 1);
            if (s.Length < need) throw Bad("DQT too short");
            var t = new ushort[64];
            for (int k = 0; k < 64; k++)
                t[ZigZag[k]] = pq == 0 ? s[1 + k] : BinaryPrimitives.ReadUInt16BigEndian(s.Slice(1 + 2 * k));
            _qt[tq] = t;
            s = s[need..];
        }
    }

    private void ReadHuffmanTables(ReadOnlySpan<byte> s)
    {
        while (s.Length > 0)
        {
            if (s.Length < 17) throw Bad("DHT too short");
            int tc = s[0] >> 4, th = s[0] & 15;
            if (tc > 1 || th > 3) throw Bad("invalid DHT class or index");
            var counts = s.Slice(1, 16);
            int total = 0;
            for (int i = 0; i < 16; i++) total += counts[i];
            if (total > 256 || s.Length < 17 + total) throw Bad("DHT has too many or too few symbols");
            var t = new Huffman();
            s.Slice(17, total).CopyTo(t.Values);
            int code = 0, k = 0;
            for (int len = 1; len <= 16; len++)
            {
                int cnt = counts[len - 1];
                t.ValOffset[len] = k - code;
                if (code + cnt > (1 << len)) throw Bad("DHT code lengths overflow");
                for (int i = 0; i < cnt; i++, k++, code++)
                {
                    if (len <= Huffman.FastBits)
                    {
                        int shift = Huffman.FastBits - len;
                        for (int f = code << shift, e = (code + 1) << shift; f < e; f++) t.Fast[f] = (ushort)((len << 8) | t.Values[k]);
                    }
                }
                t.MaxCode[len] = cnt > 0 ? code - 1 : -1;
                code <<= 1;
            }
            t.MaxCode[17] = int.MaxValue;
            (tc == 0 ? _dcTables : _acTables)[th] = t;
            s = s[(17 + total)..];
        }
    }

    private void ReadExif(ReadOnlySpan<byte> s)
    {
        if (s.Length < 14 || !s[..6].SequenceEqual("Exif\0\0"u8)) return;
        var t = s[6..];
        bool le;
        if (t[0] == 'I' && t[1] == 'I') le = true;
        else if (t[0] == 'M' && t[1] == 'M') le = false;
        else return;
        uint ifd = le ? BinaryPrimitives.ReadUInt32LittleEndian(t.Slice(4)) : BinaryPrimitives.ReadUInt32BigEndian(t.Slice(4));
        if (ifd < 8 || ifd + 2 > t.Length) return;
        int n = U16(t, (int)ifd, le);
        for (int i = 0; i < n; i++)
        {
            int e = (int)ifd + 2 + 12 * i;
            if (e + 12 > t.Length) return;
            if (U16(t, e, le) == 0x0112 && U16(t, e + 2, le) == 3)
            {
                int v = U16(t, e + 8, le);
                if (v >= 1 && v <= 8) Orientation = v;
                return;
            }
        }
    }

    private static int U16(ReadOnlySpan<byte> t, int o, bool le) =>
        le ? BinaryPrimitives.ReadUInt16LittleEndian(t.Slice(o)) : BinaryPrimitives.ReadUInt16BigEndian(t.Slice(o));

    // ---------------- entropy decoding ----------------

    private void ReadScan(ReadOnlySpan<byte> s)
    {
        if (s.Length < 1) throw Bad("SOS too short");
        int ns = s[0];
        if (ns < 1 || ns > 4 || s.Length < 1 + 2 * ns + 3) throw Bad("invalid SOS");
        var scomps = new Component[ns];
        for (int i = 0; i < ns; i++)
        {
            int id = s[1 + 2 * i], tdta = s[2 + 2 * i];
            var c = Array.Find(_comps, x => x.Id == id) ?? throw Bad($"scan refers to unknown component {id}");
            if (Array.IndexOf(scomps, c) >= 0) throw Bad("component listed twice in a scan");
            scomps[i] = c;
            c.Dc = (tdta >> 4) < 4 ? _dcTables[tdta >> 4] : null;
            c.Ac = (tdta & 15) < 4 ? _acTables[tdta & 15] : null;
            c.Quant ??= _qt[c.Tq] ?? throw Bad($"quantisation table {c.Tq} is missing");
        }
        int ss = s[1 + 2 * ns], se = s[2 + 2 * ns], ah = s[3 + 2 * ns] >> 4, al = s[3 + 2 * ns] & 15;
        if (_progressive)
        {
            if (ss > 63 || se > 63 || ss > se || al > 13 || ah > 13) throw Bad("invalid progressive scan parameters");
            if (ss == 0 && se != 0) throw Bad("progressive DC scan with AC coefficients");
            if (ss > 0 && ns != 1) throw Bad("progressive AC scan with more than one component");
        }
        else { ss = 0; se = 63; ah = 0; al = 0; }
        int blocksPerMcu = 0;
        foreach (var c in scomps)
        {
            blocksPerMcu += c.H * c.V;
            bool needDc = ss == 0 && ah == 0, needAc = se > 0;
            if (needDc && c.Dc == null) throw Bad("scan uses a missing DC Huffman table");
            if (needAc && c.Ac == null) throw Bad("scan uses a missing AC Huffman table");
        }
        if (blocksPerMcu > 10) throw Bad("too many blocks per MCU");
        AllocateCoefficients();

        foreach (var c in scomps) c.DcPred = 0;
        _eobrun = 0;
        ResetBits();
        int mcuCount, mcusAcross;
        bool single = ns == 1;
        if (single) { mcusAcross = scomps[0].BlocksW; mcuCount = scomps[0].BlocksW * scomps[0].BlocksH; }
        else { mcusAcross = _mcusX; mcuCount = _mcusX * _mcusY; }

        int restartsLeft = _restartInterval;
        for (int m = 0; m < mcuCount; m++)
        {
            if (_restartInterval > 0)
            {
                if (restartsLeft == 0)
                {
                    ProcessRestart();
                    foreach (var c in scomps) c.DcPred = 0;
                    _eobrun = 0;
                    restartsLeft = _restartInterval;
                }
                restartsLeft--;
            }
            int mx = m % mcusAcross, my = m / mcusAcross;
            if (single)
            {
                var c = scomps[0];
                DecodeBlock(c, c.Coefs.AsSpan((my * c.BlocksWAlloc + mx) * 64, 64), ss, se, ah, al);
            }
            else
            {
                foreach (var c in scomps)
                    for (int v = 0; v < c.V; v++)
                        for (int h = 0; h < c.H; h++)
                        {
                            int by = my * c.V + v, bx = mx * c.H + h;
                            DecodeBlock(c, c.Coefs.AsSpan((by * c.BlocksWAlloc + bx) * 64, 64), ss, se, ah, al);
                        }
            }
            if (_phantomBytes * 8 > _bitCount) throw Bad("entropy-coded data ends early (truncated or corrupt scan)");
        }
        // Leave _pos at the marker following the scan.
        if (!_markerHit)
        {
            while (_pos < _data.Length - 1 && !(_data[_pos] == 0xFF && _data[_pos + 1] != 0 && _data[_pos + 1] != 0xFF)) _pos++;
        }
    }

    private void DecodeBlock(Component c, Span<short> blk, int ss, int se, int ah, int al)
    {
        if (!_progressive) { DecodeBaseline(c, blk); return; }
        if (ss == 0)
        {
            if (ah == 0)
            {
                int t = DecodeHuffman(c.Dc!);
                int diff = t == 0 ? 0 : ReceiveExtend(t);
                c.DcPred += diff;
                blk[0] = (short)(c.DcPred * (1 << al));
            }
            else if (GetBit() != 0) blk[0] |= (short)(1 << al);
            return;
        }
        if (ah == 0) DecodeAcFirst(c, blk, ss, se, al);
        else DecodeAcRefine(c, blk, ss, se, al);
    }

    private void DecodeBaseline(Component c, Span<short> blk)
    {
        int t = DecodeHuffman(c.Dc!);
        if (t > 16) throw Bad("invalid DC magnitude");
        int diff = t == 0 ? 0 : ReceiveExtend(t);
        c.DcPred += diff;
        blk[0] = (short)c.DcPred;
        var ac = c.Ac!;
        var zz = ZigZag;
        for (int k = 1; k < 64;)
        {
            int rs = DecodeHuffman(ac);
            int r = rs >> 4, sz = rs & 15;
            if (sz == 0)
            {
                if (r != 15) break;
                k += 16;
                continue;
            }
            k += r;
            if (k > 63) throw Bad("AC coefficient index past 63");
            blk[zz[k]] = (short)ReceiveExtend(sz);
            k++;
        }
    }

    private void DecodeAcFirst(Component c, Span<short> blk, int ss, int se, int al)
    {
        if (_eobrun > 0) { _eobrun--; return; }
        var ac = c.Ac!;
        for (int k = ss; k <= se;)
        {
            int rs = DecodeHuffman(ac);
            int r = rs >> 4, sz = rs & 15;
            if (sz == 0)
            {
                if (r < 15)
                {
                    _eobrun = (1 << r) - 1;
                    if (r > 0) _eobrun += GetBits(r);
                    break;
                }
                k += 16;
                continue;
            }
            k += r;
            if (k > 63) throw Bad("AC coefficient index past 63");
            blk[ZigZag[k]] = (short)(ReceiveExtend(sz) * (1 << al));
            k++;
        }
    }

    private void DecodeAcRefine(Component c, Span<short> blk, int ss, int se, int al)
    {
        int p1 = 1 << al, m1 = -1 << al;
        int k = ss;
        var zz = ZigZag;
        if (_eobrun == 0)
        {
            var ac = c.Ac!;
            for (; k <= se; k++)
            {
                int rs = DecodeHuffman(ac);
                int r = rs >> 4, sz = rs & 15;
                int val = 0;
                if (sz != 0)
                {
                    if (sz != 1) throw Bad("invalid refinement coefficient size");
                    val = GetBit() != 0 ? p1 : m1;
                }
                else if (r != 15)
                {
                    _eobrun = 1 << r;
                    if (r > 0) _eobrun += GetBits(r);
                    break;
                }
                do
                {
                    int z = zz[k];
                    if (blk[z] != 0)
                    {
                        if (GetBit() != 0 && (blk[z] & p1) == 0) blk[z] = (short)(blk[z] >= 0 ? blk[z] + p1 : blk[z] + m1);
                    }
                    else
                    {
                        if (--r < 0) break;
                    }
                    k++;
                } while (k <= se);
                if (val != 0)
                {
                    if (k > 63) throw Bad("refinement coefficient index past 63");
                    blk[zz[k]] = (short)val;
                }
            }
        }
        if (_eobrun > 0)
        {
            for (; k <= se; k++)
            {
                int z = zz[k];
                if (blk[z] != 0 && GetBit() != 0 && (blk[z] & p1) == 0)
                    blk[z] = (short)(blk[z] >= 0 ? blk[z] + p1 : blk[z] + m1);
            }
            _eobrun--;
        }
    }

    private void ResetBits()
    {
        _bits = 0;
        _bitCount = 0;
        _markerHit = false;
        _phantomBytes = 0;
    }

    private void ProcessRestart()
    {
        // Discard remaining bits; expect RSTn at the current position (resync forward if it is elsewhere).
        _bits = 0; _bitCount = 0; _phantomBytes = 0;
        _markerHit = false;
        while (_pos < _data.Length - 1)
        {
            if (_data[_pos] == 0xFF)
            {
                int m = _data[_pos + 1];
                if (m >= 0xD0 && m <= 0xD7) { _pos += 2; return; }
                if (m != 0 && m != 0xFF) throw Bad("expected a restart marker, found another marker");
            }
            _pos++;
        }
        throw Bad("restart marker missing (truncated scan)");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Fill()
    {
        while (_bitCount <= 56)
        {
            int b = 0;
            if (!_markerHit && _pos < _data.Length)
            {
                b = _data[_pos];
                if (b == 0xFF)
                {
                    int nb = _pos + 1 < _data.Length ? _data[_pos + 1] : -1;
                    if (nb == 0) _pos += 2;
                    else { _markerHit = true; b = 0; _phantomBytes++; }
                }
                else _pos++;
            }
            else _phantomBytes++;
            _bits |= (ulong)b << (56 - _bitCount);
            _bitCount += 8;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int DecodeHuffman(Huffman t)
    {
        if (_bitCount < 16) Fill();
        int e = t.Fast[(int)(_bits >> (64 - Huffman.FastBits))];
        if (e != 0)
        {
            int len = e >> 8;
            _bits <<= len; _bitCount -= len;
            return e & 0xFF;
        }
        int code = (int)(_bits >> 48);
        for (int l = Huffman.FastBits + 1; l <= 16; l++)
        {
            int cc = code >> (16 - l);
            if (cc <= t.MaxCode[l])
            {
                _bits <<= l; _bitCount -= l;
                int idx = cc + t.ValOffset[l];
                if ((uint)idx > 255) throw Bad("corrupt Huffman code");
                return t.Values[idx];
            }
        }
        throw Bad("corrupt Huffman code");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int GetBits(int n)
    {
        if (n == 0) return 0;
        if (_bitCount < n) Fill();
        int v = (int)(_bits >> (64 - n));
        _bits <<= n; _bitCount -= n;
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int GetBit() => GetBits(1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReceiveExtend(int n)
    {
        if (n > 16) throw Bad("invalid coefficient magnitude");
        int v = GetBits(n);
        return v < (1 << (n - 1)) ? v - (1 << n) + 1 : v;
    }

    // ---------------- output ----------------

    public RgbaImage Output()
    {
        if (!_sawScan) throw Bad("no scan");
        int w = _width, h = _height;
        var planes = new byte[_comps.Length][];
        for (int ci = 0; ci < _comps.Length; ci++)
        {
            var c = _comps[ci];
            if (c.Quant == null) throw Bad($"component {c.Id} never appears in a scan");
            int stride = c.BlocksWAlloc * 8;
            var plane = new byte[checked(stride * c.BlocksH * 8)];
            for (int by = 0; by < c.BlocksH; by++)
                for (int bx = 0; bx < c.BlocksW; bx++)
                    JpegIdct.IdctIslow(c.Coefs.AsSpan((by * c.BlocksWAlloc + bx) * 64, 64), c.Quant, plane.AsSpan(by * 8 * stride + bx * 8), stride);
            planes[ci] = plane;
            c.Coefs = []; // release early
        }
        var img = new RgbaImage(w, h);
        int n = _comps.Length;
        var rows = new byte[n][];
        for (int ci = 0; ci < n; ci++) rows[ci] = new byte[w + 16];
        bool rgb = n == 3 && ((_adobe && _adobeTransform == 0) || (_comps[0].Id == 'R' && _comps[1].Id == 'G' && _comps[2].Id == 'B'));
        for (int y = 0; y < h; y++)
        {
            for (int ci = 0; ci < n; ci++) UpsampleRow(_comps[ci], planes[ci], y, rows[ci]);
            var dst = img.Row8(y);
            if (n == 1) JpegColor.GreyToRgba(rows[0], dst, w);
            else if (rgb) JpegColor.RgbToRgba(rows[0], rows[1], rows[2], dst, w);
            else JpegColor.YccToRgba(rows[0], rows[1], rows[2], dst, w);
        }
        return img;
    }

    /// <summary>libjpeg-turbo's upsampling: fancy (triangular) for 2x horizontal and/or 2x vertical, replication otherwise.</summary>
    private void UpsampleRow(Component c, byte[] plane, int y, byte[] dst)
    {
        int stride = c.BlocksWAlloc * 8;
        int rh = _hMax / c.H, rv = _vMax / c.V;
        int cw = c.Width, chh = c.Height;
        int w = _width;
        if (rv == 1)
        {
            var src = plane.AsSpan(y * stride, stride);
            if (rh == 1) { src[..w].CopyTo(dst); return; }
            if (rh == 2 && cw > 2) { JpegColor.FancyH2V1(src, cw, dst); return; }
            Replicate(src, rh, w, dst);
            return;
        }
        int inRow = y / rv;
        if (rv == 2 && (rh == 2 && cw > 2 || rh == 1))
        {
            bool upper = (y & 1) == 0;
            int nb = Math.Clamp(upper ? inRow - 1 : inRow + 1, 0, chh - 1);
            var r0 = plane.AsSpan(inRow * stride, stride);
            var r1 = plane.AsSpan(nb * stride, stride);
            if (rh == 2) JpegColor.FancyH2V2(r0, r1, cw, upper, dst);
            else JpegColor.FancyH1V2(r0, r1, cw, upper, dst);
            return;
        }
        Replicate(plane.AsSpan(inRow * stride, stride), rh, w, dst);
    }

    private static void Replicate(ReadOnlySpan<byte> src, int rh, int w, Span<byte> dst)
    {
        for (int x = 0; x < w; x++) dst[x] = src[x / rh];
    }
}
