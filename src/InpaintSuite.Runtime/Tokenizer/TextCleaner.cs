using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace InpaintSuite.Runtime.Tokenizer;

/// <summary>
/// The CLIP prompt clean-up: the parts of <c>ftfy.fix_text</c> that change prompts (HTML entities unless the text
/// contains '&lt;', UTF-8-read-as-Windows-1252 mojibake, C1 controls, Latin ligatures, full-width characters, curly
/// quotes, line breaks, control characters, NFC — repeated until nothing changes, like ftfy), then openai/CLIP's
/// <c>html.unescape</c> twice, whitespace folding (Python's <c>\s</c>) and lower case.
/// </summary>
public static partial class TextCleaner
{
    private static readonly Dictionary<int, string> Width = BuildWidth();

    private static readonly Dictionary<char, string> Ligatures = new()
    {
        ['Ĳ'] = "IJ", ['ĳ'] = "ij", ['ŉ'] = "ʼn", ['Ǳ'] = "DZ", ['ǲ'] = "Dz", ['ǳ'] = "dz", ['Ǆ'] = "DŽ", ['ǅ'] = "Dž", ['ǆ'] = "dž",
        ['Ǉ'] = "LJ", ['ǈ'] = "Lj", ['ǉ'] = "lj", ['Ǌ'] = "NJ", ['ǋ'] = "Nj", ['ǌ'] = "nj",
        ['ﬀ'] = "ff", ['ﬁ'] = "fi", ['ﬂ'] = "fl", ['ﬃ'] = "ffi", ['ﬄ'] = "ffl", ['ﬅ'] = "ſt", ['ﬆ'] = "st",
    };

    // Windows-1252 bytes 0x80..0x9F (undefined ones map to the C1 control of the same value, "sloppy" like ftfy)
    private static readonly char[] Cp1252High =
    [
        '\u20AC', '\u0081', '\u201A', '\u0192', '\u201E', '\u2026', '\u2020', '\u2021', '\u02C6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008D', '\u017D', '\u008F',
        '\u0090', '\u2018', '\u2019', '\u201C', '\u201D', '\u2022', '\u2013', '\u2014', '\u02DC', '\u2122', '\u0161', '\u203A', '\u0153', '\u009D', '\u017E', '\u0178',
    ];

    private static readonly Dictionary<char, byte> Cp1252Reverse = BuildCp1252Reverse();

    /// <summary>Everything openai/CLIP's SimpleTokenizer does before the pre-token regex.</summary>
    public static string Clean(string text)
    {
        string t = FixText(text);
        t = WebUtility.HtmlDecode(WebUtility.HtmlDecode(t));
        t = StripPy(t);
        return LowerPy(FoldWhitespace(t));
    }

    /// <summary>The ftfy.fix_text subset (default configuration), iterated to a fixed point.</summary>
    public static string FixText(string text)
    {
        bool unescape = !text.Contains('<');
        for (int round = 0; round < 16; round++)
        {
            string orig = text;
            if (unescape) text = UnescapeEntities(text);
            text = FixMojibake(text);
            text = FixC1Controls(text);
            text = FixLigaturesWidthQuotesBreaks(text);
            text = TerminalEscape().Replace(text, "");
            text = RemoveControlChars(text);
            text = UnicodeNormalizer.Nfc(text);
            if (text == orig) break;
        }
        return text;
    }

    /// <summary>ftfy.unescape_html: entities like &amp;amp; / &amp;#39; (with the semicolon) are decoded one level.</summary>
    private static string UnescapeEntities(string text)
    {
        if (!text.Contains('&')) return text;
        return HtmlEntity().Replace(text, m =>
        {
            string d = WebUtility.HtmlDecode(m.Value);
            return d.Contains(';') && d == m.Value ? m.Value : d;
        });
    }

    /// <summary>
    /// UTF-8 read as Windows-1252/Latin-1 ("cafÃ©" → "café", "â€™" → "’"): runs of single-byte-encodable characters are
    /// re-encoded and every valid multi-byte UTF-8 sequence inside is decoded, when the result is plausible text
    /// (2-byte sequences only to Latin/Greek/Cyrillic letters and symbols U+00A0..U+052F, so "Straß…" stays intact).
    /// </summary>
    internal static string FixMojibake(string text)
    {
        bool candidate = false;
        foreach (char c in text) if (c is >= '\u00C2' and <= '\u00F4') { candidate = true; break; }
        if (!candidate) return text;
        var sb = new StringBuilder(text.Length);
        Span<byte> bytes = stackalloc byte[4];
        int i = 0;
        while (i < text.Length)
        {
            if (TryByte(text[i], out byte lead) && lead is >= 0xC2 and <= 0xF4)
            {
                int need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
                if (i + need < text.Length)
                {
                    bytes[0] = lead;
                    bool ok = true;
                    for (int k = 1; k <= need; k++)
                    {
                        if (i + k >= text.Length || !TryByte(text[i + k], out byte b) || b is < 0x80 or > 0xBF) { ok = false; break; }
                        bytes[k] = b;
                    }
                    if (ok && Rune.DecodeFromUtf8(bytes[..(need + 1)], out var rune, out int consumed) == System.Buffers.OperationStatus.Done && consumed == need + 1
                        && (need > 1 || rune.Value is >= 0xA0 and <= 0x52F))
                    {
                        sb.Append(rune.ToString());
                        i += need + 1;
                        continue;
                    }
                }
            }
            sb.Append(text[i]);
            i++;
        }
        return sb.ToString();
    }

