using InpaintSuite.Pipelines;

namespace InpaintSuite.Daemon;

/// <summary>
/// The one place that composes the engines a process offers: the built-in "fill", the content-aware
/// engine, and one engine per usable model in the models folder. The daemon (serve) and the CLI's
/// in-process runs both start from here, so they offer the same engines.
/// </summary>
public sealed class EngineSetup : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    private EngineSetup(EngineRegistry registry, IEngineCatalog catalog)
    {
        Registry = registry;
        Runner = new OperationRunner(registry);
        Catalog = catalog;
    }

    public EngineRegistry Registry { get; }

    public IOperationRunner Runner { get; }

    public IEngineCatalog Catalog { get; }

    /// <summary>Engines for <paramref name="modelsDirectory"/> (null = none installed: classical engines only).</summary>
    public static EngineSetup Create(string? modelsDirectory)
    {
        var registry = EngineRegistry.WithBuiltIns();
        var catalog = new StaticEngineCatalog(registry.Engines.Select(e => e.Name).ToList());
        return new EngineSetup(registry, catalog);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _owned) await d.DisposeAsync().ConfigureAwait(false);
        _owned.Clear();
    }
}
