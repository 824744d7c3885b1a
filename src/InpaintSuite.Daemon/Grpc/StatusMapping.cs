using Grpc.Core;
using InpaintSuite.Pipelines;
using Microsoft.AspNetCore.Http;

namespace InpaintSuite.Daemon.Grpc;

/// <summary>Why a call's token fired, so a cancellation maps to the status the caller should see.</summary>
public readonly record struct CallState(bool ClientAborted, bool DeadlinePassed, bool ShuttingDown);

/// <summary>
/// The one map from exceptions to statuses: <see cref="ErrorInterceptor"/> applies it to every gRPC call and the JSON
/// bridge to its HTTP errors. An unexpected failure (a bug, an engine crash) tells the caller only that it failed and
/// under which id the log has it; <see cref="Internal"/> is true for those, so the caller of Map logs the exception.
/// </summary>
public static class StatusMapping
{
    public static (Status Status, bool Internal) Map(Exception e, CallState state, string errorId)
    {
        switch (e)
        {
            case RpcException r:
                return (r.Status, false);
            case InvalidRequestException ir:
                return (new Status(StatusCode.InvalidArgument, FieldMessage(ir)), false);
            case EngineNotFoundException nf:
                return (new Status(StatusCode.NotFound, nf.Message), false);
            case DaemonUnavailableException u:
                return (new Status(StatusCode.Unavailable, u.Message), false);
            case JobCancelledException jc:
                return (jc.Reason switch
                {
                    JobCancelReason.Shutdown => new Status(StatusCode.Unavailable, jc.Message),
                    JobCancelReason.CallEnded when state.DeadlinePassed && !state.ClientAborted => new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"),
                    _ => new Status(StatusCode.Cancelled, jc.Message),
                }, false);
            case OperationCanceledException:
                if (state.ClientAborted) return (new Status(StatusCode.Cancelled, "the client cancelled the call"), false);
                if (state.DeadlinePassed) return (new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), false);
                if (state.ShuttingDown) return (new Status(StatusCode.Unavailable, "the daemon is shutting down"), false);
                return (new Status(StatusCode.Cancelled, e.Message), false);
            case BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }:
                return (new Status(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size."), false);
            case Google.Protobuf.InvalidProtocolBufferException:
            case Google.Protobuf.InvalidJsonException:
                return (new Status(StatusCode.InvalidArgument, "malformed request: " + e.Message), false);
            case InsufficientExecutionStackException or OutOfMemoryException:
                return (new Status(StatusCode.ResourceExhausted, "the request needs more memory or nesting than the daemon allows"), false);
            case JobFailedException jf:
                return (new Status(StatusCode.Internal, $"job {jf.JobId} failed (error {errorId}; the daemon log has the details)"), true);
            default:
                return (new Status(StatusCode.Internal, $"the call failed (error {errorId}; the daemon log has the details)"), true);
        }
    }

    /// <summary>A short id that ties a caller's INTERNAL status to its log line.</summary>
    public static string NewErrorId() => Guid.NewGuid().ToString("N")[..12];

    /// <summary>"field: message" without ArgumentException's "(Parameter 'x')" suffix.</summary>
    public static string FieldMessage(InvalidRequestException e)
    {
        var text = e.Message;
        var suffix = $" (Parameter '{e.ParamName}')";
        if (text.EndsWith(suffix, StringComparison.Ordinal)) text = text[..^suffix.Length];
        return text.StartsWith(e.Field, StringComparison.Ordinal) ? text : $"{e.Field}: {text}";
    }

    /// <summary>The canonical upper-case name (INVALID_ARGUMENT), as gRPC peers and the bridge's JSON errors spell it.</summary>
    public static string WireName(StatusCode code) => code switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        _ => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The HTTP status the JSON bridge answers for a gRPC status (the mapping of google.rpc.Code).</summary>
    public static int ToHttpStatus(StatusCode code) => code switch
    {
        StatusCode.OK => 200,
        StatusCode.Cancelled => 499,
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => 400,
        StatusCode.DeadlineExceeded => 504,
        StatusCode.NotFound => 404,
        StatusCode.AlreadyExists or StatusCode.Aborted => 409,
        StatusCode.PermissionDenied => 403,
        StatusCode.ResourceExhausted => 413,
        StatusCode.Unimplemented => 501,
        StatusCode.Unavailable => 503,
        StatusCode.Unauthenticated => 401,
        _ => 500,
    };
}
