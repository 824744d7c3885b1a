using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>
/// Prompt -> text-encoder hidden states, cached per prompt (a retoucher re-runs the same prompt with new seeds).
/// Plain prompts of at most 75 tokens take diffusers' path exactly (one 77-token row). Prompts using the A1111
/// emphasis syntax, or longer than 75 tokens, take A1111's: 75-token chunks encoded separately, concatenated along
/// the sequence axis, each token's hidden state scaled by its weight and the chunk's mean restored. The prompt and
/// the negative prompt are padded to the same number of chunks so classifier-free guidance can batch them.
/// </summary>
public sealed class TextConditioner(DiffusionModel model, ClipTokenizer tokenizer, int cacheSize = 16)
{
    private readonly Dictionary<string, float[]> _cache = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _order = new();
    private readonly Lock _lock = new();

    public ClipTokenizer Tokenizer { get; } = tokenizer;

    /// <summary>Embeddings for prompt and negative prompt, each [1, seq, hidden] with the same seq (77 x chunks).</summary>
    public (float[] Prompt, float[] Negative, int SequenceLength) Encode(string prompt, string negativePrompt, CancellationToken ct)
    {
        var p = Chunk(prompt);
        var n = Chunk(negativePrompt);
        int chunks = Math.Max(p.Chunks.Count, n.Chunks.Count);
        p = PromptWeighting.PadTo(Tokenizer, p, chunks);
        n = PromptWeighting.PadTo(Tokenizer, n, chunks);
        var pe = EncodeChunks(p, ct);
        var ne = EncodeChunks(n, ct);
        return (pe, ne, chunks * ClipTokenizer.DefaultContextLength);
    }

    private ChunkedPrompt Chunk(string prompt)
    {
        var plain = PromptWeighting.Chunk(Tokenizer, prompt, emphasis: false);
        bool syntax = prompt.AsSpan().IndexOfAny("()[]") >= 0 || prompt.Contains("BREAK", StringComparison.Ordinal);
        if (plain.Chunks.Count == 1 && !syntax)
        {
            // diffusers' framing: [BOS] ids [EOS] then pad (what the tokenizer's Frame produces).
            var ids = Tokenizer.EncodeFramed(prompt);
            return new ChunkedPrompt([new PromptChunk(ids, Enumerable.Repeat(1f, ids.Length).ToArray())], plain.TokenCount);
        }
        return PromptWeighting.Chunk(Tokenizer, prompt, emphasis: true);
    }

    private float[] EncodeChunks(ChunkedPrompt prompt, CancellationToken ct)
    {
        var parts = new List<float[]>(prompt.Chunks.Count);
        foreach (var chunk in prompt.Chunks)
        {
            string key = string.Join(',', chunk.Ids) + "|" + string.Join(',', chunk.Weights);
            float[]? hidden;
            lock (_lock) _cache.TryGetValue(key, out hidden);
            if (hidden == null)
            {
                hidden = model.EncodeText(chunk.Ids, 1, ct);
                if (chunk.Weights.Any(w => w != 1f))
                    PromptWeighting.ApplyEmphasis(hidden, chunk.Weights, hidden.Length / chunk.Ids.Length);
                lock (_lock)
                {
                    if (_cache.TryAdd(key, hidden))
                    {
                        _order.AddLast(key);
                        while (_order.Count > cacheSize) { _cache.Remove(_order.First!.Value); _order.RemoveFirst(); }
                    }
                }
            }
            parts.Add(hidden);
        }
        if (parts.Count == 1) return parts[0];
        var all = new float[parts.Sum(p => p.Length)];
        int o = 0;
        foreach (var part in parts) { part.CopyTo(all, o); o += part.Length; }
        return all;
    }
}
