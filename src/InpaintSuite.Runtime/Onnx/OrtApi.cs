using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>
/// The OrtApi function table (API version 30) as typed function pointers. Slot numbers come from
/// onnxruntime_c_api.h (see ../shared/reference/ort-c-api-slots.txt); the struct is append-only, so a newer
/// library serving GetApi(30) keeps them. All handles are plain pointers here; SafeHandles own them above.
/// </summary>
internal sealed unsafe class OrtApi
{
    public const uint ApiVersion = 30;

    public readonly delegate* unmanaged[Cdecl]<IntPtr, int> GetErrorCode;                                   // 1
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr> GetErrorMessage;                             // 2
    public readonly delegate* unmanaged[Cdecl]<int, byte*, IntPtr*, IntPtr> CreateEnv;                      // 3
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void*, IntPtr, IntPtr*, IntPtr> CreateSession;       // 7 (ORTCHAR_T path)
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void*, nuint, IntPtr, IntPtr*, IntPtr> CreateSessionFromArray; // 8
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr*, IntPtr*, nuint, IntPtr*, nuint, IntPtr*, IntPtr> Run; // 9
    public readonly delegate* unmanaged[Cdecl]<IntPtr*, IntPtr> CreateSessionOptions;                       // 10
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void*, IntPtr> SetOptimizedModelFilePath;            // 11
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr> SetSessionExecutionMode;                // 13
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr> DisableMemPattern;                           // 17
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr> SetSessionGraphOptimizationLevel;       // 23
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr> SetIntraOpNumThreads;                   // 24
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr> SetInterOpNumThreads;                   // 25
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr> SessionGetInputCount;                // 30
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr> SessionGetOutputCount;               // 31
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr*, IntPtr> SessionGetInputTypeInfo;     // 33
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr*, IntPtr> SessionGetOutputTypeInfo;    // 34
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr, IntPtr*, IntPtr> SessionGetInputName; // 36
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr, IntPtr*, IntPtr> SessionGetOutputName;// 37
    public readonly delegate* unmanaged[Cdecl]<IntPtr*, IntPtr> CreateRunOptions;                           // 39
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr> RunOptionsSetTerminate;                      // 46
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void*, nuint, long*, nuint, int, IntPtr*, IntPtr> CreateTensorWithDataAsOrtValue; // 49
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void**, IntPtr> GetTensorMutableData;               // 51
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr*, IntPtr> CastTypeInfoToTensorInfo;           // 55
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int*, IntPtr> GetOnnxTypeFromTypeInfo;               // 56
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int*, IntPtr> GetTensorElementType;                  // 60
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr> GetDimensionsCount;                  // 61
    public readonly delegate* unmanaged[Cdecl]<IntPtr, long*, nuint, IntPtr> GetDimensions;                 // 62
    public readonly delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr> GetTensorShapeElementCount;          // 64
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr*, IntPtr> GetTensorTypeAndShape;              // 65
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int*, IntPtr> GetValueType;                          // 67
    public readonly delegate* unmanaged[Cdecl]<int, int, IntPtr*, IntPtr> CreateCpuMemoryInfo;              // 69
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr> AllocatorFree;                       // 76
    public readonly delegate* unmanaged[Cdecl]<IntPtr*, IntPtr> GetAllocatorWithDefaultOptions;             // 78
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseEnv;                                    // 92
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseStatus;                                 // 93
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseMemoryInfo;                             // 94
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseSession;                                // 95
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseValue;                                  // 96
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseRunOptions;                             // 97
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseTypeInfo;                               // 98
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseTensorTypeAndShapeInfo;                 // 99
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseSessionOptions;                         // 100
    public readonly delegate* unmanaged[Cdecl]<IntPtr*, int*, IntPtr> GetAvailableProviders;                // 125
    public readonly delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr> ReleaseAvailableProviders;              // 126
    public readonly delegate* unmanaged[Cdecl]<IntPtr, byte*, byte*, IntPtr> AddSessionConfigEntry;         // 130
    public readonly delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr> SessionOptionsAppendExecutionProvider_CUDA_V2; // 204
    public readonly delegate* unmanaged[Cdecl]<IntPtr*, IntPtr> CreateCUDAProviderOptions;                  // 205
    public readonly delegate* unmanaged[Cdecl]<IntPtr, byte**, byte**, nuint, IntPtr> UpdateCUDAProviderOptions; // 206
    public readonly delegate* unmanaged[Cdecl]<IntPtr, void> ReleaseCUDAProviderOptions;                    // 208
    public readonly delegate* unmanaged[Cdecl]<IntPtr, byte*, byte**, byte**, nuint, IntPtr> SessionOptionsAppendExecutionProvider; // 216
    public readonly delegate* unmanaged[Cdecl]<IntPtr> GetBuildInfoString;                                  // 254

