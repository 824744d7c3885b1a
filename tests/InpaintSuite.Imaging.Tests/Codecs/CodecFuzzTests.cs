using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Imaging.Tests.Codecs;

/// <summary>
/// Must-show fuzzing: mutated PNG, JPEG and WebP inputs (bit flips, byte stores, truncation, huge declared sizes,
/// bad and re-fixed CRCs / RIFF sizes, zip bombs, segment splicing) each end in <see cref="InvalidDataException"/>
/// with a one-line message, or a valid image; none crashes, none takes over 1 s, none allocates (managed) beyond
/// the configured pixel limit. JPEG and WebP go through SkiaSharp, PNG through the project's decoder.
/// Count: INPAINTSUITE_FUZZ_COUNT (default 20,000); seed: INPAINTSUITE_FUZZ_SEED.
/// </summary>
public sealed class CodecFuzzTests(ITestOutputHelper output)
{
    private const long MaxPixels = 1 << 20;

    /// <summary>Managed bytes a decode may allocate: PNG rows and output, or Skia output + EXIF rotation (8 per pixel), plus input copies.</summary>
    private static long AllocationBound(int inputLength) => 24 * MaxPixels + 4L * inputLength + (2 << 20);

    internal enum Kind { Png, Jpeg, Webp }

    private sealed record Seed(string Name, byte[] Bytes, Kind Kind)
    {
        public bool IsPng => Kind == Kind.Png;
    }

    private static List<Seed> Seeds(string dir)
    {
        var seeds = new List<Seed>();
        var files = SampleVariantsTests.MakeSamples(dir);
        string skiaDir = Path.Combine(dir, "skia");
        SkiaCodecTests.MakeSamples(skiaDir);
        // WebP seeds: Pillow's small rotated file, and crops of its photo with and without alpha re-encoded lossy and
        // lossless at 80x52 (decode time per input stays well under a millisecond, so 20,000 inputs take seconds)
        seeds.Add(new Seed("s_orient6.webp", File.ReadAllBytes(Path.Combine(skiaDir, "s_orient6.webp")), Kind.Webp));
        foreach (var w in new[] { "s_lossy.webp", "s_lossless_alpha.webp" })
        {
            var crop = ImageCodec.Decode(File.ReadAllBytes(Path.Combine(skiaDir, w))).Crop(60, 40, 80, 52);
            seeds.Add(new Seed(w + "-crop-lossy", ImageCodec.Encode(crop, ImageFormat.Webp, new ImageEncodeOptions { Quality = 75 }), Kind.Webp));
            seeds.Add(new Seed(w + "-crop-lossless", ImageCodec.Encode(crop, ImageFormat.Webp, new ImageEncodeOptions { Lossless = true }), Kind.Webp));
        }
        seeds.Add(new Seed("s_cmyk_prog.jpg", File.ReadAllBytes(Path.Combine(skiaDir, "s_cmyk_prog.jpg")), Kind.Jpeg));
        string[] jpegs = ["j_444.jpg", "j_420.jpg", "j_422.jpg", "j_grey.jpg", "j_orient6.jpg", "j_420_prog.jpg", "j_grey_prog.jpg", "j_rst7.jpg", "j_prog_rst3.jpg"];
        foreach (var j in jpegs) seeds.Add(new Seed(j, File.ReadAllBytes(Path.Combine(dir, j)), Kind.Jpeg));
        string[] pngs = ["p_pal8_trns.png", "p_pal2.png", "p_grey16.png", "p_la8.png", "p_rgb8_trns.png", "p_bw1.png"];
        foreach (var p in pngs) seeds.Add(new Seed(p, File.ReadAllBytes(Path.Combine(dir, p)), Kind.Png));
        foreach (var f in files.Where(f => Path.GetFileName(f).StartsWith("t_") && f.Contains("13x7")))
            seeds.Add(new Seed(Path.GetFileName(f), File.ReadAllBytes(f), Kind.Png));
        var img = PngRoundTripTests.Synthetic(64, 48, PixelDepth.U8, 1);
        seeds.Add(new Seed("ours_rgba8.png", ImageCodec.EncodePng(img), Kind.Png));
        seeds.Add(new Seed("ours_rgba16.png", ImageCodec.EncodePng(PngRoundTripTests.Synthetic(40, 30, PixelDepth.U16, 2)), Kind.Png));
        seeds.Add(new Seed("zipbomb.png", ZipBomb(1000, 1000), Kind.Png));
        seeds.Add(new Seed("ours.webp", ImageCodec.Encode(img, ImageFormat.Webp), Kind.Webp));
        seeds.Add(new Seed("ours.jpg", ImageCodec.Encode(img, ImageFormat.Jpeg), Kind.Jpeg));
        return seeds;
    }

