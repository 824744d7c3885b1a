using System.Diagnostics;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>
/// Where the binding reports decisions a user may want to know (the auto provider fell back, and why).
/// A library must not write to the console of whoever hosts it: the daemon routes this to its log, and the
/// same text is always available from <see cref="OnnxRuntimeInfo.Describe"/> (GetCapabilities, `inpaintsuite models`).
/// </summary>
public static class OnnxRuntimeLog
{
    /// <summary>Receives each message; null = <see cref="Trace"/> only.</summary>
    public static Action<string>? Sink { get; set; }

    internal static void Write(string message)
    {
        Trace.WriteLine("onnxruntime: " + message);
        Sink?.Invoke(message);
    }
}
