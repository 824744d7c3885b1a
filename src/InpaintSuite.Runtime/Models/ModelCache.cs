using System.Diagnostics;

namespace InpaintSuite.Runtime.Models;

/// <summary>Counters of a <see cref="ModelCache{T}"/> at one moment (for tests, logs and diagnostics).</summary>
/// <param name="Loads">Loader calls started (a failed load counts here and in <paramref name="LoadFailures"/>).</param>
/// <param name="Hits">Acquires served by an entry that was already loaded (a diffusion job makes one per component at its start and one per model call).</param>
/// <param name="SharedLoads">Acquires that found their key loading and waited for that one load instead of starting another.</param>
/// <param name="Evictions">Entries released to stay under the budget.</param>
/// <param name="LoadFailures">Loads that threw (the key is not cached; the next acquire retries).</param>
/// <param name="BytesResident">Estimated bytes of every loaded and loading entry.</param>
/// <param name="Entries">Loaded and loading entries.</param>
/// <param name="Leases">Leases not yet returned.</param>
/// <param name="BudgetBytes">The budget eviction aims for.</param>
public readonly record struct ModelCacheStatistics(
    long Loads, long Hits, long SharedLoads, long Evictions, long LoadFailures,
    long BytesResident, int Entries, int Leases, long BudgetBytes)
{
    public override string ToString() =>
        $"loads {Loads}, hits {Hits}, shared loads {SharedLoads}, evictions {Evictions}, failures {LoadFailures}, " +
        $"resident {ModelMemory.Format(BytesResident)} of {ModelMemory.Format(BudgetBytes)} in {Entries} entries, {Leases} leases";
}

/// <summary>What happened to one cache entry (the daemon logs these).</summary>
public enum ModelCacheEventKind { Loaded, LoadFailed, Evicted, Invalidated }

/// <param name="Kind">What happened.</param>
/// <param name="Key">The entry's key (a component file path for sessions).</param>
/// <param name="Bytes">The entry's estimated cost.</param>
/// <param name="Elapsed">Load time (zero for evictions).</param>
/// <param name="BytesResident">The cache's estimated total after the event.</param>
/// <param name="Error">Why a load failed.</param>
public sealed record ModelCacheEvent(ModelCacheEventKind Kind, string Key, long Bytes, TimeSpan Elapsed, long BytesResident, Exception? Error = null);

/// <summary>
/// A cache of expensive, disposable values (ONNX Runtime sessions, see <see cref="ModelSessionCache"/>) under a byte
/// budget. <see cref="Acquire"/> returns a lease; a leased value is never disposed. Entries are loaded once and reused;
/// when the estimated total exceeds the budget, the least recently used unleased entries are disposed (before a load,
/// to make room for it, and whenever a lease returns). When everything is leased the cache goes over budget for as long
/// as the leases last rather than fail a job; a single value larger than the whole budget still loads.
/// Concurrent acquires of a key that is loading wait for that one load (single flight); a load that throws is not
/// cached, its waiters get the same exception, and the next acquire tries again. Thread-safe.
/// </summary>
/// <typeparam name="TKey">Identity of a value (for sessions: file path and session options).</typeparam>
/// <typeparam name="T">The cached value.</typeparam>
public class ModelCache<TKey, T> : IDisposable where TKey : notnull where T : class, IDisposable
{
    private readonly Func<TKey, T> _load;
    private readonly Func<TKey, long> _estimateBytes;
    private readonly Dictionary<TKey, Entry> _entries = new();
    // Loaded entries, least recently used first. Loading entries are not in it (they cannot be evicted).
    private readonly LinkedList<Entry> _lru = new();
    private readonly Lock _lock = new();
    private long _budget;
    private long _bytes;
    private long _loads, _hits, _shared, _evictions, _failures;
    private int _leases;
    private bool _disposed;

    /// <param name="budgetBytes">Estimated bytes the cache aims to stay under (at least 0; 0 keeps only leased entries).</param>
    /// <param name="load">Creates the value for a key (runs outside the cache's lock, once per key at a time).</param>
    /// <param name="estimateBytes">The value's cost before it is loaded (so room can be made first).</param>
    public ModelCache(long budgetBytes, Func<TKey, T> load, Func<TKey, long> estimateBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(estimateBytes);
        _budget = budgetBytes;
        _load = load;
        _estimateBytes = estimateBytes;
    }

    /// <summary>Reports loads, failed loads and evictions; called outside the cache's lock, must not throw.</summary>
    public Action<ModelCacheEvent>? Observer { get; set; }

