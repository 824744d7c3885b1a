using InpaintSuite.Runtime.Tokenizer;
using Xunit;

namespace InpaintSuite.Runtime.Tests;

public class PromptWeightingTests
{
    private static ClipTokenizer Tok => TokenizerReferenceTests.Sd15.Value;

    private static void AssertParsed(string prompt, params (string Text, double Weight)[] expected)
    {
        var actual = PromptWeighting.ParseAttention(prompt);
        Assert.Equal(expected.Length, actual.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Text, actual[i].Text);
            Assert.Equal(expected[i].Weight, actual[i].Weight, 12);
        }
    }

    [Fact]
    public void ParsesA1111DocstringExamples()
    {
        // the examples in A1111's modules/prompt_parser.py parse_prompt_attention docstring
        AssertParsed("normal text", ("normal text", 1.0));
        AssertParsed("an (important) word", ("an ", 1.0), ("important", 1.1), (" word", 1.0));
        AssertParsed("(unbalanced", ("unbalanced", 1.1));
        AssertParsed(@"\(literal\]", ("(literal]", 1.0));
        AssertParsed("(unnecessary)(parens)", ("unnecessaryparens", 1.1));
        AssertParsed("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            ("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
            (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1));
        AssertParsed("[worst quality]", ("worst quality", 1 / 1.1));
        AssertParsed("", ("", 1.0));
    }

    [Fact]
    public void BreakStartsANewChunk()
    {
        var parsed = PromptWeighting.ParseAttention("a cat BREAK a dog");
        Assert.Contains(parsed, p => p.IsBreak);
        var c = PromptWeighting.Chunk(Tok, "a cat BREAK a dog");
        Assert.Equal(2, c.Chunks.Count);
        Assert.Equal([49406, 320, 2368, 49407], c.Chunks[0].Ids[..4]);
        Assert.Equal([49406, 320, 1929, 49407], c.Chunks[1].Ids[..4]);
        Assert.Equal(75 + 2, c.TokenCount);
    }

    [Fact]
    public void WeightsFollowTokens()
    {
        var c = PromptWeighting.Chunk(Tok, "a (cat:1.5) on [grass]");
        var chunk = Assert.Single(c.Chunks);
        Assert.Equal(77, chunk.Ids.Length);
        Assert.Equal(Tok.EncodeFramed("a cat on grass"), chunk.Ids);
        Assert.Equal([1f, 1f, 1.5f, 1f, (float)(1 / 1.1), 1f, 1f], chunk.Weights[..7]);
        Assert.True(c.HasEmphasis);
        Assert.Equal(4, c.TokenCount);
        var literal = PromptWeighting.Chunk(Tok, "a (cat:1.5)", emphasis: false);
        Assert.False(literal.HasEmphasis);
        Assert.Equal(Tok.EncodeFramed("a (cat:1.5)"), literal.Chunks[0].Ids);
    }

    [Fact]
    public void LongPromptsSplitIn75TokenChunksBackingUpToACommaWithin20()
    {
        // 70 x "cat" then ", " then 10 x "dog": the comma is token 71, so chunk 1 ends after it and the dogs move on
        string prompt = string.Join(" ", Enumerable.Repeat("cat", 70)) + ", " + string.Join(" ", Enumerable.Repeat("dog", 10));
        var c = PromptWeighting.Chunk(Tok, prompt);
        Assert.Equal(2, c.Chunks.Count);
        var first = c.Chunks[0].Ids;
        Assert.Equal(267, first[71]);
        Assert.Equal(49407, first[72]);
        Assert.All(c.Chunks[1].Ids[1..11], id => Assert.Equal(1929, id));
        Assert.Equal(75 + 10, c.TokenCount);
        // without a comma: a hard split at 75
        var hard = PromptWeighting.Chunk(Tok, string.Join(" ", Enumerable.Repeat("cat", 80)));
        Assert.Equal(2, hard.Chunks.Count);
        Assert.All(hard.Chunks[0].Ids[1..76], id => Assert.Equal(2368, id));
        Assert.Equal(80, hard.TokenCount);
    }

    [Fact]
    public void EmptyPromptIsOneChunkAndPaddingMatchesNegative()
    {
        var c = PromptWeighting.Chunk(Tok, "");
        var chunk = Assert.Single(c.Chunks);
        Assert.Equal(Tok.EncodeFramed(""), chunk.Ids);
        Assert.Equal(0, c.TokenCount);
        var padded = PromptWeighting.PadTo(Tok, c, 3);
        Assert.Equal(3, padded.Chunks.Count);
    }

    [Fact]
    public void EmphasisScalesTokensAndRestoresTheMean()
    {
        const int tokens = 5, hidden = 3;
        var z = Enumerable.Range(0, tokens * hidden).Select(i => 1f + i * 0.5f).ToArray();
        double meanBefore = z.Average(v => (double)v);
        var w = new float[] { 1f, 1.5f, 1f, 0.5f, 1f };
        var original = (float[])z.Clone();
        PromptWeighting.ApplyEmphasis(z, w, hidden);
        Assert.Equal(meanBefore, z.Average(v => (double)v), 5);
        double ratio = z[3] / original[3] / (z[0] / original[0]);
        Assert.Equal(1.5, ratio, 5);
        var ones = (float[])original.Clone();
        PromptWeighting.ApplyEmphasis(ones, [1f, 1f, 1f, 1f, 1f], hidden);
        Assert.Equal(original, ones);
    }
}
