using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace InpaintSuite.Protocol.Grpc;

/// <summary>Per-channel settings of the HttpClient-based gRPC client.</summary>
public sealed class GrpcChannelOptions
{
    /// <summary>Sent as <c>authorization: Bearer ...</c> on every call when set.</summary>
    public string? BearerToken { get; set; }

    /// <summary>Compress requests with gzip (and so ask the server to compress its responses).</summary>
    public bool Gzip { get; set; }

    /// <summary>Largest message accepted from the server (after decompression).</summary>
    public int MaxReceiveMessageBytes { get; set; } = GrpcFraming.DefaultMaxMessageBytes;

    /// <summary>Deadline applied to calls that give none; null = no deadline.</summary>
    public TimeSpan? DefaultDeadline { get; set; }

    /// <summary>
    /// For https:// addresses: trust only these (CA roots, or the daemon's own certificate, pinned)
    /// instead of the system trust store. Null or empty = the system trust store.
    /// </summary>
    public X509Certificate2Collection? TrustedCertificates { get; set; }
}

/// <summary>
/// A gRPC channel over HttpClient with HTTP/2 prior knowledge (h2c) or TLS: unary and
/// server-streaming calls, deadlines (grpc-timeout plus a local timer), cancellation (disposing the
/// response sends RST_STREAM), gzip, Trailers-Only and HTTP-status mapping.
/// User cancellation surfaces as <see cref="OperationCanceledException"/>; every other failure as
/// <see cref="GrpcStatusException"/>.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly GrpcTls? _tls;

    public GrpcChannel(Uri address, GrpcChannelOptions? options = null)
        : this(address, options, new GrpcTls(options?.TrustedCertificates))
    {
    }

    private GrpcChannel(Uri address, GrpcChannelOptions? options, GrpcTls tls)
        : this(new HttpClient(CreateHandler(tls), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan }, address, options, ownsHttpClient: true)
    {
        _tls = tls;
    }

    public GrpcChannel(HttpClient httpClient, Uri address, GrpcChannelOptions? options = null, bool ownsHttpClient = false)
    {
        _http = httpClient;
        _ownsHttp = ownsHttpClient;
        Address = address;
        Options = options ?? new GrpcChannelOptions();
    }

    public Uri Address { get; }

    public GrpcChannelOptions Options { get; }

    /// <summary>A handler tuned for large messages on a local link (wide HTTP/2 windows); <paramref name="tls"/> checks https servers.</summary>
    public static SocketsHttpHandler CreateHandler(GrpcTls? tls = null)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = 16 * 1024 * 1024,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (tls != null) handler.SslOptions.RemoteCertificateValidationCallback = tls.Validate;
        return handler;
    }

    public async Task<TResponse> UnaryAsync<TResponse>(string path, IMessage request, MessageParser<TResponse> parser,
        TimeSpan? deadline = null, CancellationToken cancellationToken = default)
        where TResponse : IMessage<TResponse>
    {
        TResponse? result = default;
        var count = 0;
        await foreach (var message in ServerStreamingAsync(path, request, parser, deadline, cancellationToken).ConfigureAwait(false))
        {
            result = message;
            count++;
        }
        if (count != 1)
            throw new GrpcStatusException(GrpcStatusCode.Internal, count == 0 ? "No response message for a unary call." : "More than one response message for a unary call.");
        return result!;
    }

    public async IAsyncEnumerable<TResponse> ServerStreamingAsync<TResponse>(string path, IMessage request, MessageParser<TResponse> parser,
        TimeSpan? deadline = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        where TResponse : IMessage<TResponse>
    {
        deadline ??= Options.DefaultDeadline;
        using var deadlineCts = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadlineCts.Token);
        var token = linked.Token;
        if (deadline is { } d) deadlineCts.CancelAfter(d <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : d);

        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(Address, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new FramedContent(GrpcFraming.Frame(request, Options.Gzip)),
        };
        message.Headers.TryAddWithoutValidation("te", "trailers");
        message.Headers.TryAddWithoutValidation("user-agent", "inpaintsuite-grpc/1.0");
        message.Headers.TryAddWithoutValidation(GrpcHeaders.AcceptEncoding, GrpcHeaders.AcceptedEncodings);
        if (Options.Gzip) message.Headers.TryAddWithoutValidation(GrpcHeaders.Encoding, GrpcHeaders.Gzip);
        if (deadline is { } dl) message.Headers.TryAddWithoutValidation(GrpcHeaders.Timeout, GrpcTimeout.Format(dl));
        if (!string.IsNullOrEmpty(Options.BearerToken))
            message.Headers.TryAddWithoutValidation(GrpcHeaders.Authorization, "Bearer " + Options.BearerToken);

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not GrpcStatusException)
        {
            throw Translate(e, cancellationToken, deadlineCts, this);
        }

        // Disposing the response before its end resets the HTTP/2 stream (RST_STREAM CANCEL).
        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
                throw new GrpcStatusException(GrpcStatus.FromHttpStatus((int)response.StatusCode),
                    $"HTTP status {(int)response.StatusCode} {response.ReasonPhrase}");
            var headerStatus = ReadStatus(response.Headers);
            if (headerStatus is { } trailersOnly)
            {
                // Trailers-Only: no messages follow.
                if (trailersOnly.Code != GrpcStatusCode.OK) throw new GrpcStatusException(trailersOnly.Code, trailersOnly.Message);
                yield break;
            }
            var contentType = response.Content.Headers.ContentType?.ToString();
            if (!GrpcHeaders.IsGrpcContentType(contentType))
                throw new GrpcStatusException(GrpcStatusCode.Unknown, $"Response content-type '{contentType}' is not gRPC.");
            var encoding = response.Headers.TryGetValues(GrpcHeaders.Encoding, out var enc) ? enc.FirstOrDefault() : null;
            if (!GrpcFraming.IsSupportedEncoding(encoding))
                throw new GrpcStatusException(GrpcStatusCode.Internal, $"Response grpc-encoding '{encoding}' is not supported.");

            Stream body;
            try
            {
                body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not GrpcStatusException)
            {
                throw Translate(e, cancellationToken, deadlineCts, this);
            }
            var reader = new GrpcMessageReader(body, Options.MaxReceiveMessageBytes, encoding);
            while (true)
            {
                byte[]? bytes;
                try
                {
                    bytes = await reader.ReadMessageAsync(token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not GrpcStatusException)
                {
                    throw Translate(e, cancellationToken, deadlineCts, this);
                }
                if (bytes == null) break;
                TResponse parsed;
                try
                {
                    parsed = parser.ParseFrom(bytes);
                }
                catch (InvalidProtocolBufferException e)
                {
                    throw new GrpcStatusException(GrpcStatusCode.Internal, "Failed to deserialize response message: " + e.Message, e);
                }
                yield return parsed;
            }
            var status = ReadStatus(response.TrailingHeaders)
                ?? throw new GrpcStatusException(GrpcStatusCode.Internal, "The response ended without a grpc-status trailer.");
            if (status.Code != GrpcStatusCode.OK) throw new GrpcStatusException(status.Code, status.Message);
        }
    }

    private static (GrpcStatusCode Code, string Message)? ReadStatus(HttpHeaders headers)
    {
        if (!headers.TryGetValues(GrpcHeaders.Status, out var values)) return null;
        var raw = values.FirstOrDefault();
        if (!int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code))
            return (GrpcStatusCode.Unknown, $"Invalid grpc-status '{raw}'.");
        var text = headers.TryGetValues(GrpcHeaders.Message, out var m) ? GrpcMessageText.Decode(m.FirstOrDefault()) : "";
        return ((GrpcStatusCode)code, text);
    }

    private static Exception Translate(Exception e, CancellationToken user, CancellationTokenSource deadline, GrpcChannel channel)
    {
        if (user.IsCancellationRequested) return new OperationCanceledException("The call was cancelled.", e, user);
        if (deadline.IsCancellationRequested) return new GrpcStatusException(GrpcStatusCode.DeadlineExceeded, "Deadline Exceeded", e);
        if (channel.DescribeTransportFailure(e) is { } why) return new GrpcStatusException(GrpcStatusCode.Unavailable, why, e);
        return e switch
        {
            HttpRequestException or IOException => new GrpcStatusException(GrpcStatusCode.Unavailable, e.Message, e),
            OperationCanceledException => new GrpcStatusException(GrpcStatusCode.Cancelled, e.Message, e),
            _ => new GrpcStatusException(GrpcStatusCode.Internal, e.Message, e),
        };
    }

    /// <summary>TLS and scheme mix-ups in words: which side wants TLS, which certificate was rejected and why.</summary>
    private string? DescribeTransportFailure(Exception e)
    {
        if (e is not HttpRequestException http) return null;
        var authority = Address.Authority;
        bool tlsFailed = false;
        for (var x = e.InnerException; x != null; x = x.InnerException)
            if (x is AuthenticationException) tlsFailed = true;
        if (Address.Scheme == Uri.UriSchemeHttps && tlsFailed)
        {
            if (_tls?.LastRejection is { } rejected) return $"TLS to {authority} failed: server certificate rejected: {rejected}";
            return $"TLS to {authority} failed ({http.Message} {http.InnerException?.Message}); is the daemon serving TLS? (use http:// for a plaintext daemon)";
        }
        // A TLS server answering a cleartext HTTP/2 preface closes or garbles the connection; which of these errors the
        // handler reports depends on timing (handshake not completed, response ended, invalid response). A refused
        // connection (a socket error) is not that, so it gets no TLS hint.
        bool socketError = false;
        for (var x = e.InnerException; x != null; x = x.InnerException)
            if (x is System.Net.Sockets.SocketException) socketError = true;
        if (Address.Scheme == Uri.UriSchemeHttp && !socketError
            && http.HttpRequestError is HttpRequestError.HttpProtocolError or HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse
                or HttpRequestError.ConnectionError or HttpRequestError.Unknown)
            return $"{http.Message} (if the daemon at {authority} serves TLS, use https://{authority})";
        return null;
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    /// <summary>A framed request body without Content-Length, like stock clients send.</summary>
    private sealed class FramedContent : HttpContent
    {
        private readonly byte[] _framed;

        public FramedContent(byte[] framed)
        {
            _framed = framed;
            Headers.ContentType = new MediaTypeHeaderValue(GrpcHeaders.ContentType);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(_framed).AsTask();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            stream.WriteAsync(_framed, cancellationToken).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