    /// <summary>A PNG declaring width x height RGBA8 whose IDAT inflates to 64 MiB of zeros (far more than the rows need).</summary>
    private static byte[] ZipBomb(int w, int h)
    {
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.SmallestSize, true))
        {
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) zs.Write(zeros);
        }
        var o = new MemoryStream();
        o.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)h);
        ihdr[8] = 8; ihdr[9] = 6;
        PngTestWriter.Chunk(o, "IHDR", ihdr);
        PngTestWriter.Chunk(o, "IDAT", z.ToArray());
        PngTestWriter.Chunk(o, "IEND", []);
        return o.ToArray();
    }

    /// <summary>Recomputes every chunk CRC so mutations reach the parser and inflater instead of stopping at the CRC.</summary>
    private static void FixPngCrcs(byte[] d)
    {
        int pos = 8;
        while (pos + 12 <= d.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos));
            if (len > (uint)(d.Length - pos - 12)) return;
            uint crc = Crc32.Compute(d.AsSpan(pos + 4, 4 + (int)len));
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(pos + 8 + (int)len), crc);
            pos += 12 + (int)len;
        }
    }

    /// <summary>Rewrites the RIFF size so insertions and deletions reach libwebp instead of the truncation check.</summary>
    private static void FixRiffSize(byte[] d)
    {
        if (d.Length >= 12) BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(4), (uint)(d.Length - 8));
    }

    /// <summary>Declares a WebP size: the VP8X canvas (24-bit fields) or the VP8L bitstream header (14-bit fields).</summary>
    private static void DeclareWebpSize(byte[] d, int w, int h)
    {
        if (d.Length < 30) return;
        string fourcc = System.Text.Encoding.ASCII.GetString(d, 12, 4);
        if (fourcc == "VP8X")
        {
            uint cw = (uint)(w - 1) & 0xFFFFFF, ch = (uint)(h - 1) & 0xFFFFFF;
            d[24] = (byte)cw; d[25] = (byte)(cw >> 8); d[26] = (byte)(cw >> 16);
            d[27] = (byte)ch; d[28] = (byte)(ch >> 8); d[29] = (byte)(ch >> 16);
        }
        else if (fourcc == "VP8L")
        {
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(21));
            bits = (bits & 0xF0000000u) | ((uint)(w - 1) & 0x3FFF) | (((uint)(h - 1) & 0x3FFF) << 14);
            BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(21), bits);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(26), (ushort)(w & 0x3FFF));
            BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(28), (ushort)(h & 0x3FFF));
        }
    }

    private static int JpegSofOffset(byte[] d)
    {
        for (int i = 2; i + 9 < d.Length; i++)
            if (d[i] == 0xFF && (d[i + 1] == 0xC0 || d[i + 1] == 0xC1 || d[i + 1] == 0xC2)) return i;
        return -1;
    }

    private static int JpegScanStart(byte[] d)
    {
        for (int i = 2; i + 4 < d.Length; i++)
            if (d[i] == 0xFF && d[i + 1] == 0xDA) return i + 2 + ((d[i + 2] << 8) | d[i + 3]);
        return d.Length / 2;
    }

    private static readonly int[] HugeSizes = [0, 1, 2, 4097, 65535, 1 << 16, 1 << 20, 100_000, int.MaxValue, -1];

    internal static byte[] Mutate(byte[] src, Kind kind, Random rng, out string how)
    {
        bool isPng = kind == Kind.Png, isWebp = kind == Kind.Webp;
        var d = Mutate(src, isPng, isWebp, rng, out how);
        // Half of the WebP mutations get a consistent RIFF size, so they reach the decoder proper.
        if (isWebp && rng.Next(2) == 0) { FixRiffSize(d); how += ", RIFF size fixed"; }
        return d;
    }

    private static byte[] Mutate(byte[] src, bool isPng, bool isWebp, Random rng, out string how)
    {
        var d = (byte[])src.Clone();
        int kind = rng.Next(9);
        switch (kind)
        {
            case 0:
                {
                    int n = 1 + rng.Next(8);
                    for (int i = 0; i < n; i++) d[rng.Next(d.Length)] ^= (byte)(1 << rng.Next(8));
                    how = $"flip {n} bits";
                    return d;
                }
            case 1:
                {
                    int n = 1 + rng.Next(4);
                    for (int i = 0; i < n; i++) d[rng.Next(d.Length)] = (byte)rng.Next(256);
                    if (isPng) FixPngCrcs(d);
                    how = $"store {n} bytes" + (isPng ? ", CRCs fixed" : "");
                    return d;
                }
            case 2:
                {
                    int len = rng.Next(d.Length);
                    how = $"truncate to {len}";
                    return d.AsSpan(0, len).ToArray();
                }
            case 3:
                {
                    int w = HugeSizes[rng.Next(HugeSizes.Length)], h = HugeSizes[rng.Next(HugeSizes.Length)];
                    how = $"declare {w}x{h}";
                    if (isWebp) DeclareWebpSize(d, w, h);
                    else if (isPng)
                    {
                        BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(16), w);
                        BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(20), h);
                        FixPngCrcs(d);
                    }
                    else
                    {
                        int sof = JpegSofOffset(d);
                        if (sof > 0) { BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(sof + 5), (ushort)h); BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(sof + 7), (ushort)w); }
                    }
                    return d;
                }
            case 4:
                {
                    // Deep mutation: data past the headers (IDAT / entropy-coded segment), CRCs fixed for PNG.
                    int start = isPng ? Math.Min(d.Length - 1, 33) : isWebp ? Math.Min(d.Length - 1, 40) : Math.Min(d.Length - 1, JpegScanStart(d));
                    int n = 1 + rng.Next(6);
                    for (int i = 0; i < n; i++) d[start + rng.Next(d.Length - start)] ^= (byte)(1 << rng.Next(8));
                    if (isPng) FixPngCrcs(d);
                    how = $"flip {n} bits in image data" + (isPng ? ", CRCs fixed" : "");
                    return d;
                }
            case 5:
                {
                    int a = rng.Next(d.Length), len = rng.Next(Math.Min(64, d.Length - a) + 1), at = rng.Next(d.Length);
                    var list = d.ToList();
                    list.InsertRange(at, d.AsSpan(a, len).ToArray());
                    how = $"splice {len} bytes from {a} at {at}";
                    return list.ToArray();
                }
            case 6:
                {
                    int a = rng.Next(d.Length), len = Math.Min(d.Length - a, 1 + rng.Next(32));
                    var list = d.ToList();
                    list.RemoveRange(a, len);
                    var r = list.ToArray();
                    if (isPng) FixPngCrcs(r);
                    how = $"delete {len} bytes at {a}";
                    return r;
                }
            case 7:
                {
                    // Header fields: lengths, sampling factors, table ids, colour type and depth.
                    int limit = isPng ? Math.Min(d.Length, 80) : isWebp ? Math.Min(d.Length, 64) : Math.Min(d.Length, JpegScanStart(d));
                    int n = 1 + rng.Next(3);
                    for (int i = 0; i < n; i++) d[rng.Next(Math.Max(1, limit))] = (byte)(rng.Next(2) == 0 ? rng.Next(256) : rng.Next(17));
                    if (isPng) FixPngCrcs(d);
                    how = $"set {n} header bytes";
                    return d;
                }
            default:
                {
                    // Stray markers / chunk length fields.
                    int at = rng.Next(d.Length - 1);
                    if (isPng || isWebp) { BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(Math.Min(at, d.Length - 4)), rng.Next()); }
                    else { d[at] = 0xFF; d[at + 1] = (byte)(0xC0 + rng.Next(64)); }
                    how = $"stray marker/length at {at}";
                    return d;
                }
        }
    }

    [Fact]
    public void MutatedInputsFailCleanlyOrDecode()
    {
        string? missing = TestPaths.PythonModulesMissing("PIL", "cv2", "numpy", "skimage");
        Assert.True(missing == null, "fuzz seeds need: " + missing);
        int count = int.TryParse(Environment.GetEnvironmentVariable("INPAINTSUITE_FUZZ_COUNT"), out int c) && c > 0 ? c : 20_000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("INPAINTSUITE_FUZZ_SEED"), out int s) ? s : 20261122;
        string dir = Path.Combine(Path.GetTempPath(), "inpaintsuite-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        List<Seed> seeds;
        try { seeds = Seeds(dir); }
        finally { Directory.Delete(dir, true); }

        var options = new DecodeOptions { MaxPixels = MaxPixels };
        foreach (var sd in seeds) ImageCodec.Decode(sd.Bytes, options); // seeds are valid; also warms the JIT

        var pools = new[] { Kind.Png, Kind.Jpeg, Kind.Webp }.Select(k => seeds.Where(x => x.Kind == k).ToArray()).ToArray();
        var failures = new List<string>();
        int decoded = 0, refused = 0, tooLarge = 0;
        var perKind = new int[3];
        var msPerKind = new double[3];
        double slowest = 0;
        var total = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            var rng = new Random(HashCode.Combine(seed, i));
            // A third each of PNG, JPEG and WebP, whatever the seed counts.
            var pool = pools[rng.Next(3)];
            var sd = pool[rng.Next(pool.Length)];
            perKind[(int)sd.Kind]++;
            byte[] input = Mutate(sd.Bytes, sd.Kind, rng, out string how);
            string id = $"case {i} ({sd.Name}, {how})";
            var (outcome, ms, allocated, error) = RunOne(input, options);
            if (ms > 1000) (outcome, ms, allocated, error) = RunOne(input, options); // a loaded machine can stall once; a hang repeats
            slowest = Math.Max(slowest, ms);
            msPerKind[(int)sd.Kind] += ms;
            switch (outcome)
            {
                case 0: decoded++; break;
                case 1: refused++; break;
                case 2: tooLarge++; break;
                default: failures.Add($"{id}: crashed with {error}"); break;
            }
            if (ms > 1000) failures.Add($"{id}: took {ms:F0} ms");
            if (allocated > AllocationBound(input.Length)) failures.Add($"{id}: allocated {allocated:N0} bytes (bound {AllocationBound(input.Length):N0})");
            if (failures.Count > 20) break;
        }
        output.WriteLine($"{count} mutated inputs ({perKind[0]} PNG, {perKind[1]} JPEG, {perKind[2]} WebP; decode time {msPerKind[0] / 1000:F1} / {msPerKind[1] / 1000:F1} / {msPerKind[2] / 1000:F1} s) from {seeds.Count} seeds in {total.Elapsed.TotalSeconds:F1} s: " +
                         $"{decoded} decoded, {refused} InvalidDataException, {tooLarge} over the pixel limit ({MaxPixels}); slowest {slowest:F0} ms; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(decoded > 0 && refused > 0 && tooLarge > 0, "the mutations should produce all three outcomes");
    }

    /// <summary>0 decoded, 1 InvalidDataException, 2 over the limit, 3 any other exception.</summary>
    private static (int Outcome, double Ms, long Allocated, string? Error) RunOne(byte[] input, DecodeOptions options)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        int outcome;
        string? error = null;
        try
        {
            var img = ImageCodec.Decode(input, options);
            outcome = (long)img.Width * img.Height <= options.MaxPixels ? 0 : 3;
            if (outcome == 3) error = $"returned {img.Width}x{img.Height}, over the limit";
        }
        catch (InvalidDataException e)
        {
            outcome = ImageCodec.IsTooLarge(e) ? 2 : 1;
            // a clear error: one non-empty line
            if (string.IsNullOrWhiteSpace(e.Message) || e.Message.Contains('\n')) { outcome = 3; error = "unclear message: " + e.Message; }
        }
        catch (Exception e) { outcome = 3; error = e.GetType().Name + ": " + e.Message + " " + e.StackTrace?.Split('\n').FirstOrDefault(); }
        double ms = sw.Elapsed.TotalMilliseconds;
        return (outcome, ms, GC.GetAllocatedBytesForCurrentThread() - before, error);
    }
}
