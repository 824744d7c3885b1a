using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>Base for every native ONNX Runtime object: released exactly once, even if the owner is never disposed.</summary>
internal abstract class OrtHandle : SafeHandle
{
    protected OrtHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The raw pointer; callers hold a DangerousAddRef or the owning object alive while using it.</summary>
    public IntPtr Pointer => handle;

    /// <summary>Takes ownership of <paramref name="pointer"/> (call right after the native create succeeded).</summary>
    public void Own(IntPtr pointer) => SetHandle(pointer);
}

internal sealed unsafe class OrtEnvHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseEnv(handle); return true; }
}

internal sealed unsafe class OrtSessionOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseSessionOptions(handle); return true; }
}

internal sealed unsafe class OrtSessionHandle : OrtHandle
{
    /// <summary>Native memory that runs use (input/output name arrays); freed only after the last run released its ref.</summary>
    public IDisposable[] Companions { get; set; } = [];

    protected override bool ReleaseHandle()
    {
        OrtLibrary.Api.ReleaseSession(handle);
        foreach (var c in Companions) c.Dispose();
        return true;
    }
}

internal sealed unsafe class OrtMemoryInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseMemoryInfo(handle); return true; }
}

internal sealed unsafe class OrtValueHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseValue(handle); return true; }
}

internal sealed unsafe class OrtRunOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseRunOptions(handle); return true; }
}

internal sealed unsafe class OrtTypeInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseTypeInfo(handle); return true; }
}

internal sealed unsafe class OrtTensorTypeAndShapeInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseTensorTypeAndShapeInfo(handle); return true; }
}

internal sealed unsafe class OrtCudaProviderOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseCUDAProviderOptions(handle); return true; }
}

/// <summary>A string ONNX Runtime allocated with the default allocator (input/output names); freed with AllocatorFree.</summary>
internal sealed unsafe class OrtAllocatedStringHandle : OrtHandle
{
    public string Read() => Marshal.PtrToStringUTF8(handle) ?? "";

    protected override bool ReleaseHandle()
    {
        var api = OrtLibrary.Api;
        IntPtr allocator;
        var status = api.GetAllocatorWithDefaultOptions(&allocator);
        if (status != IntPtr.Zero) { api.ReleaseStatus(status); return false; }
        status = api.AllocatorFree(allocator, handle);
        if (status != IntPtr.Zero) { api.ReleaseStatus(status); return false; }
        return true;
    }
}

/// <summary>NUL-terminated UTF-8 copies of strings in one native block, for char* arrays passed to ONNX Runtime.</summary>
internal sealed unsafe class Utf8StringArray : IDisposable
{
    private IntPtr block;

    public Utf8StringArray(IReadOnlyList<string> strings)
    {
        Count = strings.Count;
        var bytes = new byte[strings.Count][];
        nuint total = (nuint)(sizeof(IntPtr) * Math.Max(1, strings.Count));
        for (int i = 0; i < strings.Count; i++)
        {
            bytes[i] = System.Text.Encoding.UTF8.GetBytes(strings[i] + "\0");
            total += (nuint)bytes[i].Length;
        }
        block = (IntPtr)NativeMemory.Alloc(total);
        var pointers = (byte**)block;
        var cursor = (byte*)block + sizeof(IntPtr) * Math.Max(1, strings.Count);
        for (int i = 0; i < strings.Count; i++)
        {
            pointers[i] = cursor;
            bytes[i].CopyTo(new Span<byte>(cursor, bytes[i].Length));
            cursor += bytes[i].Length;
        }
    }

    public int Count { get; }

    /// <summary>The char** array; valid until Dispose.</summary>
    public byte** Pointers => (byte**)block;

    public void Dispose()
    {
        if (block != IntPtr.Zero) NativeMemory.Free((void*)block);
        block = IntPtr.Zero;
        GC.SuppressFinalize(this);
    }

    ~Utf8StringArray() => Dispose();
}
