using InpaintSuite.Runtime.Schedulers;

namespace InpaintSuite.Daemon.A1111;

/// <summary>One A1111 sampler we can run, and our scheduler for it (and for its Karras variant, when there is one).</summary>
public sealed record A1111Sampler(string Name, string[] Aliases, string Ours, string? OursKarras);

/// <summary>
/// A1111 sampler and scheduler names to our noise schedulers. Names compare case-insensitively and match A1111's
/// aliases (k_euler_a, ...); the pre-1.9 "X Karras" names equal sampler X with scheduler "karras".
/// </summary>
public static class A1111Samplers
{
    /// <summary>A1111's default when a request names no sampler (its API models default sampler_index to "Euler").</summary>
    public const string DefaultSampler = "Euler";

    public const string Automatic = "automatic";
    public const string Karras = "karras";

    private static readonly A1111Sampler[] All =
    [
        new("DPM++ 2M", ["k_dpmpp_2m"], "dpmpp_2m", "dpmpp_2m_karras"),
        new("Euler a", ["k_euler_a", "k_euler_ancestral"], "euler_ancestral", null),
        new("Euler", ["k_euler"], "euler", null),
        new("DDIM", ["ddim"], "ddim", null),
        // A1111's PLMS is the pseudo linear multi-step method diffusers calls PNDM (PLMS steps only).
        new("PLMS", ["plms", "PNDM", "pndm"], "pndm", null),
        new("UniPC", ["unipc"], "unipc", null),
        new("LCM", ["k_lcm", "lcm"], "lcm", null),
        // Not an A1111 sampler, but Forge and SD.Next list it under this name.
        new("DDPM", ["ddpm"], "ddpm", null),
    ];

    /// <summary>The samplers this build runs (those whose scheduler exists), in A1111's list order.</summary>
    public static IReadOnlyList<A1111Sampler> Available { get; } = [.. All.Where(s => NoiseScheduler.Names.Contains(s.Ours))];

    /// <summary>A1111 scheduler names we accept: "automatic" (the sampler's own) and "karras" (where the sampler has it).</summary>
    public static IReadOnlyList<string> Schedulers { get; } = [Automatic, Karras];

    /// <summary>Every accepted sampler spelling, for error messages.</summary>
    public static string AcceptedSamplers => string.Join(", ", Available.Select(s => s.Name).Concat(Available.Where(s => s.OursKarras != null).Select(s => s.Name + " Karras")));

    /// <summary>
    /// Our scheduler for sampler <paramref name="sampler"/> (null/empty = A1111's default) and A1111 scheduler
    /// <paramref name="scheduler"/> (null/empty = automatic). Unknown names throw <see cref="A1111Exception"/> 422
    /// naming the field and the accepted values.
    /// </summary>
    public static (A1111Sampler Sampler, string Ours, bool Karras) Resolve(string? sampler, string? scheduler, string samplerField = "sampler_name")
    {
        var name = string.IsNullOrWhiteSpace(sampler) ? DefaultSampler : sampler.Trim();
        bool karras = false;
        var match = Find(name);
        if (match == null && name.EndsWith(" Karras", StringComparison.OrdinalIgnoreCase))
        {
            match = Find(name[..^" Karras".Length]);
            karras = match != null;
        }
        if (match == null)
            throw A1111Exception.Unprocessable(samplerField, $"{samplerField}: sampler '{name}' is not available; accepted: {AcceptedSamplers}");
        var sched = string.IsNullOrWhiteSpace(scheduler) ? Automatic : scheduler.Trim().ToLowerInvariant();
        if (sched == Karras) karras = true;
        else if (sched is not (Automatic or "")) // A1111's other schedules (uniform, exponential, ...) have no counterpart here
            throw A1111Exception.Unprocessable("scheduler", $"scheduler: '{scheduler}' is not available; accepted: {string.Join(", ", Schedulers)} (karras only with {string.Join(", ", Available.Where(s => s.OursKarras != null).Select(s => s.Name))})");
        if (karras && match.OursKarras == null)
            throw A1111Exception.Unprocessable("scheduler", $"scheduler: sampler '{match.Name}' has no Karras schedule here; use scheduler 'automatic', or one of: {string.Join(", ", Available.Where(s => s.OursKarras != null).Select(s => s.Name))}");
        return (match, karras ? match.OursKarras! : match.Ours, karras);
    }

    private static A1111Sampler? Find(string name) =>
        Available.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase)
                                     || s.Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)));
}
