using System.Text.Json;
using InpaintSuite.TestSupport;

namespace InpaintSuite.Imaging.Tests.Codecs;

/// <summary>One reference decode produced by scripts/reference_decode.py (Pillow, or OpenCV for 16-bit PNG).</summary>
public sealed record ReferenceDecode(string File, bool Ok, int Width, int Height, int Depth, string Decoder, string? Error, byte[] Rgba);

/// <summary>The sample corpora the codec must agree with, and a driver for the Python reference decoder.</summary>
public static class ReferenceDecodes
{
    public const string SkimageData = "/usr/lib/python3/dist-packages/skimage/data";
    public const string OpencvData = "/usr/share/doc/opencv-doc/examples/data";

    public static string Script => Path.Combine(TestPaths.RepoRoot, "tests", "InpaintSuite.Imaging.Tests", "scripts", "reference_decode.py");

    /// <summary>Every .png/.jpg/.jpeg under the two Debian sample folders, sorted.</summary>
    public static List<string> CorpusFiles()
    {
        var files = new List<string>();
        foreach (var root in new[] { SkimageData, OpencvData })
        {
            if (!Directory.Exists(root)) continue;
            files.AddRange(Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase)));
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    /// <summary>Why the corpus or the reference tools are unavailable (null when all is there).</summary>
    public static string? Missing()
    {
        if (!Directory.Exists(SkimageData)) return $"{SkimageData} missing (apt-get install python3-skimage; .ci/install-deps.sh does)";
        if (!Directory.Exists(OpencvData)) return $"{OpencvData} missing (apt-get install opencv-doc; .ci/install-deps.sh does)";
        return TestPaths.PythonModulesMissing("PIL", "cv2", "numpy");
    }

    public static List<ReferenceDecode> Run(IReadOnlyList<string> files)
    {
        string dir = Path.Combine(Path.GetTempPath(), "inpaintsuite-refdecode-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython, [Script, dir, .. files], TimeSpan.FromMinutes(5));
            if (code != 0) throw new InvalidOperationException($"reference_decode.py failed ({code}): {stderr}");
            var list = new List<ReferenceDecode>();
            foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                int n = r.GetProperty("index").GetInt32();
                bool ok = r.GetProperty("ok").GetBoolean();
                list.Add(new ReferenceDecode(
                    r.GetProperty("file").GetString()!, ok,
                    ok ? r.GetProperty("width").GetInt32() : 0, ok ? r.GetProperty("height").GetInt32() : 0,
                    ok ? r.GetProperty("depth").GetInt32() : 0,
                    r.TryGetProperty("decoder", out var d) ? d.GetString()! : "",
                    r.TryGetProperty("error", out var e) ? e.GetString() : null,
                    ok ? File.ReadAllBytes(Path.Combine(dir, n + ".rgba")) : []));
            }
            if (list.Count != files.Count) throw new InvalidOperationException($"reference_decode.py reported {list.Count} of {files.Count} files: {stderr}");
            return list;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Compares a decode with its reference. Exact (PNG) or tolerant (JPEG: at most 0.1% of values more than 2
    /// levels off). Returns null when they agree, else a description.
    /// </summary>
    public static string? Compare(RgbaImage ours, ReferenceDecode reference, bool exact, out double fractionOff, out int maxDiff)
    {
        fractionOff = 0; maxDiff = 0;
        if (ours.Width != reference.Width || ours.Height != reference.Height)
            return $"size {ours.Width}x{ours.Height}, reference {reference.Width}x{reference.Height}";
        int depth = ours.Depth == PixelDepth.U16 ? 16 : 8;
        if (depth != reference.Depth) return $"depth {depth}, reference {reference.Depth}";
        if (ours.Data.Length != reference.Rgba.Length) return $"{ours.Data.Length} bytes, reference {reference.Rgba.Length}";
        if (exact)
        {
            if (ours.Data.AsSpan().SequenceEqual(reference.Rgba)) return null;
            int i = ours.Data.AsSpan().CommonPrefixLength(reference.Rgba);
            int bpp = 4 * (depth / 8);
            return $"first difference at pixel ({i / bpp % ours.Width},{i / bpp / ours.Width}) channel {i % bpp / (depth / 8)}";
        }
        long off = 0;
        var a = ours.Data; var b = reference.Rgba;
        for (int i = 0; i < a.Length; i++)
        {
            int dd = Math.Abs(a[i] - b[i]);
            if (dd > maxDiff) maxDiff = dd;
            if (dd > 2) off++;
        }
        fractionOff = (double)off / a.Length;
        return fractionOff <= 0.001 ? null : $"{fractionOff:P3} of values differ by more than 2 (max {maxDiff})";
    }
}
