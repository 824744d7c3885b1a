using System.Buffers;
using System.Runtime.InteropServices;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>What a model input or output is: name, element type and shape (symbolic / dynamic dims are -1).</summary>
public sealed record OrtNodeInfo(string Name, OrtElementType ElementType, IReadOnlyList<long> Dimensions, bool IsTensor)
{
    public override string ToString() =>
        IsTensor ? $"{Name}: {ElementType}[{string.Join(", ", Dimensions.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]" : $"{Name}: (non-tensor)";
}

/// <summary>
/// An ONNX model loaded into ONNX Runtime. Run is thread-safe (ONNX Runtime allows concurrent runs of one
/// session); each run gets its own RunOptions so cancelling one run never touches another.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    private readonly OrtSessionHandle session;
    private readonly Utf8StringArray inputNames;
    private readonly Utf8StringArray outputNames;
    private readonly Dictionary<string, int> inputIndex;
    private readonly Dictionary<string, int> outputIndex;

    private InferenceSession(OrtSessionHandle session, string executionProvider, string? providerNote)
    {
        this.session = session;
        ExecutionProvider = executionProvider;
        ProviderNote = providerNote;
        try
        {
            Inputs = ReadNodes(input: true);
            Outputs = ReadNodes(input: false);
            inputNames = new Utf8StringArray(Inputs.Select(i => i.Name).ToArray());
            outputNames = new Utf8StringArray(Outputs.Select(o => o.Name).ToArray());
            inputIndex = Inputs.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
            outputIndex = Outputs.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
            session.Companions = [inputNames, outputNames];
        }
        catch
        {
            inputNames?.Dispose();
            outputNames?.Dispose();
            session.Dispose();
            throw;
        }
    }

    public IReadOnlyList<OrtNodeInfo> Inputs { get; }

    public IReadOnlyList<OrtNodeInfo> Outputs { get; }

    /// <summary>The provider the session runs on: "CPU", "CUDA" or "DirectML".</summary>
    public string ExecutionProvider { get; }

    /// <summary>Why <see cref="ExecutionProviderKind.Auto"/> fell back (null when it got its first choice or was not asked to choose).</summary>
    public string? ProviderNote { get; }

    /// <summary>Loads a model file (UTF-16 path on Windows, UTF-8 elsewhere, as ONNX Runtime expects).</summary>
    public static InferenceSession Load(string modelPath, OrtSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        options ??= OrtSessionOptions.Default;
        var full = Path.GetFullPath(modelPath);
        if (!File.Exists(full)) throw new FileNotFoundException($"ONNX model not found: {full}", full);
        var env = OrtEnvironment.Instance;
        var loadPath = full;
        var effective = options;
        if (options.OptimizedModelCachePath is { Length: > 0 } cache)
        {
            var cacheFull = Path.GetFullPath(cache);
            if (File.Exists(cacheFull) && File.GetLastWriteTimeUtc(cacheFull) >= File.GetLastWriteTimeUtc(full))
            {
                // The cached graph is already optimised; re-optimising it would only cost start-up time.
                loadPath = cacheFull;
                effective = options with { OptimizedModelCachePath = null, GraphOptimization = GraphOptimizationLevel.DisableAll };
            }
        }
        return Create(effective, (api, opts, outSession) =>
        {
            if (OperatingSystem.IsWindows())
                fixed (char* p = loadPath) return api.CreateSession(env.Handle.Pointer, p, opts, outSession);
            var bytes = System.Text.Encoding.UTF8.GetBytes(loadPath + "\0");
            fixed (byte* p = bytes) return api.CreateSession(env.Handle.Pointer, p, opts, outSession);
        });
    }

    /// <summary>Loads a model from its serialised bytes.</summary>
    public static InferenceSession Load(ReadOnlyMemory<byte> model, OrtSessionOptions? options = null)
    {
        var env = OrtEnvironment.Instance;
        return Create(options ?? OrtSessionOptions.Default, (api, opts, outSession) =>
        {
            fixed (byte* p = model.Span) return api.CreateSessionFromArray(env.Handle.Pointer, p, (nuint)model.Length, opts, outSession);
        });
    }

    private delegate IntPtr CreateCall(OrtApi api, IntPtr options, IntPtr* session);

    private static InferenceSession Create(OrtSessionOptions options, CreateCall create)
    {
        var api = OrtLibrary.Api;
        using var built = ExecutionProviders.Build(options);
        var handle = new OrtSessionHandle();
        IntPtr raw;
        var status = create(api, built.Options.Pointer, &raw);
        if (status != IntPtr.Zero)
        {
            handle.Dispose();
            var error = api.ToException(status);
            // A GPU provider can append fine and still fail when the session is built (no device, driver too old):
            // auto then falls back to CPU and records why; explicit choices and CPU failures surface as they are.
            if (options.ExecutionProvider == ExecutionProviderKind.Auto && built.Provider != "CPU" && error.ErrorCode != OrtErrorCode.InvalidProtobuf && error.ErrorCode != OrtErrorCode.NoSuchFile)
            {
                ExecutionProviders.RecordAutoFailure(built.Provider, error.NativeMessage);
                return Create(options, create);
            }
            throw error;
        }
        handle.Own(raw);
        return new InferenceSession(handle, built.Provider, built.Note);
    }

    private IReadOnlyList<OrtNodeInfo> ReadNodes(bool input)
    {
        var api = OrtLibrary.Api;
        var s = session.Pointer;
        nuint count;
        api.Check(input ? api.SessionGetInputCount(s, &count) : api.SessionGetOutputCount(s, &count));
        IntPtr allocator;
        api.Check(api.GetAllocatorWithDefaultOptions(&allocator));
        var nodes = new OrtNodeInfo[(int)count];
        for (nuint i = 0; i < count; i++)
        {
            string name;
            using (var nameHandle = new OrtAllocatedStringHandle())
            {
                IntPtr rawName;
                api.Check(input ? api.SessionGetInputName(s, i, allocator, &rawName) : api.SessionGetOutputName(s, i, allocator, &rawName));
                nameHandle.Own(rawName);
                name = nameHandle.Read();
            }
            using var typeInfo = new OrtTypeInfoHandle();
            IntPtr rawType;
            api.Check(input ? api.SessionGetInputTypeInfo(s, i, &rawType) : api.SessionGetOutputTypeInfo(s, i, &rawType));
            typeInfo.Own(rawType);
            int onnxType;
            api.Check(api.GetOnnxTypeFromTypeInfo(typeInfo.Pointer, &onnxType));
            if (onnxType != 1 /* TENSOR */)
            {
                nodes[(int)i] = new OrtNodeInfo(name, OrtElementType.Undefined, [], IsTensor: false);
                continue;
            }
            IntPtr tensorInfo; // owned by typeInfo; not released separately
            api.Check(api.CastTypeInfoToTensorInfo(typeInfo.Pointer, &tensorInfo));
            var (elementType, dims) = ReadTypeAndShape(api, tensorInfo);
            nodes[(int)i] = new OrtNodeInfo(name, elementType, dims, IsTensor: true);
        }
        return nodes;
    }

    private static (OrtElementType, long[]) ReadTypeAndShape(OrtApi api, IntPtr tensorInfo)
    {
        int elementType;
        nuint rank;
        api.Check(api.GetTensorElementType(tensorInfo, &elementType));
        api.Check(api.GetDimensionsCount(tensorInfo, &rank));
        var dims = new long[(int)rank];
        fixed (long* d = dims) api.Check(api.GetDimensions(tensorInfo, d, rank));
        return ((OrtElementType)elementType, dims);
    }

    /// <summary>Runs the model and returns every output.</summary>
    public IReadOnlyDictionary<string, OrtTensor> Run(IReadOnlyDictionary<string, OrtTensor> inputs, CancellationToken cancellationToken = default) =>
        Run(inputs, null, cancellationToken);

    /// <summary>
    /// Runs the model. float32 tensors fed to float16 inputs (and the reverse) are converted; other type mismatches
    /// throw. Cancelling <paramref name="cancellationToken"/> terminates the native run between operators and throws
    /// <see cref="OperationCanceledException"/>; the session stays usable.
    /// </summary>
    public IReadOnlyDictionary<string, OrtTensor> Run(IReadOnlyDictionary<string, OrtTensor> inputs, IReadOnlyList<string>? outputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        cancellationToken.ThrowIfCancellationRequested();
        // Held for the whole run: Dispose on another thread defers the native release (and the name arrays) until we return.
        bool added = false;
        try
        {
            session.DangerousAddRef(ref added);
            return RunCore(inputs, outputs, cancellationToken);
        }
        finally
        {
            if (added) session.DangerousRelease();
        }
    }

    private IReadOnlyDictionary<string, OrtTensor> RunCore(IReadOnlyDictionary<string, OrtTensor> inputs, IReadOnlyList<string>? outputs, CancellationToken cancellationToken)
    {
        var api = OrtLibrary.Api;
        var memoryInfo = OrtEnvironment.Instance.CpuMemoryInfo.Pointer;

        int inCount = inputs.Count;
        var requested = outputs ?? Outputs.Select(o => o.Name).ToArray();
        int outCount = requested.Count;
        var inNamePtrs = new IntPtr[inCount];
        var outNamePtrs = new IntPtr[outCount];
        var fed = new OrtTensor[inCount];
        int k = 0;
        foreach (var (name, tensor) in inputs)
        {
            if (!inputIndex.TryGetValue(name, out var idx))
                throw new ArgumentException($"the model has no input '{name}'; its inputs are: {string.Join(", ", Inputs)}", nameof(inputs));
            ArgumentNullException.ThrowIfNull(tensor, name);
            inNamePtrs[k] = (IntPtr)inputNames.Pointers[idx];
            fed[k] = Coerce(Inputs[idx], tensor);
            k++;
        }
        for (int i = 0; i < outCount; i++)
        {
            if (!outputIndex.TryGetValue(requested[i], out var idx))
                throw new ArgumentException($"the model has no output '{requested[i]}'; its outputs are: {string.Join(", ", Outputs)}", nameof(outputs));
            outNamePtrs[i] = (IntPtr)outputNames.Pointers[idx];
        }

        var pins = new MemoryHandle[inCount];
        var values = new IntPtr[inCount];
        var results = new IntPtr[outCount];
        try
        {
            for (int i = 0; i < inCount; i++)
                values[i] = CreateInputValue(api, memoryInfo, fed[i], out pins[i]);

            using var run = new RunScope(api, cancellationToken);
            IntPtr status;
            fixed (IntPtr* inNames = inNamePtrs)
            fixed (IntPtr* inValues = values)
            fixed (IntPtr* outNames = outNamePtrs)
            fixed (IntPtr* outValues = results)
            {
                status = api.Run(session.Pointer, run.Options, inNames, inValues, (nuint)inCount, outNames, (nuint)outCount, outValues);
            }
            run.Complete(); // after this the cancellation callback can no longer fire
            if (status != IntPtr.Zero)
            {
                // Decided by the token, never by message text: a terminate we requested is a cancellation.
                if (run.Terminated || cancellationToken.IsCancellationRequested)
                {
                    var code = api.ReleaseAndGetCode(status);
                    throw new OperationCanceledException($"ONNX Runtime run cancelled (native status {code})", cancellationToken);
                }
                throw api.ToException(status);
            }

            var map = new Dictionary<string, OrtTensor>(outCount, StringComparer.Ordinal);
            for (int i = 0; i < outCount; i++) map[requested[i]] = CopyOut(api, results[i], requested[i]);
            return map;
        }
        finally
        {
            for (int i = 0; i < outCount; i++) if (results[i] != IntPtr.Zero) api.ReleaseValue(results[i]);
            for (int i = 0; i < inCount; i++)
            {
                if (values[i] != IntPtr.Zero) api.ReleaseValue(values[i]);
                pins[i].Dispose();
            }
        }
    }

    /// <summary>Runs on the thread pool; cancellation as in <see cref="Run(IReadOnlyDictionary{string, OrtTensor}, IReadOnlyList{string}?, CancellationToken)"/>.</summary>
    public Task<IReadOnlyDictionary<string, OrtTensor>> RunAsync(IReadOnlyDictionary<string, OrtTensor> inputs, CancellationToken cancellationToken = default) =>
        Task.Run(() => Run(inputs, null, cancellationToken), cancellationToken);

    private static OrtTensor Coerce(OrtNodeInfo node, OrtTensor tensor)
    {
        if (!node.IsTensor || node.ElementType == tensor.ElementType) return tensor;
        if (node.ElementType == OrtElementType.Float16 && tensor.ElementType == OrtElementType.Float) return tensor.ToFloat16();
        if (node.ElementType == OrtElementType.Float && tensor.ElementType == OrtElementType.Float16) return tensor.ToFloat32();
        throw new ArgumentException($"input '{node.Name}' expects {node.ElementType}, got a {tensor.ElementType} tensor {tensor}");
    }

    // A tiny native block stands in for empty tensors, whose pinned pointer may be null.
    private static readonly IntPtr EmptyData = (IntPtr)NativeMemory.AllocZeroed(16);

    private static IntPtr CreateInputValue(OrtApi api, IntPtr memoryInfo, OrtTensor tensor, out MemoryHandle pin)
    {
        pin = tensor.Pin();
        var data = pin.Pointer == null ? (void*)EmptyData : pin.Pointer;
        var bytes = (nuint)(tensor.ElementCount * tensor.ElementSize);
        IntPtr value;
        fixed (long* shape = tensor.Dimensions)
            api.Check(api.CreateTensorWithDataAsOrtValue(memoryInfo, data, bytes, shape, (nuint)tensor.Dimensions.Length, (int)tensor.ElementType, &value));
        return value;
    }

    private static OrtTensor CopyOut(OrtApi api, IntPtr value, string name)
    {
        int valueType;
        api.Check(api.GetValueType(value, &valueType));
        if (valueType != 1) throw new NotSupportedException($"output '{name}' is not a tensor (ONNXType {valueType}); only tensor outputs are supported");
        using var info = new OrtTensorTypeAndShapeInfoHandle();
        IntPtr rawInfo;
        api.Check(api.GetTensorTypeAndShape(value, &rawInfo));
        info.Own(rawInfo);
        var (elementType, dims) = ReadTypeAndShape(api, info.Pointer);
        nuint count;
        api.Check(api.GetTensorShapeElementCount(info.Pointer, &count));
        void* data = null;
        if (count > 0) api.Check(api.GetTensorMutableData(value, &data));
        return elementType switch
        {
            OrtElementType.Float => Copy<float>(data, count, dims),
            OrtElementType.Float16 => Copy<Half>(data, count, dims),
            OrtElementType.Int64 => Copy<long>(data, count, dims),
            OrtElementType.Int32 => Copy<int>(data, count, dims),
            OrtElementType.UInt8 => Copy<byte>(data, count, dims),
            OrtElementType.Bool => Copy<bool>(data, count, dims),
            OrtElementType.Int8 => Copy<sbyte>(data, count, dims),
            OrtElementType.Int16 => Copy<short>(data, count, dims),
            OrtElementType.UInt16 => Copy<ushort>(data, count, dims),
            OrtElementType.UInt32 => Copy<uint>(data, count, dims),
            OrtElementType.UInt64 => Copy<ulong>(data, count, dims),
            OrtElementType.Double => Copy<double>(data, count, dims),
            _ => throw new NotSupportedException($"output '{name}' has element type {elementType}, which this binding does not read"),
        };
    }

    private static OrtTensor<T> Copy<T>(void* data, nuint count, long[] dims) where T : unmanaged
    {
        var array = new T[checked((int)count)];
        if (count > 0) new ReadOnlySpan<T>(data, array.Length).CopyTo(array);
        return new OrtTensor<T>(array, dims);
    }

    /// <summary>Releases the session; a run in progress on another thread finishes first (it holds a reference).</summary>
    public void Dispose() => session.Dispose();

    /// <summary>One run's RunOptions and the cancellation registration that terminates it.</summary>
    private sealed class RunScope : IDisposable
    {
        private readonly OrtApi api;
        private readonly OrtRunOptionsHandle handle = new();
        private CancellationTokenRegistration registration;
        private int terminated;

        public RunScope(OrtApi api, CancellationToken token)
        {
            this.api = api;
            IntPtr raw;
            api.Check(api.CreateRunOptions(&raw));
            handle.Own(raw);
            if (token.CanBeCanceled) registration = token.UnsafeRegister(static s => ((RunScope)s!).Terminate(), this);
        }

        public IntPtr Options => handle.Pointer;

        public bool Terminated => Volatile.Read(ref terminated) != 0;

        private void Terminate()
        {
            Volatile.Write(ref terminated, 1);
            var status = api.RunOptionsSetTerminate(handle.Pointer);
            if (status != IntPtr.Zero) api.ReleaseStatus(status);
        }

        /// <summary>Unregisters, waiting for a callback already running, so the options outlive every terminate call.</summary>
        public void Complete() => registration.Dispose();

        public void Dispose()
        {
            registration.Dispose();
            handle.Dispose();
        }
    }
}
