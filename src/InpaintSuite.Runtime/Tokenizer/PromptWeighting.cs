using System.Globalization;
using System.Text.RegularExpressions;

namespace InpaintSuite.Runtime.Tokenizer;

/// <summary>One piece of a prompt with its emphasis weight (A1111 <c>parse_prompt_attention</c>); weight -1 with text "BREAK" starts a new chunk.</summary>
public readonly record struct WeightedText(string Text, double Weight)
{
    public bool IsBreak => Weight == -1 && Text == "BREAK";
}

/// <summary>One 77-token row for the text encoder and the per-token emphasis multipliers.</summary>
public sealed record PromptChunk(int[] Ids, float[] Weights);

/// <summary>A prompt split into 75-token chunks (A1111 convention); <see cref="TokenCount"/> is what A1111 shows (e.g. "23/75").</summary>
public sealed record ChunkedPrompt(IReadOnlyList<PromptChunk> Chunks, int TokenCount)
{
    /// <summary>True when any token has a weight other than 1 (the text-encoder output needs <see cref="PromptWeighting.ApplyEmphasis"/>).</summary>
    public bool HasEmphasis => Chunks.Any(c => c.Weights.Any(w => w != 1f));
}

/// <summary>
/// AUTOMATIC1111 prompt conventions: emphasis syntax <c>(word)</c> ×1.1, <c>[word]</c> ÷1.1, <c>(word:1.3)</c>, escapes
/// <c>\( \) \[ \]</c>, <c>BREAK</c>; prompts longer than 75 tokens become several 77-token chunks (backing up to a
/// comma within the last 20 tokens), each encoded separately and concatenated along the sequence axis; emphasis
/// multiplies each token's hidden state and restores the chunk's original mean.
/// </summary>
public static partial class PromptWeighting
{
    public const int ChunkLength = 75;
    public const int CommaPaddingBacktrack = 20;

    /// <summary>A1111 parse_prompt_attention, including merging neighbours with equal weights.</summary>
    public static List<WeightedText> ParseAttention(string text)
    {
        var res = new List<(string Text, double Weight)>();
        var round = new Stack<int>();
        var square = new Stack<int>();
        void Multiply(int start, double m)
        {
            for (int p = start; p < res.Count; p++) res[p] = (res[p].Text, res[p].Weight * m);
        }
        foreach (Match m in Attention().Matches(text))
        {
            string t = m.Value;
            var weight = m.Groups[1];
            if (t.StartsWith('\\')) res.Add((t[1..], 1.0));
            else if (t == "(") round.Push(res.Count);
            else if (t == "[") square.Push(res.Count);
            else if (weight.Success && round.Count > 0 && double.TryParse(weight.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double w)) Multiply(round.Pop(), w);
            else if (t == ")" && round.Count > 0) Multiply(round.Pop(), 1.1);
            else if (t == "]" && square.Count > 0) Multiply(square.Pop(), 1 / 1.1);
            else
            {
                var parts = Break().Split(t);
                for (int i = 0; i < parts.Length; i++)
                {
                    if (i > 0) res.Add(("BREAK", -1));
                    res.Add((parts[i], 1.0));
                }
            }
        }
        foreach (int pos in round) Multiply(pos, 1.1);
        foreach (int pos in square) Multiply(pos, 1 / 1.1);
        if (res.Count == 0) res.Add(("", 1.0));
        for (int i = 0; i + 1 < res.Count;)
        {
            if (res[i].Weight == res[i + 1].Weight) { res[i] = (res[i].Text + res[i + 1].Text, res[i].Weight); res.RemoveAt(i + 1); }
            else i++;
        }
        return res.Select(r => new WeightedText(r.Text, r.Weight)).ToList();
    }