    private static bool TryByte(char c, out byte b)
    {
        if (c <= '\u00FF' && c is not (>= '\u0080' and <= '\u009F')) { b = (byte)c; return true; }
        if (c is >= '\u0080' and <= '\u009F') { b = (byte)c; return true; } // sloppy: C1 control = same byte
        return Cp1252Reverse.TryGetValue(c, out b);
    }

    /// <summary>ftfy.fix_c1_controls: C1 control characters decoded as Windows-1252.</summary>
    private static string FixC1Controls(string text)
    {
        bool any = false;
        foreach (char c in text) if (c is >= '\u0080' and <= '\u009F') { any = true; break; }
        if (!any) return text;
        var a = text.ToCharArray();
        for (int i = 0; i < a.Length; i++) if (a[i] is >= '\u0080' and <= '\u009F') a[i] = Cp1252High[a[i] - 0x80];
        return new string(a);
    }

    private static string FixLigaturesWidthQuotesBreaks(string text)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            string? rep = null;
            if (Ligatures.TryGetValue(c, out var lig)) rep = lig;
            else if ((c == '\u3000' || c is >= '\uFF01' and <= '\uFFEF') && Width.TryGetValue(c, out var w)) rep = w;
            else if (c is '\u02BC' or (>= '\u2018' and <= '\u201B')) rep = "'";
            else if (c is >= '\u201C' and <= '\u201F') rep = "\"";
            else if (c == '\r') rep = i + 1 < text.Length && text[i + 1] == '\n' ? "" : "\n";
            else if (c is '\u2028' or '\u2029' or '\u0085') rep = "\n";
            else if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) && !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1]))) rep = "\uFFFD";
            if (rep is null) { sb?.Append(c); continue; }
            sb ??= new StringBuilder(text, 0, i, text.Length + 8);
            sb.Append(rep);
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>ftfy.remove_control_chars: C0 controls except tab/LF/FF/CR, DEL, deprecated format chars, BOM, interlinear annotations, musical format chars, tags.</summary>
    private static string RemoveControlChars(string text)
    {
        StringBuilder? sb = null;
        int i = 0;
        foreach (var r in text.EnumerateRunes())
        {
            int v = r.Value;
            bool drop = v is (>= 0 and <= 8) or 0x0B or (>= 0x0E and <= 0x1F) or 0x7F or (>= 0x206A and <= 0x206F) or 0xFEFF
                or (>= 0xFFF9 and <= 0xFFFC) or (>= 0x1D173 and <= 0x1D17A) or (>= 0xE0000 and <= 0xE007F);
            if (drop) sb ??= new StringBuilder(text, 0, i, text.Length);
            else sb?.Append(r.ToString());
            i += r.Utf16SequenceLength;
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>Python str.isspace / re's \s for str patterns.</summary>
    public static bool IsPySpace(int c) => c is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private static string StripPy(string s)
    {
        int a = 0, b = s.Length;
        while (a < b && IsPySpace(s[a])) a++;
        while (b > a && IsPySpace(s[b - 1])) b--;
        return s[a..b];
    }

    /// <summary>re.sub(r"\s+", " ", text).strip().</summary>
    public static string FoldWhitespace(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool pending = false;
        foreach (char c in s)
        {
            if (IsPySpace(c)) { pending = sb.Length > 0; continue; }
            if (pending) { sb.Append(' '); pending = false; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Python str.lower() for prompt text (İ → i̇ as Python does; otherwise Unicode simple lowercase).</summary>
    public static string LowerPy(string s)
    {
        string lower = s.ToLowerInvariant();
        return lower.Contains('\u0130') ? lower.Replace("\u0130", "i\u0307") : lower;
    }

    private static Dictionary<int, string> BuildWidth()
    {
        var t = UnicodeTables.WidthMap;
        var d = new Dictionary<int, string>();
        for (int i = 0; i < t.Length;)
        {
            int cp = t[i], n = t[i + 1];
            var sb = new StringBuilder();
            for (int k = 0; k < n; k++) sb.Append(char.ConvertFromUtf32(t[i + 2 + k]));
            d[cp] = sb.ToString();
            i += 2 + n;
        }
        return d;
    }

    private static Dictionary<char, byte> BuildCp1252Reverse()
    {
        var d = new Dictionary<char, byte>();
        for (int i = 0; i < 32; i++) if (Cp1252High[i] > '\u00FF') d[Cp1252High[i]] = (byte)(0x80 + i);
        return d;
    }

    [GeneratedRegex("&#?[0-9A-Za-z]{1,24};")]
    private static partial Regex HtmlEntity();

    [GeneratedRegex(@"\x1b\[((?:\d|;)*)([a-zA-Z])")]
    private static partial Regex TerminalEscape();
}
