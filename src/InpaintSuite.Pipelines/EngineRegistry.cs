namespace InpaintSuite.Pipelines;

/// <summary>
/// Engines by name. Engines come from outside (constructor or <see cref="Register"/>): the "fill" engine,
/// the content-aware engine, and one engine per installed diffusion model. Names are case-insensitive.
/// "auto" resolves, for an operation, to the first registered diffusion engine (any engine other than
/// "fill" and "content-aware") that supports it, else "content-aware", else "fill".
/// </summary>
public sealed class EngineRegistry
{
    private readonly List<IFillEngine> _engines = [];
    private readonly Lock _lock = new();

    public EngineRegistry(IEnumerable<IFillEngine> engines)
    {
        foreach (var e in engines) Register(e);
    }

    /// <summary>A registry holding the built-in "fill" engine followed by <paramref name="engines"/>.</summary>
    public static EngineRegistry WithBuiltIns(IEnumerable<IFillEngine>? engines = null)
        => new(new IFillEngine[] { new Engines.BlurFillEngine() }.Concat(engines ?? []));

    public IReadOnlyList<IFillEngine> Engines { get { lock (_lock) return _engines.ToArray(); } }

    /// <summary>Adds an engine; a later engine with the same name replaces the earlier one.</summary>
    public void Register(IFillEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (string.Equals(engine.Name, EngineNames.Auto, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException("an engine cannot be called 'auto'", nameof(engine));
        lock (_lock)
        {
            int i = _engines.FindIndex(e => string.Equals(e.Name, engine.Name, StringComparison.OrdinalIgnoreCase));
            if (i >= 0) _engines[i] = engine; else _engines.Add(engine);
        }
    }

    /// <summary>Removes the engine called <paramref name="name"/> (a model that was uninstalled); false if there was none.</summary>
    public bool Unregister(string name)
    {
        lock (_lock) return _engines.RemoveAll(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)) > 0;
    }

    public bool TryGet(string name, out IFillEngine engine)
    {
        lock (_lock) engine = _engines.Find(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))!;
        return engine != null;
    }

    public static bool IsDiffusion(IFillEngine e)
        => !string.Equals(e.Name, EngineNames.Fill, StringComparison.OrdinalIgnoreCase)
           && !string.Equals(e.Name, EngineNames.ContentAware, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The engine for <paramref name="name"/> and <paramref name="operation"/>. Throws
    /// <see cref="EngineNotFoundException"/> for an unknown name (or "auto" with nothing suitable installed) and
    /// <see cref="InvalidRequestException"/> (field "engine") when the named engine cannot run the operation.
    /// </summary>
    public IFillEngine Resolve(string? name, Operation operation)
    {
        if (string.IsNullOrWhiteSpace(name) || string.Equals(name, EngineNames.Auto, StringComparison.OrdinalIgnoreCase))
        {
            var all = Engines;
            var pick = all.FirstOrDefault(e => IsDiffusion(e) && e.Supports(operation))
                       ?? all.FirstOrDefault(e => string.Equals(e.Name, EngineNames.ContentAware, StringComparison.OrdinalIgnoreCase) && e.Supports(operation))
                       ?? all.FirstOrDefault(e => string.Equals(e.Name, EngineNames.Fill, StringComparison.OrdinalIgnoreCase) && e.Supports(operation));
            return pick ?? throw new EngineNotFoundException(EngineNames.Auto,
                $"engine 'auto' found no installed engine for {OperationNames.Of(operation)}: it needs a diffusion model (install one, see the models folder)");
        }
        if (!TryGet(name, out var engine)) throw new EngineNotFoundException(name);
        if (!engine.Supports(operation))
            throw new InvalidRequestException("engine",
                $"engine '{engine.Name}' cannot run {OperationNames.Of(operation)}"
                + (IsDiffusion(engine) ? "" : $"; {OperationNames.Of(operation)} needs a diffusion model engine"));
        return engine;
    }
}

public static class OperationNames
{
    public static string Of(Operation op) => op switch
    {
        Operation.Inpaint => "inpaint",
        Operation.Outpaint => "outpaint",
        Operation.ImageToImage => "img2img",
        Operation.DepthToImage => "depth-to-image",
        Operation.TextToImage => "txt2img",
        _ => op.ToString(),
    };
}
