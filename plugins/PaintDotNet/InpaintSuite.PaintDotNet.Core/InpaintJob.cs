namespace InpaintSuite.PaintDotNet.Core;

/// <summary>
/// One run of the effect: plan, call the daemon, build the renderer. Never writes to the source: on
/// cancel or failure the caller still renders the untouched source.
/// </summary>
public static class InpaintJob
{
    public static async Task<InpaintRenderer> RunAsync(
        IInpaintService service,
        Bgra32Surface source,
        SelectionMask selection,
        InpaintSettings settings,
        IProgress<InpaintProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        cancellationToken.ThrowIfCancellationRequested();
        var plan = InpaintPlanner.Plan(source, selection, settings);
        progress?.Report(new InpaintProgress("sending", 0, 0));
        // WaitAsync: Cancel returns at once even if a transport is slow to notice; the daemon job is
        // still cancelled through the token the service got.
        var result = await service.InpaintAsync(plan.Request, progress, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return InpaintRenderer.FromResult(source, plan, result);
    }
}
