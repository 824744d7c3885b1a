namespace InpaintSuite.Protocol.Grpc;

/// <summary>gRPC status codes (the numbers are the wire values).</summary>
public enum GrpcStatusCode
{
    OK = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

public static class GrpcStatus
{
    /// <summary>The canonical upper-snake name ("INVALID_ARGUMENT"), as other gRPC tooling prints it.</summary>
    public static string WireName(GrpcStatusCode code) => code switch
    {
        GrpcStatusCode.OK => "OK",
        GrpcStatusCode.Cancelled => "CANCELLED",
        GrpcStatusCode.Unknown => "UNKNOWN",
        GrpcStatusCode.InvalidArgument => "INVALID_ARGUMENT",
        GrpcStatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        GrpcStatusCode.NotFound => "NOT_FOUND",
        GrpcStatusCode.AlreadyExists => "ALREADY_EXISTS",
        GrpcStatusCode.PermissionDenied => "PERMISSION_DENIED",
        GrpcStatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        GrpcStatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        GrpcStatusCode.Aborted => "ABORTED",
        GrpcStatusCode.OutOfRange => "OUT_OF_RANGE",
        GrpcStatusCode.Unimplemented => "UNIMPLEMENTED",
        GrpcStatusCode.Internal => "INTERNAL",
        GrpcStatusCode.Unavailable => "UNAVAILABLE",
        GrpcStatusCode.DataLoss => "DATA_LOSS",
        GrpcStatusCode.Unauthenticated => "UNAUTHENTICATED",
        _ => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>How a gRPC client reads a non-200 HTTP status (the gRPC HTTP/2 spec's table).</summary>
    public static GrpcStatusCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 or 431 => GrpcStatusCode.Internal,
        401 => GrpcStatusCode.Unauthenticated,
        403 => GrpcStatusCode.PermissionDenied,
        404 => GrpcStatusCode.Unimplemented,
        429 or 502 or 503 or 504 => GrpcStatusCode.Unavailable,
        _ => GrpcStatusCode.Unknown,
    };

    /// <summary>The HTTP status the JSON bridge answers for a gRPC status (google.rpc's mapping).</summary>
    public static int ToHttpStatus(GrpcStatusCode code) => code switch
    {
        GrpcStatusCode.OK => 200,
        GrpcStatusCode.Cancelled => 499,
        GrpcStatusCode.InvalidArgument or GrpcStatusCode.FailedPrecondition or GrpcStatusCode.OutOfRange => 400,
        GrpcStatusCode.DeadlineExceeded => 504,
        GrpcStatusCode.NotFound => 404,
        GrpcStatusCode.AlreadyExists or GrpcStatusCode.Aborted => 409,
        GrpcStatusCode.PermissionDenied => 403,
        GrpcStatusCode.ResourceExhausted => 413,
        GrpcStatusCode.Unimplemented => 501,
        GrpcStatusCode.Unavailable => 503,
        GrpcStatusCode.Unauthenticated => 401,
        _ => 500,
    };
}

/// <summary>A call ended with a non-OK gRPC status (the project's RpcException).</summary>
public sealed class GrpcStatusException : Exception
{
    public GrpcStatusException(GrpcStatusCode statusCode, string? detail, Exception? inner = null)
        : base($"{GrpcStatus.WireName(statusCode)}: {detail}", inner)
    {
        StatusCode = statusCode;
        Detail = detail ?? "";
    }

    public GrpcStatusCode StatusCode { get; }

    /// <summary>The status message (grpc-message, decoded).</summary>
    public string Detail { get; }
}
