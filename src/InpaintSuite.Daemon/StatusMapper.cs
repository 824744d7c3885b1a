using InpaintSuite.Pipelines;
using InpaintSuite.Protocol.Grpc;
using Microsoft.AspNetCore.Http;

namespace InpaintSuite.Daemon;

/// <summary>Why a call's token fired, so a cancellation maps to the status the caller should see.</summary>
public sealed class CallState
{
    public required CancellationToken ClientAborted { get; init; }
    public CancellationToken Deadline { get; init; }
    public CancellationToken Shutdown { get; init; }
}

/// <summary>The one place exceptions become gRPC statuses (the JSON bridge reuses it for HTTP errors).</summary>
public static class StatusMapper
{
    public static (GrpcStatusCode Code, string Message) Map(Exception e, CallState state)
    {
        switch (e)
        {
            case GrpcStatusException g:
                return (g.StatusCode, g.Detail);
            case InvalidRequestException ir:
                return (GrpcStatusCode.InvalidArgument, FieldMessage(ir));
            case EngineNotFoundException nf:
                return (GrpcStatusCode.NotFound, nf.Message);
            case JobCancelledException jc:
                return jc.Reason switch
                {
                    JobCancelReason.Shutdown => (GrpcStatusCode.Unavailable, jc.Message),
                    JobCancelReason.CallEnded when state.Deadline.IsCancellationRequested && !state.ClientAborted.IsCancellationRequested
                        => (GrpcStatusCode.DeadlineExceeded, "Deadline Exceeded"),
                    _ => (GrpcStatusCode.Cancelled, jc.Message),
                };
            case OperationCanceledException:
                if (state.ClientAborted.IsCancellationRequested) return (GrpcStatusCode.Cancelled, "the client cancelled the call");
                if (state.Deadline.IsCancellationRequested) return (GrpcStatusCode.DeadlineExceeded, "Deadline Exceeded");
                if (state.Shutdown.IsCancellationRequested) return (GrpcStatusCode.Unavailable, "the daemon is shutting down");
                return (GrpcStatusCode.Cancelled, e.Message);
            case BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }:
                return (GrpcStatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size.");
            case Google.Protobuf.InvalidProtocolBufferException:
            case Google.Protobuf.InvalidJsonException:
                return (GrpcStatusCode.InvalidArgument, "malformed request: " + e.Message);
            case NotSupportedException:
                return (GrpcStatusCode.Unimplemented, e.Message);
            case InsufficientExecutionStackException or OutOfMemoryException:
                return (GrpcStatusCode.ResourceExhausted, e.Message);
            default:
                return (GrpcStatusCode.Internal, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>"field: message" without ArgumentException's "(Parameter 'x')" suffix.</summary>
    public static string FieldMessage(InvalidRequestException e)
    {
        var text = e.Message;
        var suffix = $" (Parameter '{e.ParamName}')";
        if (text.EndsWith(suffix, StringComparison.Ordinal)) text = text[..^suffix.Length];
        return text.StartsWith(e.Field, StringComparison.Ordinal) ? text : $"{e.Field}: {text}";
    }
}