    public OrtApi(IntPtr table)
    {
        var t = (IntPtr*)table;
        GetErrorCode = (delegate* unmanaged[Cdecl]<IntPtr, int>)t[1];
        GetErrorMessage = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr>)t[2];
        CreateEnv = (delegate* unmanaged[Cdecl]<int, byte*, IntPtr*, IntPtr>)t[3];
        CreateSession = (delegate* unmanaged[Cdecl]<IntPtr, void*, IntPtr, IntPtr*, IntPtr>)t[7];
        CreateSessionFromArray = (delegate* unmanaged[Cdecl]<IntPtr, void*, nuint, IntPtr, IntPtr*, IntPtr>)t[8];
        Run = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr*, IntPtr*, nuint, IntPtr*, nuint, IntPtr*, IntPtr>)t[9];
        CreateSessionOptions = (delegate* unmanaged[Cdecl]<IntPtr*, IntPtr>)t[10];
        SetOptimizedModelFilePath = (delegate* unmanaged[Cdecl]<IntPtr, void*, IntPtr>)t[11];
        SetSessionExecutionMode = (delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr>)t[13];
        DisableMemPattern = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr>)t[17];
        SetSessionGraphOptimizationLevel = (delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr>)t[23];
        SetIntraOpNumThreads = (delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr>)t[24];
        SetInterOpNumThreads = (delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr>)t[25];
        SessionGetInputCount = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr>)t[30];
        SessionGetOutputCount = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr>)t[31];
        SessionGetInputTypeInfo = (delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr*, IntPtr>)t[33];
        SessionGetOutputTypeInfo = (delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr*, IntPtr>)t[34];
        SessionGetInputName = (delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr, IntPtr*, IntPtr>)t[36];
        SessionGetOutputName = (delegate* unmanaged[Cdecl]<IntPtr, nuint, IntPtr, IntPtr*, IntPtr>)t[37];
        CreateRunOptions = (delegate* unmanaged[Cdecl]<IntPtr*, IntPtr>)t[39];
        RunOptionsSetTerminate = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr>)t[46];
        CreateTensorWithDataAsOrtValue = (delegate* unmanaged[Cdecl]<IntPtr, void*, nuint, long*, nuint, int, IntPtr*, IntPtr>)t[49];
        GetTensorMutableData = (delegate* unmanaged[Cdecl]<IntPtr, void**, IntPtr>)t[51];
        CastTypeInfoToTensorInfo = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr*, IntPtr>)t[55];
        GetOnnxTypeFromTypeInfo = (delegate* unmanaged[Cdecl]<IntPtr, int*, IntPtr>)t[56];
        GetTensorElementType = (delegate* unmanaged[Cdecl]<IntPtr, int*, IntPtr>)t[60];
        GetDimensionsCount = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr>)t[61];
        GetDimensions = (delegate* unmanaged[Cdecl]<IntPtr, long*, nuint, IntPtr>)t[62];
        GetTensorShapeElementCount = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, IntPtr>)t[64];
        GetTensorTypeAndShape = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr*, IntPtr>)t[65];
        GetValueType = (delegate* unmanaged[Cdecl]<IntPtr, int*, IntPtr>)t[67];
        CreateCpuMemoryInfo = (delegate* unmanaged[Cdecl]<int, int, IntPtr*, IntPtr>)t[69];
        AllocatorFree = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr>)t[76];
        GetAllocatorWithDefaultOptions = (delegate* unmanaged[Cdecl]<IntPtr*, IntPtr>)t[78];
        ReleaseEnv = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[92];
        ReleaseStatus = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[93];
        ReleaseMemoryInfo = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[94];
        ReleaseSession = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[95];
        ReleaseValue = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[96];
        ReleaseRunOptions = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[97];
        ReleaseTypeInfo = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[98];
        ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[99];
        ReleaseSessionOptions = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[100];
        GetAvailableProviders = (delegate* unmanaged[Cdecl]<IntPtr*, int*, IntPtr>)t[125];
        ReleaseAvailableProviders = (delegate* unmanaged[Cdecl]<IntPtr, int, IntPtr>)t[126];
        AddSessionConfigEntry = (delegate* unmanaged[Cdecl]<IntPtr, byte*, byte*, IntPtr>)t[130];
        SessionOptionsAppendExecutionProvider_CUDA_V2 = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr>)t[204];
        CreateCUDAProviderOptions = (delegate* unmanaged[Cdecl]<IntPtr*, IntPtr>)t[205];
        UpdateCUDAProviderOptions = (delegate* unmanaged[Cdecl]<IntPtr, byte**, byte**, nuint, IntPtr>)t[206];
        ReleaseCUDAProviderOptions = (delegate* unmanaged[Cdecl]<IntPtr, void>)t[208];
        SessionOptionsAppendExecutionProvider = (delegate* unmanaged[Cdecl]<IntPtr, byte*, byte**, byte**, nuint, IntPtr>)t[216];
        GetBuildInfoString = (delegate* unmanaged[Cdecl]<IntPtr>)t[254];
    }

    /// <summary>Throws <see cref="OnnxRuntimeException"/> for a non-null status, always releasing it.</summary>
    public void Check(IntPtr status)
    {
        if (status != IntPtr.Zero) throw ToException(status);
    }

    /// <summary>Reads code and message from a status and releases it.</summary>
    public OnnxRuntimeException ToException(IntPtr status)
    {
        try
        {
            var code = (OrtErrorCode)GetErrorCode(status);
            var message = Marshal.PtrToStringUTF8(GetErrorMessage(status)) ?? "";
            return new OnnxRuntimeException(code, message);
        }
        finally
        {
            ReleaseStatus(status);
        }
    }

    /// <summary>Reads only the code of a status and releases it (used where the message does not matter).</summary>
    public OrtErrorCode ReleaseAndGetCode(IntPtr status)
    {
        try { return (OrtErrorCode)GetErrorCode(status); }
        finally { ReleaseStatus(status); }
    }
}
