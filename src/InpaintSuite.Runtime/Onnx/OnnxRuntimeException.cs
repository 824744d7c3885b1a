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
}

/// <summary>An error reported by ONNX Runtime (an OrtStatus), with its error code.</summary>
public class OnnxRuntimeException : Exception
{
    public OnnxRuntimeException(OrtErrorCode errorCode, string message)
        : base($"ONNX Runtime error {errorCode}: {message}")
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

/// <summary>The ONNX Runtime shared library could not be found, loaded, or is older than API version 30.</summary>
public sealed class OnnxRuntimeUnavailableException : OnnxRuntimeException
{
    public OnnxRuntimeUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}
