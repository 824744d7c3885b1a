using System.Numerics;

namespace InpaintSuite.Imaging;

/// <summary>
/// Exact Euclidean distance transform (Felzenszwalb &amp; Huttenlocher, "Distance Transforms of Sampled
/// Functions", 2012): a vertical pass (two sweeps, row-vectorised) gives each pixel the distance to the
/// nearest feature pixel in its column; a per-row lower-envelope-of-parabolas pass makes it exact in 2-D.
/// O(width*height), independent of the distance, unlike repeated 3x3 dilations.
/// </summary>
public static class DistanceTransform
{
    /// <summary>
    /// Squared distance from every pixel to the nearest pixel where <paramref name="isFeature"/> holds.
    /// Where there is no feature pixel at all, every value is <see cref="NoFeature"/>.
    /// When <paramref name="nearest"/> is non-null it receives the index (y*width+x) of a nearest feature pixel (-1 if none).
    /// </summary>
    public static long[] SquaredEdt(ReadOnlySpan<byte> plane, int width, int height, Func<byte, bool> isFeature, int[]? nearest = null)
    {
        var feature = new byte[width * height];
        for (int i = 0; i < feature.Length; i++) feature[i] = isFeature(plane[i]) ? (byte)1 : (byte)0;
        return SquaredEdtOfFeatures(feature, width, height, nearest);
    }

    /// <summary>Value used for "no feature pixel anywhere".</summary>
    public const long NoFeature = long.MaxValue / 4;

    /// <summary>EDT where <paramref name="feature"/>[i] != 0 marks feature pixels.</summary>
    public static long[] SquaredEdtOfFeatures(byte[] feature, int width, int height, int[]? nearest = null)
    {
        // Column distance (in rows) to the nearest feature pixel, and its row, via two sweeps over rows.
        int inf = width + height + 2;
        var colDist = new int[width * height];
        var colRow = nearest != null ? new int[width * height] : null;
        for (int y = 0; y < height; y++)
        {
            var f = feature.AsSpan(y * width, width);
            var g = colDist.AsSpan(y * width, width);
            if (y == 0)
            {
                for (int x = 0; x < width; x++) g[x] = f[x] != 0 ? 0 : inf;
            }
            else
            {
                var prev = colDist.AsSpan((y - 1) * width, width);
                ForwardRow(f, prev, g, inf);
            }
            if (colRow != null)
            {
                var r = colRow.AsSpan(y * width, width);
                for (int x = 0; x < width; x++) r[x] = f[x] != 0 ? y : (y > 0 && g[x] < inf ? colRow[(y - 1) * width + x] : -1);
            }
        }
        for (int y = height - 2; y >= 0; y--)
        {
            var g = colDist.AsSpan(y * width, width);
            var next = colDist.AsSpan((y + 1) * width, width);
            if (colRow == null) BackwardRow(g, next);
            else
            {
                for (int x = 0; x < width; x++)
                {
                    int cand = next[x] + 1;
                    if (cand < g[x]) { g[x] = cand; colRow[y * width + x] = colRow[(y + 1) * width + x]; }
                }
            }
        }

        var result = new long[width * height];
        Parallel.For(0, height, new ParallelOptions { MaxDegreeOfParallelism = width * height > 1 << 16 ? -1 : 1 }, () => new RowScratch(width), (y, _, s) =>
        {
            var g = colDist.AsSpan(y * width, width);
            for (int x = 0; x < width; x++) s.F[x] = g[x] >= inf ? NoFeature : (long)g[x] * g[x];
            Envelope(s.F, result.AsSpan(y * width, width), s.Arg, s.V, s.Z, width);
            if (nearest != null)
            {
                for (int x = 0; x < width; x++)
                {
                    int ax = s.Arg[x];
                    nearest[y * width + x] = ax < 0 ? -1 : colRow![y * width + ax] * width + ax;
                }
            }
            return s;
        }, _ => { });
        return result;
    }

    private sealed class RowScratch(int n)
    {
        public readonly long[] F = new long[n];
        public readonly int[] Arg = new int[n];
        public readonly int[] V = new int[n];
        public readonly double[] Z = new double[n + 1];
    }

    private static void ForwardRow(ReadOnlySpan<byte> f, ReadOnlySpan<int> prev, Span<int> g, int inf)
    {
        for (int x = 0; x < f.Length; x++) g[x] = f[x] != 0 ? 0 : Math.Min(prev[x] + 1, inf);
    }

    private static void BackwardRow(Span<int> g, ReadOnlySpan<int> next)
    {
        int x = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var one = Vector<int>.One;
            for (; x <= g.Length - Vector<int>.Count; x += Vector<int>.Count)
                Vector.Min(new Vector<int>(g[x..]), new Vector<int>(next[x..]) + one).CopyTo(g[x..]);
        }
        for (; x < g.Length; x++) g[x] = Math.Min(g[x], next[x] + 1);
    }

    /// <summary>1-D squared EDT of sampled function f (lower envelope of parabolas); only finite samples are parabola sites.</summary>
    private static void Envelope(long[] f, Span<long> d, int[] arg, int[] v, double[] z, int n)
    {
        int k = -1;
        for (int q = 0; q < n; q++)
        {
            if (f[q] >= NoFeature) continue;
            if (k < 0) { k = 0; v[0] = q; z[0] = double.NegativeInfinity; z[1] = double.PositiveInfinity; continue; }
            double s = Intersect(f, v[k], q);
            while (s <= z[k]) { k--; s = Intersect(f, v[k], q); } // z[0] = -inf stops this at k = 0
            k++;
            v[k] = q;
            z[k] = s;
            z[k + 1] = double.PositiveInfinity;
        }
        if (k < 0)
        {
            d.Fill(NoFeature);
            arg.AsSpan(0, n).Fill(-1);
            return;
        }
        int j = 0;
        for (int q = 0; q < n; q++)
        {
            while (z[j + 1] < q) j++;
            long dx = q - v[j];
            d[q] = dx * dx + f[v[j]];
            arg[q] = v[j];
        }
    }

    private static double Intersect(long[] f, int p, int q) => ((f[q] + (double)q * q) - (f[p] + (double)p * p)) / (2.0 * (q - p));

    /// <summary>Brute-force reference (tests only): O(n^2).</summary>
    internal static long[] SquaredEdtReference(byte[] feature, int width, int height)
    {
        var r = new long[width * height];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            long best = NoFeature;
            for (int yy = 0; yy < height; yy++)
            for (int xx = 0; xx < width; xx++)
                if (feature[yy * width + xx] != 0)
                    best = Math.Min(best, (long)(x - xx) * (x - xx) + (long)(y - yy) * (y - yy));
            r[y * width + x] = best;
        }
        return r;
    }
}