    /// <summary>The budget in estimated bytes. Lowering it evicts unleased entries right away.</summary>
    public long BudgetBytes
    {
        get { lock (_lock) return _budget; }
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            List<Entry> evicted;
            lock (_lock)
            {
                _budget = value;
                evicted = TrimLocked();
            }
            Release(evicted);
        }
    }

    public ModelCacheStatistics Statistics
    {
        get
        {
            lock (_lock)
                return new ModelCacheStatistics(_loads, _hits, _shared, _evictions, _failures, _bytes, _entries.Count, _leases, _budget);
        }
    }

    /// <summary>True when <paramref name="key"/> is loaded (not loading, not evicted).</summary>
    public bool IsLoaded(TKey key)
    {
        lock (_lock) return _entries.TryGetValue(key, out var e) && e.Node != null;
    }

    /// <summary>Loaded keys, least recently used first.</summary>
    public IReadOnlyList<TKey> LoadedKeys
    {
        get { lock (_lock) return _lru.Select(e => e.Key).ToList(); }
    }

    /// <summary>
    /// The value for <paramref name="key"/>, loading it if needed (or waiting for the load already running).
    /// Dispose the lease when done; until then the value is not disposed. <paramref name="cancellationToken"/> stops
    /// the wait for another caller's load, never a load itself (others may be waiting for it).
    /// </summary>
    public ModelLease<T> Acquire(TKey key, CancellationToken cancellationToken = default)
    {
        var (entry, owner) = Enter(key);
        if (owner) return LoadAsOwner(entry);
        try
        {
            entry.Loaded.Task.Wait(cancellationToken);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            Leave(entry);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException!);
        }
        catch
        {
            Leave(entry);
            throw;
        }
        return NewLease(entry, entry.Loaded.Task.Result);
    }

    /// <summary>As <see cref="Acquire"/>, loading on the thread pool (for warm-up and async callers).</summary>
    public async Task<ModelLease<T>> AcquireAsync(TKey key, CancellationToken cancellationToken = default)
    {
        var (entry, owner) = Enter(key);
        if (owner) return await Task.Run(() => LoadAsOwner(entry), CancellationToken.None).ConfigureAwait(false);
        try
        {
            var value = await entry.Loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return NewLease(entry, value);
        }
        catch
        {
            Leave(entry);
            throw;
        }
    }

    /// <summary>Finds or creates the entry and counts a lease on it (so it cannot be evicted while the caller waits).</summary>
    private (Entry Entry, bool Owner) Enter(TKey key)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _leases++;
            if (_entries.TryGetValue(key, out var entry))
            {
                entry.Leases++;
                if (entry.Node != null)
                {
                    _hits++;
                    Touch(entry);
                }
                else _shared++;
                return (entry, false);
            }
            entry = new Entry(key) { Leases = 1 };
            _entries.Add(key, entry);
            _loads++;
            return (entry, true);
        }
    }

    private ModelLease<T> LoadAsOwner(Entry entry)
    {
        long start = Stopwatch.GetTimestamp();
        T value;
        List<Entry> evicted;
        try
        {
            long cost = Math.Max(0, _estimateBytes(entry.Key));
            lock (_lock)
            {
                entry.Bytes = cost;
                _bytes += cost;
                // Make room before loading, so the peak is the budget (or the leased set), not budget + this model.
                evicted = TrimLocked();
            }
            Release(evicted);
            value = _load(entry.Key) ?? throw new InvalidOperationException($"the loader returned null for '{entry.Key}'");
        }
        catch (Exception e)
        {
            long resident;
            lock (_lock)
            {
                _failures++;
                RemoveIfCurrent(entry);
                _bytes -= entry.Bytes;
                _leases -= entry.Leases;
                entry.Leases = 0;
                resident = _bytes;
            }
            entry.Loaded.TrySetException(e);
            Notify(new ModelCacheEvent(ModelCacheEventKind.LoadFailed, entry.Key.ToString() ?? "", entry.Bytes, Stopwatch.GetElapsedTime(start), resident, e));
            throw;
        }
        long total;
        lock (_lock)
        {
            entry.Value = value;
            entry.Node = _lru.AddLast(entry);
            total = _bytes;
        }
        Notify(new ModelCacheEvent(ModelCacheEventKind.Loaded, entry.Key.ToString() ?? "", entry.Bytes, Stopwatch.GetElapsedTime(start), total));
        entry.Loaded.TrySetResult(value);
        return NewLease(entry, value);
    }

    /// <summary>A waiter that gave up (cancelled, or the load failed): its lease count goes, nothing else changes.</summary>
    private void Leave(Entry entry)
    {
        List<Entry> evicted;
        lock (_lock)
        {
            // A failed load already removed the entry and its lease counts.
            if (entry.Leases == 0) return;
            entry.Leases--;
            _leases--;
            evicted = AfterReleaseLocked(entry);
        }
        Release(evicted);
    }

    private ModelLease<T> NewLease(Entry entry, T value) => new(() => Return(entry), value);

    private void Return(Entry entry)
    {
        List<Entry> evicted;
        lock (_lock)
        {
            entry.Leases--;
            _leases--;
            if (entry.Node != null) Touch(entry);
            evicted = AfterReleaseLocked(entry);
        }
        Release(evicted);
    }

    private List<Entry> AfterReleaseLocked(Entry entry)
    {
        if (_disposed || entry.Detached)
        {
            // Disposal and invalidation leave leased entries alone; the last lease out releases the value.
            if (entry.Leases == 0 && entry.Node != null)
            {
                _lru.Remove(entry.Node);
                entry.Node = null;
                RemoveIfCurrent(entry);
                _bytes -= entry.Bytes;
                if (_disposed) return [entry];
                var trimmed = TrimLocked();
                trimmed.Insert(0, entry);
                return trimmed;
            }
            return _disposed ? [] : TrimLocked();
        }
        return TrimLocked();
    }

    private void RemoveIfCurrent(Entry entry)
    {
        if (_entries.TryGetValue(entry.Key, out var current) && ReferenceEquals(current, entry)) _entries.Remove(entry.Key);
    }

    /// <summary>
    /// Forgets every key <paramref name="match"/> accepts, because what it names has changed (a model folder replaced
    /// or removed): the next acquire loads afresh. Unleased values are disposed now; leased ones (a running job) stay
    /// valid for their holders and are disposed when the last lease returns. Returns how many keys were forgotten.
    /// </summary>
    public int Invalidate(Func<TKey, bool> match)
    {
        ArgumentNullException.ThrowIfNull(match);
        List<Entry> released = [];
        int count = 0;
        lock (_lock)
        {
            if (_disposed) return 0;
            foreach (var e in _entries.Values.Where(e => match(e.Key)).ToList())
            {
                count++;
                _entries.Remove(e.Key);
                e.Detached = true;
                if (e.Leases == 0 && e.Node != null)
                {
                    _lru.Remove(e.Node);
                    e.Node = null;
                    _bytes -= e.Bytes;
                    released.Add(e);
                }
            }
        }
        Release(released, ModelCacheEventKind.Invalidated);
        return count;
    }

    private void Touch(Entry entry)
    {
        _lru.Remove(entry.Node!);
        _lru.AddLast(entry.Node!);
    }

    /// <summary>Unlinks least-recently-used unleased entries while over budget; the caller disposes them outside the lock.</summary>
    private List<Entry> TrimLocked()
    {
        List<Entry>? evicted = null;
        var node = _lru.First;
        while (_bytes > _budget && node != null)
        {
            var next = node.Next;
            var e = node.Value;
            if (e.Leases == 0)
            {
                _lru.Remove(node);
                e.Node = null;
                RemoveIfCurrent(e);
                _bytes -= e.Bytes;
                _evictions++;
                (evicted ??= []).Add(e);
            }
            node = next;
        }
        return evicted ?? [];
    }

    private void Release(List<Entry> evicted, ModelCacheEventKind kind = ModelCacheEventKind.Evicted)
    {
        if (evicted.Count == 0) return;
        long resident;
        lock (_lock) resident = _bytes;
        foreach (var e in evicted)
        {
            e.Value?.Dispose();
            if (!_disposed) Notify(new ModelCacheEvent(e.Detached ? ModelCacheEventKind.Invalidated : kind, e.Key.ToString() ?? "", e.Bytes, TimeSpan.Zero, resident));
        }
    }

    private void Notify(ModelCacheEvent e)
    {
        try { Observer?.Invoke(e); }
        catch (Exception) { /* an observer is a logger; it must not break a load */ }
    }

    /// <summary>Disposes every unleased value now and each leased one when its last lease returns; later acquires throw.</summary>
    public void Dispose()
    {
        List<Entry> released = [];
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var e in _lru.ToList())
            {
                if (e.Leases > 0) continue;
                _lru.Remove(e.Node!);
                e.Node = null;
                RemoveIfCurrent(e);
                _bytes -= e.Bytes;
                released.Add(e);
            }
        }
        Release(released);
        GC.SuppressFinalize(this);
    }

    private sealed class Entry(TKey key)
    {
        public TKey Key { get; } = key;
        public T? Value;
        public long Bytes;
        public int Leases;
        /// <summary>Set once loaded (the entry is then in the LRU list); null while loading and after eviction.</summary>
        public LinkedListNode<Entry>? Node;
        /// <summary>Invalidated: no longer reachable by key; disposed when its last lease returns.</summary>
        public bool Detached;
        public readonly TaskCompletionSource<T> Loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>A loaded value held for use; disposing it (once, from any thread) lets the cache evict it again.</summary>
public sealed class ModelLease<T> : IDisposable where T : class, IDisposable
{
    private Action? _return;

    internal ModelLease(Action returnToCache, T value)
    {
        _return = returnToCache;
        Value = value;
    }

    public T Value { get; }

    public void Dispose() => Interlocked.Exchange(ref _return, null)?.Invoke();
}
