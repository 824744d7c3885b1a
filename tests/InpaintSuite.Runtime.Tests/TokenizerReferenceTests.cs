using System.Text.Json;
using InpaintSuite.Runtime.Tokenizer;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Runtime.Tests;

/// <summary>Token ids for every prompt in tokenizer/tokenizer_cases.json (openai/CLIP SimpleTokenizer + ftfy), honouring INPAINTSUITE_DIFFUSERS_REFERENCE_DIR.</summary>
public class TokenizerReferenceTests(ITestOutputHelper output)
{
    private static string Dir => Path.Combine(TestPaths.DiffusersReference, "tokenizer");

    internal static readonly Lazy<ClipTokenizer> Sd15 = new(() => ClipTokenizer.FromDirectory(Path.Combine(TestPaths.DiffusersReference, "tokenizer")));

    [Fact]
    public void EveryReferencePromptMatches()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "tokenizer_cases.json")));
        var tok = Sd15.Value;
        int n = 0;
        var failures = new List<string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string prompt = c.GetProperty("prompt").GetString()!;
            var ids = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            string cleaned = c.GetProperty("cleaned").GetString()!;
            var pre = c.GetProperty("pretokens").EnumerateArray().Select(e => e.GetString()!).ToArray();
            var clip77 = c.GetProperty("clip_tokenize_77").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var sd77 = c.GetProperty("sd15_hf_input_ids_77").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            n++;
            string actualClean = TextCleaner.Clean(prompt);
            if (actualClean != cleaned) failures.Add($"clean {Show(prompt)}: {Show(actualClean)} vs {Show(cleaned)}");
            var actualPre = ClipTokenizer.PreTokenize(cleaned);
            if (!actualPre.SequenceEqual(pre)) failures.Add($"pretokens {Show(prompt)}: [{string.Join("|", actualPre)}] vs [{string.Join("|", pre)}]");
            var actual = tok.Encode(prompt);
            if (!actual.SequenceEqual(ids)) failures.Add($"ids {Show(prompt)}: [{string.Join(",", actual)}] vs [{string.Join(",", ids)}]");
            if (!tok.EncodeFramed(prompt).SequenceEqual(sd77)) failures.Add($"sd15 77-row {Show(prompt)}");
            if (!tok.EncodeFramed(prompt, padId: 0).SequenceEqual(clip77)) failures.Add($"clip 77-row {Show(prompt)}");
            Assert.Equal(c.GetProperty("num_ids").GetInt32(), tok.CountTokens(prompt));
        }
        output.WriteLine($"{n} tokenizer cases from {Dir}");
        Assert.True(n > 0, "no cases");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string Show(string s) => JsonSerializer.Serialize(s);

    [Fact]
    public void VocabOrderingAndSpecialTokens()
    {
        var tok = Sd15.Value;
        Assert.Equal(49408, tok.VocabularySize);
        Assert.Equal(49406, tok.StartId);
        Assert.Equal(49407, tok.EndId);
        Assert.Equal(49407, tok.PadId); // SD1.5: pad with <|endoftext|>
        Assert.Equal(267, tok.CommaId);
        Assert.Equal("!", tok.Token(0));
        Assert.Equal("Ā", tok.Token(188));
        Assert.Equal("in", tok.Token(512));
        Assert.Equal([49406, 320, 49407], tok.Encode("<|startoftext|>a<|endoftext|>"));
    }

    [Fact]
    public void LongPromptsTruncateToSot75Eot()
    {
        var tok = Sd15.Value;
        string prompt = string.Join(" ", Enumerable.Repeat("cat", 100));
        var row = tok.EncodeFramed(prompt);
        Assert.Equal(77, row.Length);
        Assert.Equal(49406, row[0]);
        Assert.Equal(49407, row[76]);
        Assert.All(row[1..76], id => Assert.Equal(2368, id));
        Assert.Equal(100, tok.CountTokens(prompt));
    }

    [Fact]
    public void PadTokenComesFromTokenizerConfig()
    {
        var dir = Directory.CreateTempSubdirectory("inpaintsuite-tok-");
        try
        {
            File.Copy(Path.Combine(Dir, "vocab.json"), Path.Combine(dir.FullName, "vocab.json"));
            File.Copy(Path.Combine(Dir, "merges.txt"), Path.Combine(dir.FullName, "merges.txt"));
            File.WriteAllText(Path.Combine(dir.FullName, "tokenizer_config.json"), """{"pad_token": {"content": "!", "lstrip": false}}""");
            var sd2 = ClipTokenizer.FromDirectory(dir.FullName);
            Assert.Equal(0, sd2.PadId);
            Assert.Equal([49406, 320, 2368, 49407, 0, 0], sd2.EncodeFramed("a cat")[..6]);
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("e\u0301cole", "\u00e9cole")]
    [InlineData("\u1e0b\u0323", "\u1e0d\u0307")]          // reordering: d + dot above + dot below -> ḍ + dot above
    [InlineData("\u212b", "\u00c5")]                       // singleton: angstrom sign -> Å
    [InlineData("\u1100\u1161\u11a8", "\uac01")]           // Hangul L V T
    [InlineData("plain ascii", "plain ascii")]
    public void NfcWithoutIcu(string input, string expected)
    {
        Assert.Equal(expected, UnicodeNormalizer.Nfc(input));
    }

    [Theory]
    [InlineData("Straß… Ü» café", "straß… ü» café")]                 // Latin-1 text that is not mojibake stays
    [InlineData("donâ€™t", "don't")]                               // UTF-8 read as cp1252, then uncurled
    [InlineData("ﬁne ﬂower", "fine flower")]
    [InlineData("a\u200bb", "a\u200bb")]                             // zero-width space is not whitespace
    [InlineData("x\u0007y\u00a0z", "xy z")]
    public void CleanUpCases(string input, string expected)
    {
        Assert.Equal(expected, TextCleaner.Clean(input));
    }
}
