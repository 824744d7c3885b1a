using System.Text;

namespace InpaintSuite.Runtime.Tokenizer;

/// <summary>
/// Unicode NFC without ICU (the daemon runs with InvariantGlobalization, where string.Normalize cannot normalise
/// non-ASCII text): canonical decomposition, canonical ordering of combining marks, canonical composition, from tables
/// generated out of Python's unicodedata (the data the reference tokenizer used), with Hangul done algorithmically.
/// </summary>
public static class UnicodeNormalizer
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    private const int NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, int[]> Decomp = BuildDecomp();
    private static readonly Dictionary<long, int> Compose = BuildCompose();
    private static readonly (int First, int Last, int Class)[] Classes = BuildClasses();

    public static string Version => UnicodeTables.UnicodeVersion;

    public static string Nfc(string s)
    {
        if (IsAsciiOrQuickNfc(s)) return s;
        var cps = new List<int>(s.Length);
        foreach (var r in s.EnumerateRunes()) Decompose(r.Value, cps);
        // canonical ordering: stable sort of each run of non-starters by combining class
        for (int i = 1; i < cps.Count; i++)
        {
            int c = CombiningClass(cps[i]);
            if (c == 0) continue;
            int j = i;
            while (j > 0 && CombiningClass(cps[j - 1]) > c)
            {
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
        // canonical composition (UAX #15): a mark composes with the last starter unless blocked by an
        // intervening character of class 0 or of a class >= its own
        var result = new List<int>(cps.Count);
        int starter = -1, lastClass = 0;
        foreach (int cp in cps)
        {
            int cls = CombiningClass(cp);
            if (starter >= 0)
            {
                bool adjacent = result.Count - 1 == starter;
                bool unblocked = adjacent || (lastClass != 0 && lastClass < cls);
                if (unblocked && TryCompose(result[starter], cp, out int composite))
                {
                    result[starter] = composite;
                    continue;
                }
            }
            if (cls == 0) starter = result.Count;
            lastClass = cls;
            result.Add(cp);
        }
        var sb = new StringBuilder(result.Count);
        foreach (int cp in result) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    private static bool IsAsciiOrQuickNfc(string s)
    {
        foreach (char c in s) if (c >= 0x300) return false;
        // below U+0300 only precomposed Latin-1/Latin Extended letters: already NFC
        return true;
    }

    private static void Decompose(int cp, List<int> into)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            into.Add(LBase + s / NCount);
            into.Add(VBase + (s % NCount) / TCount);
            if (s % TCount != 0) into.Add(TBase + s % TCount);
            return;
        }
        if (Decomp.TryGetValue(cp, out var d)) into.AddRange(d);
        else into.Add(cp);
    }

    private static bool TryCompose(int a, int b, out int composite)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return Compose.TryGetValue(((long)a << 32) | (uint)b, out composite);
    }

    public static int CombiningClass(int cp)
    {
        if (cp < 0x300) return 0;
        int lo = 0, hi = Classes.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var r = Classes[mid];
            if (cp < r.First) hi = mid - 1;
            else if (cp > r.Last) lo = mid + 1;
            else return r.Class;
        }
        return 0;
    }

    private static Dictionary<int, int[]> BuildDecomp()
    {
        var t = UnicodeTables.Decompositions;
        var d = new Dictionary<int, int[]>(2100);
        for (int i = 0; i < t.Length;)
        {
            int cp = t[i], n = t[i + 1];
            d[cp] = t.Slice(i + 2, n).ToArray();
            i += 2 + n;
        }
        return d;
    }

    private static Dictionary<long, int> BuildCompose()
    {
        var t = UnicodeTables.Compositions;
        var d = new Dictionary<long, int>(t.Length / 3);
        for (int i = 0; i < t.Length; i += 3) d[((long)t[i] << 32) | (uint)t[i + 1]] = t[i + 2];
        return d;
    }

    private static (int, int, int)[] BuildClasses()
    {
        var t = UnicodeTables.CombiningClassRanges;
        var r = new (int, int, int)[t.Length / 3];
        for (int i = 0; i < r.Length; i++) r[i] = (t[3 * i], t[3 * i + 1], t[3 * i + 2]);
        return r;
    }
}
