using System.Buffers;
using System.Runtime.InteropServices;
using Ort = Microsoft.ML.OnnxRuntime;

namespace InpaintSuite.Runtime.Onnx;

/// <summary>What a model input or output is: name, element type and shape (symbolic / dynamic dims are -1).</summary>
public sealed record OrtNodeInfo(string Name, OrtElementType ElementType, IReadOnlyList<long> Dimensions, bool IsTensor)
{
    public override string ToString() =>
        IsTensor ? $"{Name}: {ElementType}[{string.Join(", ", Dimensions.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]" : $"{Name}: (non-tensor)";
}

/// <summary>
/// An ONNX model loaded into ONNX Runtime (the official managed API's session behind this facade). Run is thread-safe
/// (ONNX Runtime allows concurrent runs of one session); each run gets its own RunOptions so cancelling one run never
/// touches another.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly Ort.InferenceSession session;
    private readonly SessionLifetime lifetime;
    private readonly Dictionary<string, int> inputIndex;
    private readonly Dictionary<string, int> outputIndex;
    private readonly string[] allOutputNames;

    private InferenceSession(Ort.InferenceSession session, string executionProvider, string? providerNote)
    {
        this.session = session;
        lifetime = new SessionLifetime(session);
        ExecutionProvider = executionProvider;
        ProviderNote = providerNote;
        try
        {
            Inputs = ReadNodes(session.InputNames, session.InputMetadata);
            Outputs = ReadNodes(session.OutputNames, session.OutputMetadata);
        }
        catch
        {
            lifetime.Dispose();
            throw;
        }
        inputIndex = Inputs.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        outputIndex = Outputs.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        allOutputNames = Outputs.Select(o => o.Name).ToArray();
    }

    public IReadOnlyList<OrtNodeInfo> Inputs { get; }

    public IReadOnlyList<OrtNodeInfo> Outputs { get; }

    /// <summary>The provider the session runs on: "CPU", "CUDA" or "DirectML".</summary>
    public string ExecutionProvider { get; }

    /// <summary>Why <see cref="ExecutionProviderKind.Auto"/> fell back (null when it got its first choice or was not asked to choose).</summary>
    public string? ProviderNote { get; }

    /// <summary>Loads a model file.</summary>
    public static InferenceSession Load(string modelPath, OrtSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        options ??= OrtSessionOptions.Default;
        var full = Path.GetFullPath(modelPath);
        if (!File.Exists(full)) throw new FileNotFoundException($"ONNX model not found: {full}", full);
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
        return Create(effective, opts => new Ort.InferenceSession(loadPath, opts));
    }

    /// <summary>Loads a model from its serialised bytes (e.g. a graph patched in memory).</summary>
    public static InferenceSession Load(ReadOnlyMemory<byte> model, OrtSessionOptions? options = null)
    {
        // The managed API takes a byte[]; a memory that is exactly one whole array is passed without a copy.
        var bytes = MemoryMarshal.TryGetArray(model, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : model.ToArray();
        return Create(options ?? OrtSessionOptions.Default, opts => new Ort.InferenceSession(bytes, opts));
    }

    private static InferenceSession Create(OrtSessionOptions options, Func<Ort.SessionOptions, Ort.InferenceSession> create)
    {
        string failedProvider, failure;
        using (var built = ExecutionProviders.Build(options))
        {
            try
            {
                return new InferenceSession(New(create, built.Options), built.Provider, built.Note);
            }
            // A GPU provider can append fine and still fail when the session is built (no device, driver too old): auto
            // then tries CPU. Errors in the model itself would fail on CPU too, so they surface as they are.
            catch (OnnxRuntimeException error) when (options.ExecutionProvider == ExecutionProviderKind.Auto && built.Provider != "CPU"
                && error.ErrorCode is not (OrtErrorCode.InvalidProtobuf or OrtErrorCode.NoSuchFile or OrtErrorCode.NoModel or OrtErrorCode.InvalidGraph))
            {
                failedProvider = built.Provider;
                failure = error.NativeMessage;
            }
        }
        using var cpuOptions = ExecutionProviders.Build(options with { ExecutionProvider = ExecutionProviderKind.Cpu });
        var cpu = New(create, cpuOptions.Options); // a failure here is the model's, not the GPU's: thrown as is
        // Only a CPU session that works proves the GPU was the problem; later auto sessions then skip it.
        ExecutionProviders.RecordAutoFailure(failedProvider, failure);
        return new InferenceSession(cpu, "CPU", ExecutionProviders.AutoDecision?.Note);
    }

    private static Ort.InferenceSession New(Func<Ort.SessionOptions, Ort.InferenceSession> create, Ort.SessionOptions options)
    {
        try { return create(options); }
        catch (Ort.OnnxRuntimeException e) { throw OrtErrors.Wrap(e); }
    }

    private static OrtNodeInfo[] ReadNodes(IReadOnlyList<string> names, IReadOnlyDictionary<string, Ort.NodeMetadata> metadata)
    {
        var nodes = new OrtNodeInfo[names.Count];
        for (int i = 0; i < names.Count; i++)
        {
            var m = metadata[names[i]];
            nodes[i] = m.IsTensor
                ? new OrtNodeInfo(names[i], (OrtElementType)(int)m.ElementDataType, m.Dimensions.Select(d => (long)d).ToArray(), IsTensor: true)
                : new OrtNodeInfo(names[i], OrtElementType.Undefined, [], IsTensor: false);
        }
        return nodes;
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
        // Held for the whole run: Dispose on another thread defers the native release until we return (the managed
        // session alone would free the native session under a running Run).
        bool added = false;
        try
        {
            lifetime.DangerousAddRef(ref added);
            return RunCore(inputs, outputs, cancellationToken);
        }
        finally
        {
            if (added) lifetime.DangerousRelease();
        }
    }

    private unsafe IReadOnlyDictionary<string, OrtTensor> RunCore(IReadOnlyDictionary<string, OrtTensor> inputs, IReadOnlyList<string>? outputs, CancellationToken cancellationToken)
    {
        var memoryInfo = OrtEnvironment.Instance.CpuMemoryInfo;
        int inCount = inputs.Count;
        var requested = outputs ?? allOutputNames;
        var inNames = new string[inCount];
        var fed = new OrtTensor[inCount];
        int k = 0;
        foreach (var (name, tensor) in inputs)
        {
            if (!inputIndex.TryGetValue(name, out var idx))
                throw new ArgumentException($"the model has no input '{name}'; its inputs are: {string.Join(", ", Inputs)}", nameof(inputs));
            ArgumentNullException.ThrowIfNull(tensor, name);
            inNames[k] = name;
            fed[k] = Coerce(Inputs[idx], tensor);
            k++;
        }
        foreach (var name in requested)
            if (!outputIndex.ContainsKey(name))
                throw new ArgumentException($"the model has no output '{name}'; its outputs are: {string.Join(", ", Outputs)}", nameof(outputs));

        var pins = new MemoryHandle[inCount];
        var values = new Ort.OrtValue[inCount];
        try
        {
            for (int i = 0; i < inCount; i++)
            {
                // Fed without a copy: the OrtValue points at the pinned managed memory for the duration of the run.
                pins[i] = fed[i].Pin();
                var data = pins[i].Pointer == null ? EmptyData : (IntPtr)pins[i].Pointer;
                values[i] = Ort.OrtValue.CreateTensorValueWithData(memoryInfo, (Ort.Tensors.TensorElementType)(int)fed[i].ElementType,
                    fed[i].Dimensions, data, fed[i].ElementCount * fed[i].ElementSize);
            }

            using var run = new RunScope(cancellationToken);
            Ort.IDisposableReadOnlyCollection<Ort.OrtValue> results;
            try
            {
                results = session.Run(run.Options, inNames, values, requested);
            }
            catch (Ort.OnnxRuntimeException e)
            {
                run.Complete(); // after this the cancellation callback can no longer fire
                // Decided by the token, never by message text: a terminate we requested is a cancellation.
                if (run.Terminated || cancellationToken.IsCancellationRequested)
                    throw new OperationCanceledException($"ONNX Runtime run cancelled ({OrtErrors.Wrap(e).ErrorCode})", e, cancellationToken);
                throw OrtErrors.Wrap(e);
            }
            using (results)
            {
                var map = new Dictionary<string, OrtTensor>(requested.Count, StringComparer.Ordinal);
                int j = 0;
                foreach (var value in results) map[requested[j]] = CopyOut(value, requested[j++]);
                return map;
            }
        }
        finally
        {
            for (int i = 0; i < inCount; i++)
            {
                values[i]?.Dispose();
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
    private static readonly unsafe IntPtr EmptyData = (IntPtr)NativeMemory.AllocZeroed(16);

    private static OrtTensor CopyOut(Ort.OrtValue value, string name)
    {
        if (!value.IsTensor) throw new NotSupportedException($"output '{name}' is not a tensor ({value.OnnxType}); only tensor outputs are supported");
        var info = value.GetTensorTypeAndShape();
        var elementType = (OrtElementType)(int)info.ElementDataType;
        var dims = info.Shape;
        var raw = info.ElementCount > 0 ? value.GetTensorMutableRawData() : Span<byte>.Empty;
        return elementType switch
        {
            OrtElementType.Float => Copy<float>(raw, dims),
            OrtElementType.Float16 => Copy<Half>(raw, dims),
            OrtElementType.Int64 => Copy<long>(raw, dims),
            OrtElementType.Int32 => Copy<int>(raw, dims),
            OrtElementType.UInt8 => Copy<byte>(raw, dims),
            OrtElementType.Bool => Copy<bool>(raw, dims),
            OrtElementType.Int8 => Copy<sbyte>(raw, dims),
            OrtElementType.Int16 => Copy<short>(raw, dims),
            OrtElementType.UInt16 => Copy<ushort>(raw, dims),
            OrtElementType.UInt32 => Copy<uint>(raw, dims),
            OrtElementType.UInt64 => Copy<ulong>(raw, dims),
            OrtElementType.Double => Copy<double>(raw, dims),
            _ => throw new NotSupportedException($"output '{name}' has element type {elementType}, which this binding does not read"),
        };
    }

    private static OrtTensor<T> Copy<T>(Span<byte> raw, long[] dims) where T : unmanaged
    {
        var source = MemoryMarshal.Cast<byte, T>(raw);
        var array = new T[source.Length]; // always a fresh array (ToArray would share Array.Empty for empty outputs)
        source.CopyTo(array);
        return new OrtTensor<T>(array, dims);
    }

    /// <summary>Releases the session; a run in progress on another thread finishes first (it holds a reference).</summary>
    public void Dispose() => lifetime.Dispose();

    /// <summary>Reference count around the managed session: released once, after the last run in flight returned.</summary>
    private sealed class SessionLifetime : SafeHandle
    {
        private readonly Ort.InferenceSession session;

        public SessionLifetime(Ort.InferenceSession session) : base(IntPtr.Zero, ownsHandle: true)
        {
            this.session = session;
            SetHandle(1); // not a native pointer: only the count matters
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            session.Dispose();
            return true;
        }
    }

    /// <summary>One run's RunOptions and the cancellation registration that terminates it.</summary>
    private sealed class RunScope : IDisposable
    {
        private CancellationTokenRegistration registration;
        private int terminated;

        public RunScope(CancellationToken token)
        {
            Options = new Ort.RunOptions();
            if (token.CanBeCanceled) registration = token.UnsafeRegister(static s => ((RunScope)s!).Terminate(), this);
        }

        public Ort.RunOptions Options { get; }

        public bool Terminated => Volatile.Read(ref terminated) != 0;

        private void Terminate()
        {
            Volatile.Write(ref terminated, 1);
            Options.Terminate = true; // ONNX Runtime checks the flag between operators
        }

        /// <summary>Unregisters, waiting for a callback already running, so the options outlive every terminate call.</summary>
        public void Complete() => registration.Dispose();

        public void Dispose()
        {
            registration.Dispose();
            Options.Dispose();
        }
    }
}
