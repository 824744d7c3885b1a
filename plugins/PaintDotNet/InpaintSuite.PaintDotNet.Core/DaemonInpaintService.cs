using System.Security.Cryptography.X509Certificates;
using InpaintSuite.Protocol;
using Grpc.Core;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.PaintDotNet.Core;

/// <summary>
/// The real <see cref="IInpaintService"/>: the daemon's gRPC Inpaint stream over HTTP/2 (cleartext or TLS),
/// through the Protocol project's <see cref="InpainterClient"/>. Cancelling resets the stream, which
/// cancels the daemon job. Transport and status errors become <see cref="InpaintServiceException"/>
/// with a sentence the user can act on.
/// </summary>
public sealed class DaemonInpaintService : IInpaintService, IDisposable
{
    private readonly InpainterClient client;

    public DaemonInpaintService(string address, string? bearerToken = null, X509Certificate2Collection? trustedCertificates = null)
        : this(ParseAddress(address), bearerToken, trustedCertificates)
    {
    }

    /// <param name="address">http://host:port (cleartext, loopback) or https://host:port (a daemon serving TLS).</param>
    /// <param name="bearerToken">Sent as `authorization: Bearer` (non-loopback daemons require it).</param>
    /// <param name="trustedCertificates">For https: the daemon's CA or own certificate; null = the system trust store.</param>
    public DaemonInpaintService(Uri address, string? bearerToken = null, X509Certificate2Collection? trustedCertificates = null)
    {
        Address = address;
        client = new InpainterClient(address, new DaemonClientOptions { BearerToken = bearerToken, TrustedCertificates = trustedCertificates });
    }

    /// <summary>
    /// The service for the dialog's daemon address with the user's default credentials, as the CLI uses them: the token
    /// from INPAINTSUITE_TOKEN or the token file in the user's InpaintSuite config folder, and the certificates in
    /// INPAINTSUITE_TLS_CA for an https:// daemon. A certificate file that cannot be read is a failure in words.
    /// </summary>
    public static DaemonInpaintService ForSettings(InpaintSettings settings)
    {
        X509Certificate2Collection? trust;
        try
        {
            trust = ClientCredentials.DefaultTrust();
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
        {
            throw new InpaintServiceException(InpaintFailure.Rejected,
                $"The certificate file in {ClientCredentials.TrustVariable} cannot be used: {e.Message}", e);
        }
        return new DaemonInpaintService(settings.DaemonAddress, ClientCredentials.DefaultToken(), trust);
    }

    public Uri Address { get; }

    public async Task<Result> InpaintAsync(InpaintRequest request, IProgress<InpaintProgress>? progress, CancellationToken cancellationToken)
    {
        try
        {
            var (_, result) = await InpainterClient.RunToResultAsync(
                client.Inpaint(request, cancellationToken: cancellationToken),
                e => Report(e, progress),
                cancellationToken).ConfigureAwait(false);
            return result;
        }
        catch (RpcException e)
        {
            throw Translate(e, Address);
        }
    }

    /// <summary>Asks the daemon's health service; null when it is serving, else the reason in words.</summary>
    public async Task<string?> CheckAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            var r = await client.CheckHealthAsync("", timeout, cancellationToken).ConfigureAwait(false);
            return r.Status == global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving ? null : $"the daemon at {Address} reports {r.Status}";
        }
        catch (RpcException e)
        {
            return Translate(e, Address).Message;
        }
    }

    internal static InpaintServiceException Translate(RpcException e, Uri address)
    {
        string detail = string.IsNullOrWhiteSpace(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail;
        return e.StatusCode switch
        {
            StatusCode.Unavailable => new InpaintServiceException(InpaintFailure.DaemonUnreachable,
                $"The InpaintSuite daemon is not reachable at {address} ({detail}). Start it (`inpaintsuite serve`, or the InpaintSuite service) or fix the daemon address in the dialog.", e),
            StatusCode.Unauthenticated or StatusCode.PermissionDenied => new InpaintServiceException(InpaintFailure.Rejected,
                $"The InpaintSuite daemon at {address} refused the call: {detail}", e),
            StatusCode.InvalidArgument or StatusCode.ResourceExhausted or StatusCode.NotFound
                or StatusCode.FailedPrecondition or StatusCode.OutOfRange or StatusCode.Unimplemented
                => new InpaintServiceException(InpaintFailure.Rejected, $"The InpaintSuite daemon rejected the request: {detail}", e),
            StatusCode.DeadlineExceeded => new InpaintServiceException(InpaintFailure.Failed, $"The InpaintSuite daemon did not finish in time: {detail}", e),
            _ => new InpaintServiceException(InpaintFailure.Failed, $"The InpaintSuite job failed ({e.StatusCode}): {detail}", e),
        };
    }

    private static void Report(JobEvent e, IProgress<InpaintProgress>? progress)
    {
        if (progress == null) return;
        switch (e.EventCase)
        {
            case JobEvent.EventOneofCase.Queued:
                progress.Report(new InpaintProgress(e.Queued.Position == 0 ? "queued (next)" : $"queued ({e.Queued.Position} ahead)", 0, 0));
                break;
            case JobEvent.EventOneofCase.Started:
                progress.Report(new InpaintProgress($"started ({e.Started.Engine})", 0, 0));
                break;
            case JobEvent.EventOneofCase.Progress:
                progress.Report(new InpaintProgress(string.IsNullOrEmpty(e.Progress.Stage) ? "working" : e.Progress.Stage, (int)e.Progress.Step, (int)e.Progress.Total));
                break;
        }
    }

    private static Uri ParseAddress(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var u) && (u.Scheme == "http" || u.Scheme == "https")
            ? u
            : throw new InpaintServiceException(InpaintFailure.Rejected, $"The daemon address '{address}' is not an http:// or https:// URL (e.g. {InpaintSettings.DefaultDaemonAddress}).");

    public void Dispose() => client.Dispose();
}
