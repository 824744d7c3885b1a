using InpaintSuite.Runtime.Models;
using Microsoft.Extensions.Logging;

namespace InpaintSuite.Daemon;

/// <summary>Log lines for the session cache's loads, failed loads and evictions.</summary>
internal static partial class ModelCacheLog
{
    public static void Write(ILogger logger, ModelCacheEvent e)
    {
        switch (e.Kind)
        {
            case ModelCacheEventKind.Loaded:
                Loaded(logger, e.Key, ModelMemory.Format(e.Bytes), e.Elapsed.TotalMilliseconds, ModelMemory.Format(e.BytesResident));
                break;
            case ModelCacheEventKind.Evicted:
                Evicted(logger, e.Key, ModelMemory.Format(e.Bytes), ModelMemory.Format(e.BytesResident));
                break;
            case ModelCacheEventKind.Invalidated:
                Invalidated(logger, e.Key, ModelMemory.Format(e.Bytes), ModelMemory.Format(e.BytesResident));
                break;
            case ModelCacheEventKind.LoadFailed:
                LoadFailed(logger, e.Key, e.Error?.Message ?? "");
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "loaded {Path} ({Size}) in {Milliseconds:F0} ms; {Resident} resident")]
    private static partial void Loaded(ILogger logger, string path, string size, double milliseconds, string resident);

    [LoggerMessage(Level = LogLevel.Information, Message = "released {Path} ({Size}): its model folder was replaced or removed; {Resident} resident")]
    private static partial void Invalidated(ILogger logger, string path, string size, string resident);

    [LoggerMessage(Level = LogLevel.Information, Message = "evicted {Path} ({Size}) to stay under the model memory budget; {Resident} resident")]
    private static partial void Evicted(ILogger logger, string path, string size, string resident);

    /// <summary>A model's run-time decision (fp16 VAE upcast, NaN/inf fallback).</summary>
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Note}")]
    public static partial void Note(ILogger logger, string note);

    [LoggerMessage(Level = LogLevel.Warning, Message = "loading {Path} failed: {Reason}")]
    private static partial void LoadFailed(ILogger logger, string path, string reason);
}
