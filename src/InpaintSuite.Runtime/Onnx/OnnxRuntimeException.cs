using Ort = Microsoft.ML.OnnxRuntime;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>OrtErrorCode from onnxruntime_c_api.h.</summary>
public enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    NoSuchFile = 3,
    NoModel = 4,
    EngineError = 5,
    RuntimeException = 6,
    InvalidProtobuf = 7,
    ModelLoaded = 8,
    NotImplemented = 9,
    InvalidGraph = 10,
    EpFail = 11,
    ModelLoadCanceled = 12,
}

/// <summary>An error reported by ONNX Runtime (an OrtStatus), with its error code.</summary>
public class OnnxRuntimeException : Exception
{
    public OnnxRuntimeException(OrtErrorCode errorCode, string message, Exception? inner = null)
        : base($"ONNX Runtime error {errorCode}: {message}", inner)
    {
        ErrorCode = errorCode;
        NativeMessage = message;
    }

    public OnnxRuntimeException(string message, Exception? inner = null) : base(message, inner)
    {
        ErrorCode = OrtErrorCode.Fail;
        NativeMessage = message;
    }

    public OrtErrorCode ErrorCode { get; }

    /// <summary>The message as ONNX Runtime wrote it.</summary>
    public string NativeMessage { get; }
}

/// <summary>The ONNX Runtime shared library could not be found, loaded, or does not serve the API version the managed API needs.</summary>
public sealed class OnnxRuntimeUnavailableException : OnnxRuntimeException
{
    public OnnxRuntimeUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Turns the managed API's exception into ours, keeping the native error code.</summary>
internal static class OrtErrors
{
    // Microsoft.ML.OnnxRuntime.Managed 1.30 keeps the OrtStatus code internal: the only place it exposes it is the tag
    // it builds from the code, "[ErrorCode:<name>] <native message>". The names are its (partly stale) enum's: native 11
    // (ORT_EP_FAIL) and 12 (ORT_MODEL_LOAD_CANCELED) are still called by their old names there. Only this fixed,
    // code-derived tag is read; no decision anywhere depends on the free text after it.
    private static readonly Dictionary<string, OrtErrorCode> TagNames = new(StringComparer.Ordinal)
    {
        ["Ok"] = OrtErrorCode.Ok,
        ["Fail"] = OrtErrorCode.Fail,
        ["InvalidArgument"] = OrtErrorCode.InvalidArgument,
        ["NoSuchFile"] = OrtErrorCode.NoSuchFile,
        ["NoModel"] = OrtErrorCode.NoModel,
        ["EngineError"] = OrtErrorCode.EngineError,
        ["RuntimeException"] = OrtErrorCode.RuntimeException,
        ["InvalidProtobuf"] = OrtErrorCode.InvalidProtobuf,
        ["ModelLoaded"] = OrtErrorCode.ModelLoaded,
        ["NotImplemented"] = OrtErrorCode.NotImplemented,
        ["InvalidGraph"] = OrtErrorCode.InvalidGraph,
        ["ShapeInferenceNotRegistered"] = OrtErrorCode.EpFail,
        ["RequirementNotRegistered"] = OrtErrorCode.ModelLoadCanceled,
    };

    private const string TagStart = "[ErrorCode:";

    public static OnnxRuntimeException Wrap(Ort.OnnxRuntimeException e)
    {
        var (code, message) = Split(e.Message);
        return new OnnxRuntimeException(code, message, e);
    }

    internal static (OrtErrorCode Code, string Message) Split(string managedMessage)
    {
        if (managedMessage.StartsWith(TagStart, StringComparison.Ordinal))
        {
            int end = managedMessage.IndexOf(']', TagStart.Length);
            if (end > 0 && TagNames.TryGetValue(managedMessage[TagStart.Length..end], out var code))
                return (code, managedMessage[(end + 1)..].TrimStart());
        }
        return (OrtErrorCode.Fail, managedMessage);
    }
}
