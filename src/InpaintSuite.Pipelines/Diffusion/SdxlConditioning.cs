using InpaintSuite.Runtime.Tokenizer;

namespace InpaintSuite.Pipelines.Diffusion;

/// <summary>SDXL's size conditioning and its resolution buckets.</summary>
public static class SdxlConditioning
{
    /// <summary>
    /// diffusers' <c>_get_add_time_ids</c> (no aesthetic score): original_size + crops_coords_top_left + target_size,
    /// height before width, as float32. diffusers defaults original and target to the generation size and the crop to (0, 0).
    /// </summary>
    public static float[] TimeIds(int originalHeight, int originalWidth, int cropTop, int cropLeft, int targetHeight, int targetWidth) =>
        [originalHeight, originalWidth, cropTop, cropLeft, targetHeight, targetWidth];

    /// <summary>The time ids diffusers uses for a generation of <paramref name="width"/>x<paramref name="height"/> with default sizes and crop.</summary>
    public static float[] DefaultTimeIds(int width, int height) => TimeIds(height, width, 0, 0, height, width);

    /// <summary>
    /// SDXL's training buckets at 1024² (width, height; SDXL report, appendix: ~1 megapixel, sides multiples of 64,
    /// aspect 1:4 to 4:1). Portrait ones; landscape are the same transposed.
    /// </summary>
    private static readonly (int W, int H)[] PortraitBuckets =
    [
        (512, 2048), (512, 1984), (512, 1920), (512, 1856), (576, 1792), (576, 1728), (576, 1664), (640, 1600),
        (640, 1536), (704, 1472), (704, 1408), (704, 1344), (768, 1344), (768, 1280), (832, 1216), (832, 1152),
        (896, 1152), (896, 1088), (960, 1088), (960, 1024), (1024, 1024),
    ];

    /// <summary>All buckets (portrait, square, landscape) at 1024² native.</summary>
    public static IReadOnlyList<(int Width, int Height)> Buckets { get; } =
        PortraitBuckets.Concat(PortraitBuckets.Where(b => b.W != b.H).Select(b => (b.H, b.W))).Select(b => (b.Item1, b.Item2)).ToArray();

    /// <summary>
    /// The generation size for a region: the bucket whose aspect is nearest the region's (in log ratio), scaled to the
    /// model's native size (1024 for SDXL: the buckets as they are). Scaled sides snap to a multiple of native/16 (64 at
    /// 1024), at least 16, so tiny test models get valid sizes too.
    /// </summary>
    public static (int Width, int Height) BucketSize(int regionWidth, int regionHeight, int native)
    {
        double aspect = Math.Log((double)regionWidth / regionHeight);
        var best = Buckets[0];
        double bestDist = double.MaxValue;
        foreach (var b in Buckets)
        {
            double d = Math.Abs(Math.Log((double)b.Width / b.Height) - aspect);
            if (d < bestDist - 1e-12) { bestDist = d; best = b; }
        }
        if (native == 1024) return best;
        int m = Math.Max(16, native / 16);
        int Snap(int v) => Math.Max(m, (int)Math.Round(v * (double)native / 1024 / m) * m);
        return (Snap(best.Width), Snap(best.Height));
    }
}

/// <summary>
/// SDXL prompt conditioning as diffusers' StableDiffusionXL pipelines build it: each prompt through both tokenizers (the
/// second pads with its own pad token) and both text encoders; the penultimate hidden states of the two concatenated on
/// the feature axis ([1,77,h1+h2]); the pooled embedding is text encoder 2's projected output. With
/// <c>force_zeros_for_empty_prompt</c> an empty negative prompt gives zero embeddings (hidden states and pooled).
/// A1111 emphasis / long prompts take the same chunking as SD 1.x (<see cref="TextConditioner"/>), with the emphasis
/// applied to each encoder's hidden states separately (A1111's SDXL conditioner) and the pooled embedding taken from the
/// first chunk. Results are cached per chunk.
/// </summary>
public sealed class SdxlTextConditioner(DiffusionModel model, ClipTokenizer tokenizer, ClipTokenizer tokenizer2, int cacheSize = 16)
{
    private readonly Dictionary<string, (float[] Hidden, float[] Pooled)> _cache = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _order = new();
    private readonly Lock _lock = new();

    public ClipTokenizer Tokenizer { get; } = tokenizer;
    public ClipTokenizer Tokenizer2 { get; } = tokenizer2;

