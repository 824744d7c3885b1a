using InpaintSuite.Protocol.V1;

namespace InpaintSuite.PaintDotNet.Core;

/// <summary>Where a running job is, for the dialog's status line and progress bar.</summary>
public readonly record struct InpaintProgress(string Stage, int Step, int Total)
{
    public override string ToString() => Total > 0 ? $"{Stage} {Step}/{Total}" : Stage;
}

/// <summary>
/// The daemon as the plugin sees it: one inpaint call that ends with the daemon's result.
/// <see cref="DaemonInpaintService"/> is the real one (gRPC over HTTP/2 cleartext to the daemon);
/// tests may substitute others.
/// </summary>
public interface IInpaintService
{
    /// <summary>
    /// Runs the request to completion. Cancelling <paramref name="cancellationToken"/> cancels the
    /// daemon job. Failures are <see cref="InpaintServiceException"/> with a message fit for the user.
    /// </summary>
    Task<Result> InpaintAsync(InpaintRequest request, IProgress<InpaintProgress>? progress, CancellationToken cancellationToken);
}

public enum InpaintFailure
{
    /// <summary>No daemon answers at the address (not running, wrong port, firewall).</summary>
    DaemonUnreachable,
    /// <summary>The daemon refused the request (bad input, too large, unknown engine).</summary>
    Rejected,
    /// <summary>The daemon accepted the job but it failed, or the reply made no sense.</summary>
    Failed,
    /// <summary>Nothing to fill: empty selection, or a whole-image selection without transparent pixels.</summary>
    NothingToFill,
}

/// <summary>A failure the effect shows the user as it is (one sentence saying what to do).</summary>
public sealed class InpaintServiceException(InpaintFailure failure, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public InpaintFailure Failure { get; } = failure;
}
