using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace InpaintSuite.Runtime.Tokenizer;

/// <summary>
/// openai/CLIP's byte-level BPE tokenizer (SimpleTokenizer) from a Hugging Face <c>vocab.json</c> + <c>merges.txt</c>:
/// <see cref="TextCleaner.Clean"/>, CLIP's pre-token pattern, bytes → printable characters, BPE by merge rank (with a
/// cache), ids; plus the 77-token framing (SOT + first 75 ids + EOT, padded) diffusers' SD pipelines feed the text encoder.
/// Thread-safe.
/// </summary>
public sealed class ClipTokenizer
{
    public const int DefaultContextLength = 77;
    private const string EndOfWord = "</w>";
    private const int CacheLimit = 50_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly int[] _byteId = new int[256];     // id of the byte's character
    private readonly int[] _byteIdEow = new int[256];  // id of the byte's character + </w>
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private ClipTokenizer(Dictionary<string, int> vocab, IReadOnlyList<(string A, string B)> merges, int? padId)
    {
        _vocab = vocab;
        _idToToken = new string[vocab.Values.Max() + 1];
        foreach (var kv in vocab) _idToToken[kv.Value] = kv.Key;
        var b2u = BytesToUnicode();
        for (int b = 0; b < 256; b++)
        {
            string ch = b2u[b].ToString();
            _byteId[b] = vocab.TryGetValue(ch, out int id) ? id : throw new FormatException($"vocab.json lacks the byte symbol '{ch}'");
            _byteIdEow[b] = vocab.TryGetValue(ch + EndOfWord, out id) ? id : throw new FormatException($"vocab.json lacks '{ch}{EndOfWord}'");
        }
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            if (!vocab.TryGetValue(a, out int ia) || !vocab.TryGetValue(b, out int ib) || !vocab.TryGetValue(a + b, out int merged)) continue;
            _merges.TryAdd(((long)ia << 32) | (uint)ib, (rank, merged));
        }
        StartId = Id("<|startoftext|>");
        EndId = Id("<|endoftext|>");
        PadId = padId ?? EndId;
        CommaId = vocab.TryGetValue("," + EndOfWord, out int comma) ? comma : -1;
    }

    /// <summary>&lt;|startoftext|&gt; (49406 for CLIP).</summary>
    public int StartId { get; }

    /// <summary>&lt;|endoftext|&gt; (49407 for CLIP).</summary>
    public int EndId { get; }

    /// <summary>Padding id of the 77-token row: EOT for SD 1.x tokenizers, 0 ('!') for SD 2.x (tokenizer config's pad_token).</summary>
    public int PadId { get; }

    /// <summary>Id of ",&lt;/w&gt;" (A1111 chunking breaks after commas).</summary>
    public int CommaId { get; }

    public int VocabularySize => _vocab.Count;

    /// <summary>Whether BPE results per pre-token are cached (on by default; benchmarks compare both).</summary>
    internal bool UseCache { get; set; } = true;

    /// <summary>Loads <c>vocab.json</c>, <c>merges.txt</c> and the pad token (tokenizer_config.json / special_tokens_map.json) from a model's tokenizer folder.</summary>
    public static ClipTokenizer FromDirectory(string directory)
    {
        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        if (!File.Exists(vocab)) throw new FileNotFoundException("tokenizer vocab.json not found", vocab);
        if (!File.Exists(merges)) throw new FileNotFoundException("tokenizer merges.txt not found", merges);
        string? pad = ReadPadToken(Path.Combine(directory, "tokenizer_config.json")) ?? ReadPadToken(Path.Combine(directory, "special_tokens_map.json"));
        return FromFiles(vocab, merges, pad);
    }

    /// <summary>Loads from explicit files; <paramref name="padToken"/> null means pad with &lt;|endoftext|&gt;.</summary>
    public static ClipTokenizer FromFiles(string vocabJson, string mergesTxt, string? padToken = null)
    {
        using var vs = File.OpenRead(vocabJson);
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(vs) ?? throw new FormatException("vocab.json is empty");
        var merges = new List<(string, string)>(49000);
        foreach (var line in File.ReadLines(mergesTxt))
        {
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0) continue;
            int sp = line.IndexOf(' ');
            if (sp <= 0) throw new FormatException($"merges.txt: bad line '{line}'");
            merges.Add((line[..sp], line[(sp + 1)..]));
        }
        int? padId = padToken is null ? null : vocab.TryGetValue(padToken, out int p) ? p : throw new FormatException($"pad token '{padToken}' is not in vocab.json");
        return new ClipTokenizer(vocab, merges, padId);
    }

    private static string? ReadPadToken(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (!doc.RootElement.TryGetProperty("pad_token", out var p)) return null;
            return p.ValueKind switch
            {
                JsonValueKind.String => p.GetString(),
                JsonValueKind.Object when p.TryGetProperty("content", out var c) => c.GetString(),
                _ => null,
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public int Id(string token) => _vocab.TryGetValue(token, out int id) ? id : throw new KeyNotFoundException($"token '{token}' is not in the vocabulary");

    public string Token(int id) => (uint)id < (uint)_idToToken.Length && _idToToken[id] is { } t ? t : throw new ArgumentOutOfRangeException(nameof(id));

    /// <summary>SimpleTokenizer.encode: ids without SOT/EOT.</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>(32);
        EncodeInto(text, ids);
        return ids;
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>.</summary>
    public void EncodeInto(string text, List<int> ids)
    {
        string clean = TextCleaner.Clean(text);
        foreach (var pre in PreTokenize(clean)) ids.AddRange(Bpe(pre));
    }

    /// <summary>Number of prompt tokens (without SOT/EOT): the length feedback an editor shows ("23/75").</summary>
    public int CountTokens(string text) => Encode(text).Count;

    /// <summary>
    /// The text encoder's input row: [SOT] + ids + [EOT], truncated to SOT + first (length-2) ids + EOT, padded with
    /// <see cref="PadId"/> (SD1.x: EOT, like diffusers' CLIPTokenizer(padding="max_length", truncation=True)) or
    /// <paramref name="padId"/>.
    /// </summary>
    public int[] EncodeFramed(string text, int contextLength = DefaultContextLength, int? padId = null) =>
        Frame(Encode(text), contextLength, padId ?? PadId);

    public int[] Frame(IReadOnlyList<int> ids, int contextLength = DefaultContextLength, int? padId = null)
    {
        if (contextLength < 2) throw new ArgumentOutOfRangeException(nameof(contextLength));
        var row = new int[contextLength];
        Array.Fill(row, padId ?? PadId);
        row[0] = StartId;
        int n = Math.Min(ids.Count, contextLength - 2);
        for (int i = 0; i < n; i++) row[1 + i] = ids[i];
        row[1 + n] = EndId;
        return row;
    }

    /// <summary>BPE symbols (with &lt;/w&gt;) of the cleaned text, for diagnostics.</summary>
    public List<string> Tokens(string text) => Encode(text).Select(Token).ToList();

    /// <summary>
    /// CLIP's pattern <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
    /// (IGNORECASE) as a hand-written scanner over code points, so letters outside the BMP count as letters.
    /// </summary>
    public static List<string> PreTokenize(string text)
    {
        var result = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            if (text[i] == '<')
            {
                if (MatchAt(text, i, "<|startoftext|>")) { result.Add(text.Substring(i, 15)); i += 15; continue; }
                if (MatchAt(text, i, "<|endoftext|>")) { result.Add(text.Substring(i, 13)); i += 13; continue; }
            }
            if (text[i] == '\'' && i + 1 < text.Length)
            {
                int len = 0;
                foreach (var c in (ReadOnlySpan<string>)["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"])
                    if (MatchAt(text, i, c)) { len = c.Length; break; }
                if (len > 0) { result.Add(text.Substring(i, len)); i += len; continue; }
            }
            var kind = Classify(text, i, out int width);
            if (kind == CharKind.Space) { i += width; continue; }
            if (kind == CharKind.Number) { result.Add(text.Substring(i, width)); i += width; continue; }
            int start = i;
            i += width;
            while (i < text.Length && Classify(text, i, out int w) == kind) i += w;
            result.Add(text[start..i]);
        }
        return result;
    }

    private static bool MatchAt(string text, int i, string token) =>
        i + token.Length <= text.Length && string.Compare(text, i, token, 0, token.Length, StringComparison.OrdinalIgnoreCase) == 0;

    private enum CharKind { Letter, Number, Space, Other }

    private static CharKind Classify(string text, int i, out int width)
    {
        if (Rune.DecodeFromUtf16(text.AsSpan(i), out var r, out width) != System.Buffers.OperationStatus.Done)
        {
            width = 1;
            return CharKind.Other;
        }
        if (TextCleaner.IsPySpace(r.Value) && r.Value is not (>= 0x1C and <= 0x1F)) return CharKind.Space;
        switch (Rune.GetUnicodeCategory(r))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return CharKind.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return CharKind.Number;
            default:
                return CharKind.Other;
        }
    }

    /// <summary>Byte-level BPE of one pre-token: UTF-8 bytes → symbols (last with &lt;/w&gt;) → lowest-rank merges first.</summary>
    private int[] Bpe(string pretoken)
    {
        if (UseCache && _cache.TryGetValue(pretoken, out var cached)) return cached;
        // typed special tokens map to themselves (SimpleTokenizer's cache is seeded with them)
        if (pretoken == "<|startoftext|>") return [StartId];
        if (pretoken == "<|endoftext|>") return [EndId];
        int byteCount = Encoding.UTF8.GetByteCount(pretoken);
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(pretoken, bytes);
        var word = new List<int>(byteCount);
        for (int k = 0; k < byteCount; k++) word.Add(k == byteCount - 1 ? _byteIdEow[bytes[k]] : _byteId[bytes[k]]);
        while (word.Count > 1)
        {
            int bestRank = int.MaxValue, bestMerged = -1;
            long bestPair = 0;
            for (int k = 0; k + 1 < word.Count; k++)
            {
                long key = ((long)word[k] << 32) | (uint)word[k + 1];
                if (_merges.TryGetValue(key, out var m) && m.Rank < bestRank) { bestRank = m.Rank; bestMerged = m.Merged; bestPair = key; }
            }
            if (bestMerged < 0) break;
            int first = (int)(bestPair >> 32), second = (int)(uint)bestPair;
            // merge every occurrence, left to right (SimpleTokenizer.bpe)
            int w = 0;
            for (int k = 0; k < word.Count; k++)
            {
                if (k + 1 < word.Count && word[k] == first && word[k + 1] == second) { word[w++] = bestMerged; k++; }
                else word[w++] = word[k];
            }
            word.RemoveRange(w, word.Count - w);
        }
        var ids = word.ToArray();
        if (UseCache && _cache.Count < CacheLimit) _cache.TryAdd(pretoken, ids);
        return ids;
    }

    /// <summary>GPT-2/CLIP bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100 + n.</summary>
    public static char[] BytesToUnicode()
    {
        var map = new char[256];
        var taken = new bool[256];
        for (int b = '!'; b <= '~'; b++) { map[b] = (char)b; taken[b] = true; }
        for (int b = 0xA1; b <= 0xAC; b++) { map[b] = (char)b; taken[b] = true; }
        for (int b = 0xAE; b <= 0xFF; b++) { map[b] = (char)b; taken[b] = true; }
        int n = 0;
        for (int b = 0; b < 256; b++) if (!taken[b]) map[b] = (char)(256 + n++);
        return map;
    }
}