    /// <summary>
    /// A1111 tokenize_line: chunks of [SOT] + 75 tokens + [EOT], padded with EOT then (after the first EOT) the tokenizer's pad id.
    /// With <paramref name="emphasis"/> false the prompt is taken literally (weights all 1) but still chunked.
    /// </summary>
    public static ChunkedPrompt Chunk(ClipTokenizer tokenizer, string prompt, bool emphasis = true)
    {
        var parsed = emphasis ? ParseAttention(prompt) : [new WeightedText(prompt, 1.0)];
        var chunks = new List<PromptChunk>();
        var tokens = new List<int>();
        var mults = new List<float>();
        int tokenCount = 0, lastComma = -1;

        void NextChunk(bool isLast = false)
        {
            tokenCount += isLast ? tokens.Count : ChunkLength;
            int toAdd = ChunkLength - tokens.Count;
            for (int k = 0; k < toAdd; k++) { tokens.Add(tokenizer.EndId); mults.Add(1f); }
            var ids = new int[ChunkLength + 2];
            var w = new float[ChunkLength + 2];
            ids[0] = tokenizer.StartId; w[0] = 1f;
            for (int k = 0; k < ChunkLength; k++) { ids[k + 1] = tokens[k]; w[k + 1] = mults[k]; }
            ids[^1] = tokenizer.EndId; w[^1] = 1f;
            int firstEnd = Array.IndexOf(ids, tokenizer.EndId);
            for (int k = firstEnd + 1; k < ids.Length; k++) ids[k] = tokenizer.PadId;
            chunks.Add(new PromptChunk(ids, w));
            tokens.Clear();
            mults.Clear();
            lastComma = -1;
        }

        foreach (var part in parsed)
        {
            if (part.IsBreak) { NextChunk(); continue; }
            var ids = tokenizer.Encode(part.Text);
            foreach (int token in ids)
            {
                if (token == tokenizer.CommaId) lastComma = tokens.Count;
                else if (tokens.Count == ChunkLength && lastComma != -1 && tokens.Count - lastComma <= CommaPaddingBacktrack)
                {
                    int breakAt = lastComma + 1;
                    var relocTokens = tokens.GetRange(breakAt, tokens.Count - breakAt);
                    var relocMults = mults.GetRange(breakAt, mults.Count - breakAt);
                    tokens.RemoveRange(breakAt, tokens.Count - breakAt);
                    mults.RemoveRange(breakAt, mults.Count - breakAt);
                    NextChunk();
                    tokens.AddRange(relocTokens);
                    mults.AddRange(relocMults);
                }
                if (tokens.Count == ChunkLength) NextChunk();
                tokens.Add(token);
                mults.Add((float)part.Weight);
            }
        }
        if (tokens.Count > 0 || chunks.Count == 0) NextChunk(isLast: true);
        return new ChunkedPrompt(chunks, tokenCount);
    }

    /// <summary>Appends empty-prompt chunks until <paramref name="prompt"/> has <paramref name="count"/> (prompt and negative prompt must match).</summary>
    public static ChunkedPrompt PadTo(ClipTokenizer tokenizer, ChunkedPrompt prompt, int count)
    {
        if (prompt.Chunks.Count >= count) return prompt;
        var empty = Chunk(tokenizer, "", emphasis: false).Chunks[0];
        var list = prompt.Chunks.ToList();
        while (list.Count < count) list.Add(empty with { Ids = (int[])empty.Ids.Clone(), Weights = (float[])empty.Weights.Clone() });
        return prompt with { Chunks = list };
    }

    /// <summary>
    /// A1111 emphasis on one chunk's text-encoder output [tokens × hiddenSize]: z *= weight per token, then
    /// z *= mean(original z) / mean(weighted z).
    /// </summary>
    public static void ApplyEmphasis(Span<float> hiddenStates, ReadOnlySpan<float> weights, int hiddenSize)
    {
        if (hiddenSize <= 0 || hiddenStates.Length != weights.Length * hiddenSize)
            throw new ArgumentException($"hidden states must be {weights.Length} × hiddenSize values");
        double before = 0, after = 0;
        for (int t = 0; t < weights.Length; t++)
        {
            var row = hiddenStates.Slice(t * hiddenSize, hiddenSize);
            double rowSum = 0;
            foreach (float v in row) rowSum += v;
            before += rowSum;
            float w = weights[t];
            for (int k = 0; k < row.Length; k++) row[k] *= w;
            after += rowSum * w;
        }
        if (after == 0) return;
        float factor = (float)(before / after);
        for (int k = 0; k < hiddenStates.Length; k++) hiddenStates[k] *= factor;
    }

    [GeneratedRegex(@"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")]
    private static partial Regex Attention();

    [GeneratedRegex(@"\s*\bBREAK\b\s*", RegexOptions.Singleline)]
    private static partial Regex Break();
}
