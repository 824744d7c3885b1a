namespace InpaintSuite.Protocol.Grpc;

/// <summary>Header names and values of the gRPC HTTP/2 mapping.</summary>
public static class GrpcHeaders
{
    public const string ContentType = "application/grpc";
    public const string Status = "grpc-status";
    public const string Message = "grpc-message";
    public const string Timeout = "grpc-timeout";
    public const string Encoding = "grpc-encoding";
    public const string AcceptEncoding = "grpc-accept-encoding";
    public const string Identity = "identity";
    public const string Gzip = "gzip";
    public const string AcceptedEncodings = "identity,gzip";
    public const string Authorization = "authorization";

    /// <summary>application/grpc, application/grpc+proto (and other +suffix forms and parameters).</summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType)) return false;
        if (!contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase)) return false;
        if (contentType.Length == ContentType.Length) return true;
        var next = contentType[ContentType.Length];
        if (next == ';') return true;
        if (next != '+') return false;
        var sub = contentType.AsSpan(ContentType.Length + 1);
        var semi = sub.IndexOf(';');
        if (semi >= 0) sub = sub[..semi];
        return sub.Trim().Equals("proto", StringComparison.OrdinalIgnoreCase);
    }
}
