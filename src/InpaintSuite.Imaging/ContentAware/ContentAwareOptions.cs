namespace InpaintSuite.Imaging.ContentAware;

/// <summary>How overlapping patches are combined into one pixel at the finest pyramid level.</summary>
public enum ContentAwareVoting
{
    /// <summary>Weighted mean of every overlapping patch (Wexler 2007): smooth, best SSIM, loses texture.</summary>
    Mean,
    /// <summary>Mean-shift from the best patch's value: averages only the patches that agree, keeps texture.</summary>
    Mode,
    /// <summary>The single most trusted patch wins: sharpest, may show patch edges.</summary>
    Best,
}

/// <summary>Settings of <see cref="ContentAwareFill"/>. The defaults are tuned on ../shared/eval.</summary>
public sealed record ContentAwareOptions
{
    /// <summary>Patch side in px (odd, 3..15).</summary>
    public int PatchSize { get; init; } = 7;

    /// <summary>Seed of the random search; the same seed gives the same bytes regardless of thread count.</summary>
    public ulong Seed { get; init; }

    /// <summary>Worker threads; -1 = all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>EM iterations (search + vote) at the coarsest level; finer levels use fewer, down to <see cref="FinestEmIterations"/>.</summary>
    public int CoarsestEmIterations { get; init; } = 12;

    /// <summary>EM iterations at the finest level.</summary>
    public int FinestEmIterations { get; init; } = 3;

    /// <summary>PatchMatch passes (propagation + random search) per EM iteration.</summary>
    public int PatchMatchIterations { get; init; } = 2;

    /// <summary>PatchMatch passes per EM iteration at the finest level (its field starts from the level below, so fewer are needed).</summary>
    public int FinestPatchMatchIterations { get; init; } = 1;

    /// <summary>Random-search radius in px at levels finer than the coarsest (which searches everywhere).</summary>
    public int FineSearchRadius { get; init; } = 32;

    /// <summary>Weight of the luminance-gradient channel in the patch distance (0 = colour only).</summary>
    public float GradientWeight { get; init; } = 0.5f;

    /// <summary>Voting used at the finest level (coarser levels always use the mean).</summary>
    public ContentAwareVoting FinestVoting { get; init; } = ContentAwareVoting.Mode;

    /// <summary>Use <see cref="FinestVoting"/> for every finest-level EM iteration, not only the last (slower).</summary>
    public bool SharpVoteEveryFinestIteration { get; init; }

    /// <summary>Mean-shift bandwidth for <see cref="ContentAwareVoting.Mode"/>, in 0..255 colour units.</summary>
    public float ModeBandwidth { get; init; } = 40f;

    /// <summary>Confidence falloff per px of depth into the hole (Wexler's gamma); 1 = none.</summary>
    public float ConfidenceFalloff { get; init; } = 2f;

    /// <summary>
    /// Known pixels copied from: only patches within this many px of the hole (null = the whole crop).
    /// Smaller is faster on large images and keeps the fill local.
    /// </summary>
    public int? SourceBand { get; init; }

    /// <summary>Context kept around each connected hole, in px; null = automatic (the hole's size, at least 32).</summary>
    public int? ContextMargin { get; init; }

    /// <summary>
    /// Weight of the smooth (diffusion) fill the coarsest level's votes are pulled towards, 0..1: the coarse levels
    /// settle the structure (where colours and edges continue), PatchMatch adds texture at the finer ones.
    /// </summary>
    public float GuideCoarsest { get; init; } = 0.5f;

    /// <summary>Exponent of the guide weight's fall from the coarsest to the finest level (1 = linear in level index).</summary>
    public float GuideFalloff { get; init; } = 1f;

    /// <summary>Box radius (level px) of the local mean the guide corrects; 0 = pull the colours themselves.</summary>
    public int GuideBlurRadius { get; init; } = 1;

    /// <summary>Same at the finest level (levels between interpolate).</summary>
    public float GuideFinest { get; init; }

    /// <summary>
    /// Spatial coherence: cost per px (of the level) between a target patch and its source, in squared colour units
    /// per patch pixel and channel-sum; nearby content wins ties over a similar patch from across the image.
    /// </summary>
    public float LocalityWeight { get; init; } = 20f;

    /// <summary>Tests: use the gather (scalar reference) for mean votes instead of the vectorised scatter.</summary>
    internal bool GatherMeanVote { get; init; }

    internal void Validate()
    {
        if (PatchSize < 3 || PatchSize > 15 || PatchSize % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(PatchSize), $"patch size {PatchSize} must be odd, 3..15");
        if (CoarsestEmIterations < 1 || FinestEmIterations < 1 || PatchMatchIterations < 1 || FinestPatchMatchIterations < 1)
            throw new ArgumentOutOfRangeException(nameof(FinestEmIterations), "iteration counts must be at least 1");
        if (MaxDegreeOfParallelism == 0 || MaxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), "use -1 (all cores) or a positive count");
        if (GradientWeight < 0 || ModeBandwidth <= 0 || ConfidenceFalloff < 1)
            throw new ArgumentOutOfRangeException(nameof(GradientWeight), "weights must be non-negative, bandwidth positive, falloff >= 1");
        if (FineSearchRadius < 1) throw new ArgumentOutOfRangeException(nameof(FineSearchRadius), "search radius must be at least 1 px");
        if (SourceBand is < 1) throw new ArgumentOutOfRangeException(nameof(SourceBand), "source band must be at least 1 px");
        if (GuideCoarsest is < 0 or > 1 || GuideFinest is < 0 or > 1 || LocalityWeight < 0 || GuideBlurRadius < 0 || GuideFalloff <= 0)
            throw new ArgumentOutOfRangeException(nameof(GuideCoarsest), "guide weights must be 0..1, locality weight >= 0");
        if (ContextMargin is < 0) throw new ArgumentOutOfRangeException(nameof(ContextMargin), "context margin must be >= 0");
    }
}

/// <summary>Progress of a fill: <paramref name="Step"/> of <paramref name="Total"/> EM iterations done.</summary>
public readonly record struct ContentAwareProgress(int Step, int Total, string Stage);

/// <summary>Thrown when there are no known pixels to copy from (the mask covers everything, or leaves too little).</summary>
public sealed class NothingToCopyException(string message) : InvalidOperationException(message);
