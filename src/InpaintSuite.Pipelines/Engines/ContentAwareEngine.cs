using InpaintSuite.Imaging;
using InpaintSuite.Imaging.ContentAware;

namespace InpaintSuite.Pipelines.Engines;

/// <summary>
/// The embedded default engine: PatchMatch content-aware fill (no model weights). Inpaint and outpaint
/// (the runner hands it the extended canvas with the new area masked). Batch item i uses seed Seed + i.
/// </summary>
public sealed class ContentAwareEngine(ContentAwareOptions? options = null) : IFillEngine
{
    private readonly ContentAwareOptions _options = options ?? new ContentAwareOptions();

    public string Name => EngineNames.ContentAware;

    public bool Supports(Operation operation) => operation is Operation.Inpaint or Operation.Outpaint;

    public Task<IReadOnlyList<RgbaImage>> FillAsync(FillRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Supports(request.Operation))
            throw new InvalidRequestException("operation", $"engine '{Name}' cannot do {request.Operation}; it fills inpaint and outpaint masks");
        if (request.Mask.Width != request.Region.Width || request.Mask.Height != request.Region.Height)
            throw new InvalidRequestException("mask", $"mask is {request.Mask.Width}x{request.Mask.Height}, region is {request.Region.Width}x{request.Region.Height}");
        int batch = Math.Max(1, request.BatchSize);
        return Task.Run<IReadOnlyList<RgbaImage>>(() =>
        {
            var results = new List<RgbaImage>(batch);
            for (int i = 0; i < batch; i++)
            {
                int item = i;
                var itemProgress = progress == null ? null : new SyncProgress(p =>
                    progress.Report(new OperationProgress(item * p.Total + p.Step, batch * p.Total, Name)));
                try
                {
                    results.Add(ContentAwareFill.Fill(request.Region, request.Mask,
                        _options with { Seed = request.Seed + (ulong)i }, itemProgress, cancellationToken));
                }
                catch (NothingToCopyException e)
                {
                    throw new InvalidRequestException("mask", e.Message);
                }
            }
            return results;
        }, cancellationToken);
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to a sync context and reorder).</summary>
    private sealed class SyncProgress(Action<ContentAwareProgress> report) : IProgress<ContentAwareProgress>
    {
        public void Report(ContentAwareProgress value) => report(value);
    }
}
