using InpaintSuite.Imaging;

namespace InpaintSuite.Pipelines.Engines;

/// <summary>
/// The "fill" engine: the multi-scale blur cascade (A1111's "fill") as a real, if plain, fill. No model
/// weights, deterministic (every batch item is the same), inpaint and outpaint only.
/// </summary>
public sealed class BlurFillEngine : IFillEngine
{
    public string Name => EngineNames.Fill;

    public bool Supports(Operation operation) => operation is Operation.Inpaint or Operation.Outpaint;

    public Task<IReadOnlyList<RgbaImage>> FillAsync(FillRequest request, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var filled = PreFill.Apply(request.Region, request.Mask, PreFillMode.Blur);
        progress?.Report(new OperationProgress(1, 1, "fill"));
        var list = new RgbaImage[Math.Max(1, request.BatchSize)];
        list[0] = filled;
        for (int i = 1; i < list.Length; i++) list[i] = filled.Clone();
        return Task.FromResult<IReadOnlyList<RgbaImage>>(list);
    }
}
