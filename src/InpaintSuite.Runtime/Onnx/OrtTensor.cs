using System.Buffers;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>ONNXTensorElementDataType values this binding exchanges.</summary>
public enum OrtElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    BFloat16 = 16,
}

/// <summary>
/// A dense, row-major CPU tensor: element type, shape and managed memory. Inputs are fed to ONNX Runtime
/// by pinning this memory (no copy); outputs come back as new tensors owning copied data.
/// </summary>
public abstract class OrtTensor
{
    private protected OrtTensor(OrtElementType elementType, ReadOnlySpan<long> shape)
    {
        ElementType = elementType;
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"tensor dimensions must be >= 0, got [{string.Join(", ", shape.ToArray())}]", nameof(shape));
        Dimensions = shape.ToArray();
        ElementCount = ShapeElementCount(shape);
    }

    public OrtElementType ElementType { get; }

    /// <summary>The shape (a copy is kept; the tensor never changes it).</summary>
    public IReadOnlyList<long> Shape => Dimensions;

    internal long[] Dimensions { get; }

    public long ElementCount { get; }

    internal abstract int ElementSize { get; }

    internal abstract MemoryHandle Pin();

    /// <summary>The data as float32: float32 returned as is, float16 converted (vectorised); other types throw.</summary>
    public OrtTensor<float> ToFloat32() => this switch
    {
        OrtTensor<float> f => f,
        OrtTensor<Half> h => new OrtTensor<float>(HalfConversion.ToSingle(h.Span), Dimensions),
        _ => throw new InvalidOperationException($"a {ElementType} tensor cannot be read as float32"),
    };

    /// <summary>The data as float16: float16 returned as is, float32 converted (vectorised); other types throw.</summary>
    public OrtTensor<Half> ToFloat16() => this switch
    {
        OrtTensor<Half> h => h,
        OrtTensor<float> f => new OrtTensor<Half>(HalfConversion.ToHalf(f.Span), Dimensions),
        _ => throw new InvalidOperationException($"a {ElementType} tensor cannot be converted to float16"),
    };

    public static OrtTensor<T> Create<T>(T[] data, params long[] shape) where T : unmanaged => new(data, shape);

    public static OrtTensor<T> Create<T>(Memory<T> data, params long[] shape) where T : unmanaged => new(data, shape);

    /// <summary>A zero-filled tensor.</summary>
    public static OrtTensor<T> Zeros<T>(params long[] shape) where T : unmanaged => new(new T[checked((int)ShapeElementCount(shape))], shape);

    internal static long ShapeElementCount(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }

    internal static OrtElementType ElementTypeOf<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? OrtElementType.Float
        : typeof(T) == typeof(Half) ? OrtElementType.Float16
        : typeof(T) == typeof(long) ? OrtElementType.Int64
        : typeof(T) == typeof(int) ? OrtElementType.Int32
        : typeof(T) == typeof(byte) ? OrtElementType.UInt8
        : typeof(T) == typeof(bool) ? OrtElementType.Bool
        : typeof(T) == typeof(sbyte) ? OrtElementType.Int8
        : typeof(T) == typeof(short) ? OrtElementType.Int16
        : typeof(T) == typeof(ushort) ? OrtElementType.UInt16
        : typeof(T) == typeof(uint) ? OrtElementType.UInt32
        : typeof(T) == typeof(ulong) ? OrtElementType.UInt64
        : typeof(T) == typeof(double) ? OrtElementType.Double
        : throw new NotSupportedException($"{typeof(T).Name} is not an ONNX tensor element type this binding supports");

    public override string ToString() => $"{ElementType}[{string.Join(", ", Dimensions)}]";
}

/// <summary>A dense tensor of <typeparamref name="T"/> (float, Half, long, int, byte, bool, ...).</summary>
public sealed class OrtTensor<T> : OrtTensor where T : unmanaged
{
    public OrtTensor(Memory<T> memory, ReadOnlySpan<long> shape) : base(ElementTypeOf<T>(), shape)
    {
        if (memory.Length != ElementCount)
            throw new ArgumentException($"shape [{string.Join(", ", shape.ToArray())}] needs {ElementCount} elements, the memory holds {memory.Length}");
        Memory = memory;
    }

    public Memory<T> Memory { get; }

    public Span<T> Span => Memory.Span;

    internal override unsafe int ElementSize => sizeof(T);

    internal override MemoryHandle Pin() => Memory.Pin();

    /// <summary>Element at a row-major multi-index.</summary>
    public T this[params long[] index]
    {
        get => Span[checked((int)FlatIndex(index))];
        set => Span[checked((int)FlatIndex(index))] = value;
    }

    private long FlatIndex(long[] index)
    {
        if (index.Length != Dimensions.Length) throw new ArgumentException($"expected {Dimensions.Length} indices");
        long flat = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((ulong)index[i] >= (ulong)Dimensions[i]) throw new IndexOutOfRangeException();
            flat = flat * Dimensions[i] + index[i];
        }
        return flat;
    }
}
