using System.Runtime.CompilerServices;

namespace InpaintSuite.Runtime.Noise;

/// <summary>A source of standard-normal float32 values (initial latents, stochastic scheduler steps).</summary>
public interface INoiseSource
{
    /// <summary>Fills <paramref name="destination"/> with the next values of the stream.</summary>
    void NextGaussian(Span<float> destination);
}

/// <summary>
/// Seeded Gaussian noise that is bit-identical on every OS, CPU and .NET version.
/// <para>
/// Algorithm (documented so other implementations can reproduce it):
/// value pair k (stream positions 2k, 2k+1) comes from the counter-based PRNG Philox4x32-10 (Salmon et al. 2011,
/// the generator of Random123/cuRAND/JAX) with key = (seed low 32 bits, seed high 32 bits) and counter =
/// (k low 32, k high 32, attempt, 0x4E4F4953). Its four 32-bit outputs give u = ((o0&lt;&lt;21 | o1&gt;&gt;11) / 2^53)*2-1 and
/// v likewise from (o2, o3). Marsaglia's polar method accepts when 0 &lt; s = u²+v² &lt; 1 (else attempt+1) and returns
/// (float)(u·f), (float)(v·f) with f = sqrt(-2·ln(s)/s). ln is computed with basic IEEE-754 double operations only
/// (frexp-style split and an atanh series), and sqrt is correctly rounded, so no platform libm is involved.
/// </para>
/// Values are a pure function of (seed, position): <see cref="Fill"/> can fill any window of the stream.
/// </summary>
public sealed class GaussianNoise : INoiseSource
{
    private const uint Tag = 0x4E4F4953; // "NOIS": separates this stream from other uses of the same key
    private readonly ulong _seed;

    public GaussianNoise(ulong seed) => _seed = seed;

    public ulong Seed => _seed;

    /// <summary>Stream position of the next value <see cref="NextGaussian"/> returns.</summary>
    public long Position { get; set; }

    public void NextGaussian(Span<float> destination)
    {
        Fill(_seed, Position, destination);
        Position += destination.Length;
    }

    /// <summary>Fills <paramref name="destination"/> with stream values [position, position + length) of <paramref name="seed"/>.</summary>
    public static void Fill(ulong seed, long position, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        int i = 0;
        long pos = position;
        if ((pos & 1) == 1 && destination.Length > 0)
        {
            Pair(k0, k1, (ulong)(pos >> 1), out _, out float second);
            destination[i++] = second;
            pos++;
        }
        for (; i + 1 < destination.Length; i += 2, pos += 2)
        {
            Pair(k0, k1, (ulong)(pos >> 1), out destination[i], out destination[i + 1]);
        }
        if (i < destination.Length)
        {
            Pair(k0, k1, (ulong)(pos >> 1), out float first, out _);
            destination[i] = first;
        }
    }

    private static void Pair(uint k0, uint k1, ulong pair, out float z0, out float z1)
    {
        for (uint attempt = 0; ; attempt++)
        {
            Philox4x32(k0, k1, (uint)pair, (uint)(pair >> 32), attempt, Tag, out uint o0, out uint o1, out uint o2, out uint o3);
            double u = ToUnit(o0, o1) * 2.0 - 1.0;
            double v = ToUnit(o2, o3) * 2.0 - 1.0;
            double s = u * u + v * v;
            if (s >= 1.0 || s == 0.0) continue;
            double f = Math.Sqrt(-2.0 * DeterministicLog(s) / s);
            z0 = (float)(u * f);
            z1 = (float)(v * f);
            return;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ToUnit(uint hi, uint lo) => ((((ulong)hi) << 21) | (lo >> 11)) * (1.0 / 9007199254740992.0);

    /// <summary>Philox4x32 with 10 rounds (Random123 constants).</summary>
    internal static void Philox4x32(uint k0, uint k1, uint c0, uint c1, uint c2, uint c3, out uint o0, out uint o1, out uint o2, out uint o3)
    {
        const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;
        for (int r = 0; r < 10; r++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            uint n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            k0 += W0; k1 += W1;
        }
        o0 = c0; o1 = c1; o2 = c2; o3 = c3;
    }

    /// <summary>Natural log of a positive finite double from + − × ÷ only (deterministic everywhere); error ≲ 2 ulp.</summary>
    internal static double DeterministicLog(double x)
    {
        if (!(x > 0) || double.IsInfinity(x)) throw new ArgumentOutOfRangeException(nameof(x));
        long bits = BitConverter.DoubleToInt64Bits(x);
        int e = (int)((bits >> 52) & 0x7FF);
        if (e == 0)
        {
            // subnormal: scale into the normal range first
            x *= 18014398509481984.0; // 2^54
            bits = BitConverter.DoubleToInt64Bits(x);
            e = (int)((bits >> 52) & 0x7FF) - 54;
        }
        int exponent = e - 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L); // [1, 2)
        if (m > 1.4142135623730951) { m *= 0.5; exponent++; }
        double t = (m - 1.0) / (m + 1.0);
        double t2 = t * t;
        // atanh series: ln m = 2 (t + t^3/3 + ... + t^23/23); |t| <= 0.1716 so the next term is < 1e-19
        double sum = 1.0 / 23.0;
        for (int k = 21; k >= 1; k -= 2) sum = sum * t2 + 1.0 / k;
        const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;
        return exponent * Ln2Hi + (exponent * Ln2Lo + 2.0 * t * sum);
    }
}

/// <summary>Replays given arrays in order (tests inject reference noise; pipelines can inject saved noise).</summary>
public sealed class QueuedNoise : INoiseSource
{
    private readonly Queue<float[]> _queue;

    public QueuedNoise(IEnumerable<float[]> arrays) => _queue = new Queue<float[]>(arrays);

    public int Remaining => _queue.Count;

    public void NextGaussian(Span<float> destination)
    {
        if (_queue.Count == 0) throw new InvalidOperationException("no injected noise left");
        var a = _queue.Dequeue();
        if (a.Length != destination.Length) throw new ArgumentException($"injected noise has {a.Length} values, {destination.Length} requested");
        a.CopyTo(destination);
    }
}