    /// <summary>Hidden states [1,seq,h1+h2] and pooled [1,pooled] for prompt and negative prompt (same seq, 77 x chunks).</summary>
    public SdxlEmbeddings Encode(string prompt, string negativePrompt, CancellationToken ct)
    {
        bool zeroNegative = model.Entry.ForceZerosForEmptyPrompt && string.IsNullOrEmpty(negativePrompt);
        var (p1, p2) = (Chunk(Tokenizer, prompt), Chunk(Tokenizer2, prompt));
        var (n1, n2) = zeroNegative ? (p1, p2) : (Chunk(Tokenizer, negativePrompt), Chunk(Tokenizer2, negativePrompt));
        int chunks = Math.Max(Math.Max(p1.Chunks.Count, p2.Chunks.Count), Math.Max(n1.Chunks.Count, n2.Chunks.Count));
        var (pe, pooled) = EncodeChunks(PromptWeighting.PadTo(Tokenizer, p1, chunks), PromptWeighting.PadTo(Tokenizer2, p2, chunks), ct);
        float[] ne, negPooled;
        if (zeroNegative) (ne, negPooled) = (new float[pe.Length], new float[pooled.Length]);
        else (ne, negPooled) = EncodeChunks(PromptWeighting.PadTo(Tokenizer, n1, chunks), PromptWeighting.PadTo(Tokenizer2, n2, chunks), ct);
        return new SdxlEmbeddings(pe, ne, pooled, negPooled, chunks * ClipTokenizer.DefaultContextLength);
    }

    private static ChunkedPrompt Chunk(ClipTokenizer tokenizer, string prompt)
    {
        var plain = PromptWeighting.Chunk(tokenizer, prompt, emphasis: false);
        bool syntax = prompt.AsSpan().IndexOfAny("()[]") >= 0 || prompt.Contains("BREAK", StringComparison.Ordinal);
        if (plain.Chunks.Count == 1 && !syntax)
        {
            // diffusers: padding="max_length" with the tokenizer's own pad token (tokenizer_2: "!", id 0).
            var ids = tokenizer.EncodeFramed(prompt);
            return new ChunkedPrompt([new PromptChunk(ids, Enumerable.Repeat(1f, ids.Length).ToArray())], plain.TokenCount);
        }
        return PromptWeighting.Chunk(tokenizer, prompt, emphasis: true);
    }

    private (float[] Hidden, float[] Pooled) EncodeChunks(ChunkedPrompt first, ChunkedPrompt second, CancellationToken ct)
    {
        var parts = new List<float[]>(first.Chunks.Count);
        float[]? pooled = null;
        for (int c = 0; c < first.Chunks.Count; c++)
        {
            var (a, b) = (first.Chunks[c], second.Chunks[c]);
            string key = string.Join(',', a.Ids) + "|" + string.Join(',', a.Weights) + "|" + string.Join(',', b.Ids) + "|" + string.Join(',', b.Weights);
            (float[] Hidden, float[] Pooled) hit;
            bool found;
            lock (_lock) found = _cache.TryGetValue(key, out hit);
            if (!found)
            {
                var (h1, _) = model.EncodeTextSdxl(1, a.Ids, ct);
                var (h2, p) = model.EncodeTextSdxl(2, b.Ids, ct);
                int d1 = h1.Length / a.Ids.Length, d2 = h2.Length / b.Ids.Length;
                if (a.Weights.Any(w => w != 1f)) PromptWeighting.ApplyEmphasis(h1, a.Weights, d1);
                if (b.Weights.Any(w => w != 1f)) PromptWeighting.ApplyEmphasis(h2, b.Weights, d2);
                hit = (Concat(h1, d1, h2, d2, a.Ids.Length), p!);
                lock (_lock)
                {
                    if (_cache.TryAdd(key, hit))
                    {
                        _order.AddLast(key);
                        while (_order.Count > cacheSize) { _cache.Remove(_order.First!.Value); _order.RemoveFirst(); }
                    }
                }
            }
            pooled ??= hit.Pooled;
            parts.Add(hit.Hidden);
        }
        if (parts.Count == 1) return (parts[0], pooled!);
        var all = new float[parts.Sum(p => p.Length)];
        int o = 0;
        foreach (var part in parts) { part.CopyTo(all, o); o += part.Length; }
        return (all, pooled!);
    }

    /// <summary>torch.concat([h1, h2], dim=-1) for [tokens, d1] and [tokens, d2].</summary>
    internal static float[] Concat(float[] h1, int d1, float[] h2, int d2, int tokens)
    {
        var dst = new float[tokens * (d1 + d2)];
        for (int t = 0; t < tokens; t++)
        {
            h1.AsSpan(t * d1, d1).CopyTo(dst.AsSpan(t * (d1 + d2)));
            h2.AsSpan(t * d2, d2).CopyTo(dst.AsSpan(t * (d1 + d2) + d1));
        }
        return dst;
    }
}

/// <summary>One SDXL prompt/negative pair: hidden states [1,seq,hidden] and pooled embeddings [1,pooled].</summary>
public sealed record SdxlEmbeddings(float[] Prompt, float[] Negative, float[] Pooled, float[] NegativePooled, int SequenceLength);
