using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace InpaintSuite.Imaging.ContentAware;

/// <summary>
/// Multi-scale PatchMatch image completion with EM voting (Wexler et al. 2007, Barnes et al. 2009) on one crop.
/// Pixels are 4 floats: R, G, B (0..255) and a luminance-gradient feature, so the patch distance also compares
/// how textured a patch is (a smooth guess is then not matched by smooth sources only).
/// Deterministic for a seed: rows are processed in fixed 16-row bands, each with its own RNG, and a band reads
/// other bands' nearest-neighbour field only from the snapshot taken before the pass.
/// </summary>
internal sealed unsafe class PatchMatchCompletion
{
    private const int BandRows = 16;
    private const int Channels = 4;

    private readonly ContentAwareOptions _o;
    private readonly int _p, _r;
    private readonly List<Level> _levels = [];
    private readonly ParallelOptions _po;
    private readonly float _locality;

    private sealed class Level
    {
        public int W, H;
        public float[] Pix = [];
        public byte[] Hole = [];
        public float[] Depth = [];      // chamfer distance into the hole (0 on known pixels)
        public float MaxDepth;
        public byte[] ValidSource = [];
        public int[] Sources = [];
        public byte[] IsTarget = [];
        public int TargetCount;
        public int TyMin, TyMax;        // rows holding target centres
        public int[] Nnf = [];
        public float[] Weight = [];
        public float[] Acc = [];
        public float[] AccW = [];
        public float[] Dist = [];
        public int EmIterations;
        public float[]? Guide;          // smooth fill of the hole (RGB), the structure the votes are pulled towards
        public float GuideAlpha;
    }

    public PatchMatchCompletion(float[] pix, byte[] hole, int width, int height, ContentAwareOptions options, CancellationToken ct)
    {
        _o = options;
        _p = options.PatchSize;
        _r = _p / 2;
        _locality = options.LocalityWeight * _p * _p;
        _po = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = ct };
        if (width < _p || height < _p)
            throw new NothingToCopyException($"the region {width}x{height} is smaller than one {_p}x{_p} patch: nothing to copy from");

        var top = Prepare(width, height, pix, hole, 1);
        if (top.Sources.Length == 0)
            throw new NothingToCopyException($"no {_p}x{_p} patch of known pixels around the hole: nothing to copy from");
        _levels.Add(top);
        while (true)
        {
            var cur = _levels[^1];
            if (cur.MaxDepth <= _r) break; // every hole pixel is within a patch radius of known pixels
            int cw = (cur.W + 1) / 2, ch = (cur.H + 1) / 2;
            if (Math.Min(cw, ch) < Math.Max(2 * _p, 16)) break;
            var coarse = Downsample(cur, 1 << _levels.Count);
            if (coarse.Sources.Length < 16) break;
            _levels.Add(coarse);
        }
        int n = _levels.Count;
        for (int l = 0; l < n; l++)
        {
            double t = n == 1 ? 1 : (double)l / (n - 1);
            _levels[l].EmIterations = (int)Math.Round(options.FinestEmIterations + (options.CoarsestEmIterations - options.FinestEmIterations) * t);
            // A single level means a thin hole (strokes): the onion-peel start is already close, and its targets
            // (every patch touching the stroke) outnumber the hole pixels several times.
            if (n == 1) _levels[l].EmIterations = Math.Max(options.FinestEmIterations, options.CoarsestEmIterations / 3);
            _levels[l].GuideAlpha = (float)(options.GuideFinest + (options.GuideCoarsest - options.GuideFinest) * Math.Pow(t, options.GuideFalloff));
        }
        TotalIterations = _levels.Sum(l => l.EmIterations);
    }

    public int TotalIterations { get; }

    public int LevelCount => _levels.Count;

    /// <summary>Fills the hole pixels of the finest level's plane (the array passed in) in place.</summary>
    public void Run(Action onIteration, CancellationToken ct)
    {
        int n = _levels.Count;
        var coarsest = _levels[n - 1];
        OnionPeelFill(coarsest.Pix, coarsest.Hole, coarsest.W, coarsest.H, ct);
        if (coarsest.GuideAlpha > 0) coarsest.Guide = (float[])coarsest.Pix.Clone();
        ComputeFeatures(coarsest);
        RandomInitNnf(coarsest, Key(n - 1, 0xFFFF));
        RecomputeDistances(coarsest);
        for (int l = n - 1; l >= 0; l--)
        {
            var lv = _levels[l];
            if (l < n - 1)
            {
                var coarse = _levels[l + 1];
                if (lv.GuideAlpha > 0)
                {
                    lv.Guide = (float[])lv.Pix.Clone();
                    OnionPeelFill(lv.Guide, lv.Hole, lv.W, lv.H, ct);
                }
                UpsampleImage(coarse, lv);
                ComputeFeatures(lv);
                UpsampleNnf(coarse, lv, Key(l, 0xFFFE));
                RecomputeDistances(lv);
                Vote(lv, ContentAwareVoting.Mean);
                ApplyGuide(lv);
                RecomputeDistances(lv);
            }
            for (int em = 0; em < lv.EmIterations; em++)
            {
                ct.ThrowIfCancellationRequested();
                int passes = l == 0 && n > 1 ? _o.FinestPatchMatchIterations : _o.PatchMatchIterations;
                for (int pm = 0; pm < passes; pm++)
                    PatchMatchPass(lv, pm + em * _o.PatchMatchIterations, Key(l, em * 64 + pm), l == n - 1, l == 0);
                // Texture-keeping votes are gathers (slower); all others scatter a weighted mean. At the finest level
                // the last vote keeps texture; with ModeAllFinestIterations every finest vote does.
                bool sharp = l == 0 && (em == lv.EmIterations - 1 || _o.SharpVoteEveryFinestIteration);
                Vote(lv, sharp ? _o.FinestVoting : ContentAwareVoting.Mean);
                ApplyGuide(lv);
                RecomputeDistances(lv);
                onIteration();
            }
        }
    }

    /// <summary>
    /// Pulls the voted hole colours towards the level's smooth fill (structure first, texture at finer levels).
    /// With a blur radius only the local mean is pulled (pix += a (guide - box(pix))), so thin lines the
    /// patches carried survive; radius 0 pulls the colours themselves.
    /// </summary>
    private void ApplyGuide(Level lv)
    {
        if (lv.Guide is not { } g || lv.GuideAlpha <= 0) return;
        float a = lv.GuideAlpha, b = 1 - a;
        var pix = lv.Pix; var hole = lv.Hole;
        int R = _o.GuideBlurRadius;
        if (R == 0)
        {
            for (int i = 0; i < hole.Length; i++)
            {
                if (hole[i] == 0) continue;
                for (int k = 0; k < 3; k++) pix[i * 4 + k] = b * pix[i * 4 + k] + a * g[i * 4 + k];
            }
            return;
        }
        int w = lv.W, h = lv.H;
        var mean = BoxMean(pix, w, h, R);
        for (int i = 0; i < hole.Length; i++)
        {
            if (hole[i] == 0) continue;
            for (int k = 0; k < 3; k++) pix[i * 4 + k] += a * (g[i * 4 + k] - mean[i * 4 + k]);
        }
    }

    /// <summary>Box mean of radius <paramref name="R"/> (clamped at the borders) of the RGB channels, by running sums.</summary>
    private static float[] BoxMean(float[] pix, int w, int h, int R)
    {
        var tmp = new float[w * h * 4];
        var res = new float[w * h * 4];
        for (int y = 0; y < h; y++)
        {
            int row = y * w;
            for (int k = 0; k < 3; k++)
            {
                float sum = 0; int n = 0;
                for (int x = 0; x <= Math.Min(R, w - 1); x++) { sum += pix[(row + x) * 4 + k]; n++; }
                for (int x = 0; x < w; x++)
                {
                    tmp[(row + x) * 4 + k] = sum / n;
                    int add = x + R + 1, sub = x - R;
                    if (add < w) { sum += pix[(row + add) * 4 + k]; n++; }
                    if (sub >= 0) { sum -= pix[(row + sub) * 4 + k]; n--; }
                }
            }
        }
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
            {
                float sum = 0; int n = 0;
                for (int y = 0; y <= Math.Min(R, h - 1); y++) { sum += tmp[(y * w + x) * 4 + k]; n++; }
                for (int y = 0; y < h; y++)
                {
                    res[(y * w + x) * 4 + k] = sum / n;
                    int add = y + R + 1, sub = y - R;
                    if (add < h) { sum += tmp[(add * w + x) * 4 + k]; n++; }
                    if (sub >= 0) { sum -= tmp[(sub * w + x) * 4 + k]; n--; }
                }
            }
        return res;
    }

    private ulong Key(int level, int iteration) => Mix(_o.Seed ^ Mix(((ulong)(uint)level << 32) | (uint)iteration));

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Small deterministic RNG (SplitMix64), one per band.</summary>
    private struct Rng(ulong state)
    {
        private ulong _s = state;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong Next()
        {
            _s += 0x9E3779B97F4A7C15UL;
            ulong z = _s;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, n).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Below(int n) => (int)((Next() >> 32) * (ulong)n >> 32);
    }

    // ---------------------------------------------------------------- level set-up

    private Level Prepare(int w, int h, float[] pix, byte[] hole, int scale)
    {
        // Set-up of a 2048² crop takes 100-300 ms before the first iteration: it polls the token per row, like the iterations' bands.
        var ct = _po.CancellationToken;
        var lv = new Level { W = w, H = h, Pix = pix, Hole = hole };
        lv.Depth = Chamfer(w, h, i => hole[i] == 0, ct);
        float max = 0;
        for (int i = 0; i < lv.Depth.Length; i++) if (hole[i] != 0 && lv.Depth[i] > max) max = lv.Depth[i];
        lv.MaxDepth = max;

        // Hole count per patch from a summed-area table: 0 = a source patch, > 0 = a target patch.
        var sat = new int[(w + 1) * (h + 1)];
        for (int y = 0; y < h; y++)
        {
            ct.ThrowIfCancellationRequested();
            int run = 0;
            for (int x = 0; x < w; x++)
            {
                run += hole[y * w + x] != 0 ? 1 : 0;
                sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + run;
            }
        }
        float[]? toHole = null;
        float band = float.PositiveInfinity;
        if (_o.SourceBand is int sb)
        {
            band = Math.Max(_p, sb / (float)scale);
            toHole = Chamfer(w, h, i => hole[i] != 0, ct);
        }
        lv.ValidSource = new byte[w * h];
        lv.IsTarget = new byte[w * h];
        var sources = new List<int>();
        lv.TyMin = int.MaxValue; lv.TyMax = -1;
        for (int y = _r; y < h - _r; y++)
        {
            ct.ThrowIfCancellationRequested();
            for (int x = _r; x < w - _r; x++)
            {
                int x0 = x - _r, y0 = y - _r, x1 = x + _r + 1, y1 = y + _r + 1;
                int count = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0] + sat[y0 * (w + 1) + x0];
                int i = y * w + x;
                if (count == 0)
                {
                    if (toHole == null || toHole[i] <= band) { lv.ValidSource[i] = 1; sources.Add(i); }
                }
                else
                {
                    lv.IsTarget[i] = 1;
                    lv.TargetCount++;
                    if (y < lv.TyMin) lv.TyMin = y;
                    if (y > lv.TyMax) lv.TyMax = y;
                }
            }
        }
        lv.Sources = sources.ToArray();
        lv.Nnf = new int[w * h];
        lv.Dist = new float[w * h];
        return lv;
    }

    /// <summary>Two-pass chamfer distance (1, sqrt 2) to the nearest pixel where <paramref name="isZero"/> holds.</summary>
    private static float[] Chamfer(int w, int h, Func<int, bool> isZero, CancellationToken ct)
    {
        const float Big = 1e9f, D = 1.41421356f;
        var d = new float[w * h];
        for (int i = 0; i < d.Length; i++) d[i] = isZero(i) ? 0 : Big;
        for (int y = 0; y < h; y++)
        {
            ct.ThrowIfCancellationRequested();
            for (int x = 0; x < w; x++)
            {
                int i = y * w + x;
                float v = d[i];
                if (v == 0) continue;
                if (x > 0) v = Math.Min(v, d[i - 1] + 1);
                if (y > 0)
                {
                    v = Math.Min(v, d[i - w] + 1);
                    if (x > 0) v = Math.Min(v, d[i - w - 1] + D);
                    if (x < w - 1) v = Math.Min(v, d[i - w + 1] + D);
                }
                d[i] = v;
            }
        }
        for (int y = h - 1; y >= 0; y--)
        {
            ct.ThrowIfCancellationRequested();
            for (int x = w - 1; x >= 0; x--)
            {
                int i = y * w + x;
                float v = d[i];
                if (v == 0) continue;
                if (x < w - 1) v = Math.Min(v, d[i + 1] + 1);
                if (y < h - 1)
                {
                    v = Math.Min(v, d[i + w] + 1);
                    if (x < w - 1) v = Math.Min(v, d[i + w + 1] + D);
                    if (x > 0) v = Math.Min(v, d[i + w - 1] + D);
                }
                d[i] = v;
            }
        }
        return d;
    }

    /// <summary>Halves the level: a coarse pixel is hole if any of its children is; its colour is the mean of known children.</summary>
    private Level Downsample(Level f, int scale)
    {
        int w = (f.W + 1) / 2, h = (f.H + 1) / 2;
        var pix = new float[w * h * Channels];
        var hole = new byte[w * h];
        for (int y = 0; y < h; y++)
        {
            _po.CancellationToken.ThrowIfCancellationRequested();
            for (int x = 0; x < w; x++)
            {
                float r = 0, g = 0, b = 0; int n = 0; bool anyHole = false;
                for (int dy = 0; dy < 2; dy++)
                {
                    int fy = 2 * y + dy; if (fy >= f.H) continue;
                    for (int dx = 0; dx < 2; dx++)
                    {
                        int fx = 2 * x + dx; if (fx >= f.W) continue;
                        int fi = fy * f.W + fx;
                        if (f.Hole[fi] != 0) { anyHole = true; continue; }
                        r += f.Pix[fi * 4]; g += f.Pix[fi * 4 + 1]; b += f.Pix[fi * 4 + 2]; n++;
                    }
                }
                int i = y * w + x;
                hole[i] = anyHole ? (byte)1 : (byte)0;
                if (n > 0) { pix[i * 4] = r / n; pix[i * 4 + 1] = g / n; pix[i * 4 + 2] = b / n; }
            }
        }
        return Prepare(w, h, pix, hole, scale);
    }

    // ---------------------------------------------------------------- initial guesses

    /// <summary>Fills the coarsest hole ring by ring with the mean of already-known 8-neighbours (a cheap diffusion).</summary>
    private static void OnionPeelFill(float[] pix, byte[] hole, int w, int h, CancellationToken ct)
    {
        var filled = new bool[w * h];
        var frontier = new List<int>();
        var queued = new bool[w * h];
        for (int i = 0; i < filled.Length; i++) filled[i] = hole[i] == 0;
        for (int i = 0; i < filled.Length; i++)
            if (!filled[i] && HasFilledNeighbour(i)) { frontier.Add(i); queued[i] = true; }
        var values = new List<(int I, float R, float G, float B)>();
        while (frontier.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            values.Clear();
            foreach (int i in frontier)
            {
                int x = i % w, y = i / w; float r = 0, g = 0, b = 0; int n = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx, ny = y + dy;
                        if ((dx | dy) == 0 || nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                        int j = ny * w + nx;
                        if (!filled[j]) continue;
                        r += pix[j * 4]; g += pix[j * 4 + 1]; b += pix[j * 4 + 2]; n++;
                    }
                values.Add((i, r / n, g / n, b / n));
            }
            var next = new List<int>();
            foreach (var (i, r, g, b) in values)
            {
                pix[i * 4] = r; pix[i * 4 + 1] = g; pix[i * 4 + 2] = b;
                filled[i] = true;
            }
            foreach (int i in frontier)
            {
                int x = i % w, y = i / w;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                        int j = ny * w + nx;
                        if (!filled[j] && !queued[j]) { queued[j] = true; next.Add(j); }
                    }
            }
            frontier = next;
        }

        bool HasFilledNeighbour(int i)
        {
            int x = i % w, y = i / w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                {
                    int nx = x + dx, ny = y + dy;
                    if (nx >= 0 && ny >= 0 && nx < w && ny < h && filled[ny * w + nx]) return true;
                }
            return false;
        }
    }

    /// <summary>
    /// Gradient-magnitude channel. Known pixels use only known neighbours (their feature must not depend on the
    /// current guess, since they are the sources); hole pixels use everything.
    /// </summary>
    private void ComputeFeatures(Level lv)
    {
        int w = lv.W, h = lv.H;
        float lambda = _o.GradientWeight;
        var pix = lv.Pix; var hole = lv.Hole;
        var lum = new float[w * h];
        for (int i = 0; i < lum.Length; i++) lum[i] = 0.299f * pix[i * 4] + 0.587f * pix[i * 4 + 1] + 0.114f * pix[i * 4 + 2];
        Parallel.For(0, h, _po, y =>
        {
            for (int x = 0; x < w; x++)
            {
                int i = y * w + x;
                bool free = hole[i] != 0;
                bool l = x > 0 && (free || hole[i - 1] == 0), r = x < w - 1 && (free || hole[i + 1] == 0);
                bool u = y > 0 && (free || hole[i - w] == 0), d = y < h - 1 && (free || hole[i + w] == 0);
                float gx = l && r ? (lum[i + 1] - lum[i - 1]) * 0.5f : r ? lum[i + 1] - lum[i] : l ? lum[i] - lum[i - 1] : 0;
                float gy = u && d ? (lum[i + w] - lum[i - w]) * 0.5f : d ? lum[i + w] - lum[i] : u ? lum[i] - lum[i - w] : 0;
                pix[i * 4 + 3] = lambda * MathF.Sqrt(gx * gx + gy * gy);
            }
        });
    }

    private void RandomInitNnf(Level lv, ulong key)
    {
        var rng = new Rng(key);
        for (int i = 0; i < lv.IsTarget.Length; i++)
            if (lv.IsTarget[i] != 0) lv.Nnf[i] = lv.Sources[rng.Below(lv.Sources.Length)];
    }

    private static void UpsampleImage(Level c, Level f)
    {
        for (int y = 0; y < f.H; y++)
        {
            float cy = Math.Clamp((y + 0.5f) * 0.5f - 0.5f, 0, c.H - 1);
            int y0 = (int)cy, y1 = Math.Min(y0 + 1, c.H - 1); float ty = cy - y0;
            for (int x = 0; x < f.W; x++)
            {
                int i = y * f.W + x;
                if (f.Hole[i] == 0) continue;
                float cx = Math.Clamp((x + 0.5f) * 0.5f - 0.5f, 0, c.W - 1);
                int x0 = (int)cx, x1 = Math.Min(x0 + 1, c.W - 1); float tx = cx - x0;
                for (int k = 0; k < 3; k++)
                {
                    float a = c.Pix[(y0 * c.W + x0) * 4 + k] * (1 - tx) + c.Pix[(y0 * c.W + x1) * 4 + k] * tx;
                    float b = c.Pix[(y1 * c.W + x0) * 4 + k] * (1 - tx) + c.Pix[(y1 * c.W + x1) * 4 + k] * tx;
                    f.Pix[i * 4 + k] = a * (1 - ty) + b * ty;
                }
            }
        }
    }

    /// <summary>Each fine target starts from its coarse parent's match, doubled (the NNF-initialised level).</summary>
    private void UpsampleNnf(Level c, Level f, ulong key)
    {
        var rng = new Rng(key);
        int r = _r;
        for (int y = r; y < f.H - r; y++)
            for (int x = r; x < f.W - r; x++)
            {
                int q = y * f.W + x;
                if (f.IsTarget[q] == 0) continue;
                int cx = Math.Clamp(x / 2, r, c.W - 1 - r), cy = Math.Clamp(y / 2, r, c.H - 1 - r);
                int cq = cy * c.W + cx;
                int chosen = -1;
                if (c.IsTarget[cq] != 0)
                {
                    int s = c.Nnf[cq];
                    int sx = Math.Clamp(2 * (s % c.W) + (x - 2 * cx), r, f.W - 1 - r);
                    int sy = Math.Clamp(2 * (s / c.W) + (y - 2 * cy), r, f.H - 1 - r);
                    int cand = sy * f.W + sx;
                    if (f.ValidSource[cand] != 0) chosen = cand;
                }
                f.Nnf[q] = chosen >= 0 ? chosen : f.Sources[rng.Below(f.Sources.Length)];
            }
    }

    // ---------------------------------------------------------------- search and vote

    /// <summary>Spatial-coherence prior: a source farther from the target costs more (nearby content is the likelier continuation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Penalty(int q, int s, int w)
    {
        if (_locality == 0) return 0;
        int dx = q % w - s % w, dy = q / w - s / w;
        return _locality * MathF.Sqrt(dx * dx + dy * dy);
    }

    private int BandCount(Level lv) => lv.TargetCount == 0 ? 0 : (lv.TyMax - lv.TyMin) / BandRows + 1;

    private void RecomputeDistances(Level lv)
    {
        int w = lv.W, r = _r, p = _p, stride = w * Channels;
        fixed (float* basePtr = lv.Pix)
        {
            float* b = basePtr;
            Parallel.For(0, BandCount(lv), _po, band =>
            {
                int y0 = lv.TyMin + band * BandRows, y1 = Math.Min(y0 + BandRows, lv.TyMax + 1);
                for (int y = y0; y < y1; y++)
                    for (int x = r; x < w - r; x++)
                    {
                        int q = y * w + x;
                        if (lv.IsTarget[q] == 0) continue;
                        lv.Dist[q] = PatchDistance.Ssd(b + (q - r * w - r) * Channels, b + (lv.Nnf[q] - r * w - r) * Channels, stride, p, p * Channels, float.PositiveInfinity)
                            + Penalty(q, lv.Nnf[q], w);
                    }
            });
        }
    }

    private void PatchMatchPass(Level lv, int pass, ulong key, bool coarsest, bool finest)
    {
        int w = lv.W, h = lv.H, r = _r, p = _p, stride = w * Channels, rowFloats = p * Channels;
        var nnf = lv.Nnf; var dist = lv.Dist; var valid = lv.ValidSource; var isT = lv.IsTarget;
        bool fwd = (pass & 1) == 0;
        // The only cross-band read: the row just outside each band in scan direction. Copy those rows first.
        int bandCount = BandCount(lv);
        var boundary = new int[bandCount * w];
        for (int band = 0; band < bandCount; band++)
        {
            int y0 = lv.TyMin + band * BandRows, y1 = Math.Min(y0 + BandRows, lv.TyMax + 1);
            int by = fwd ? y0 - 1 : y1;
            if (by >= 0 && by < h) Array.Copy(nnf, by * w, boundary, band * w, w);
        }
        int len = w * h;
        // The coarsest level searches the whole image; finer levels start from the upsampled field, which is
        // already near its match, so a local search suffices (and stays in cache).
        int maxR = coarsest ? Math.Max(w, h) : Math.Min(Math.Max(w, h), _o.FineSearchRadius);
        fixed (float* basePtr = lv.Pix)
        {
            float* b = basePtr;
            Parallel.For(0, bandCount, _po, band =>
            {
                var rng = new Rng(key ^ Mix((ulong)band));
                int y0 = lv.TyMin + band * BandRows, y1 = Math.Min(y0 + BandRows, lv.TyMax + 1);
                int dir = fwd ? 1 : -1;
                for (int yy = 0; yy < y1 - y0; yy++)
                {
                    int y = fwd ? y0 + yy : y1 - 1 - yy;
                    for (int xx = 0; xx < w - 2 * r; xx++)
                    {
                        int x = fwd ? r + xx : w - 1 - r - xx;
                        int q = y * w + x;
                        if (isT[q] == 0) continue;
                        float* tp = b + (q - r * w - r) * Channels;
                        int best = nnf[q]; float bd = dist[q];

                        int hn = q - dir;
                        if (isT[hn] != 0) Try(nnf[hn] + dir);
                        int vy = y - dir;
                        if (vy >= 0 && vy < h)
                        {
                            int vn = q - dir * w;
                            if (isT[vn] != 0) Try((vy >= y0 && vy < y1 ? nnf[vn] : boundary[band * w + x]) + dir * w);
                        }

                        int bx = best % w, by = best / w;
                        for (int rad = maxR; rad >= 1; rad >>= 1)
                        {
                            int cx = Math.Clamp(bx + rng.Below(2 * rad + 1) - rad, r, w - 1 - r);
                            int cy = Math.Clamp(by + rng.Below(2 * rad + 1) - rad, r, h - 1 - r);
                            Try(cy * w + cx);
                        }
                        if (!finest) Try(lv.Sources[rng.Below(lv.Sources.Length)]);
                        nnf[q] = best; dist[q] = bd;

                        void Try(int cand)
                        {
                            if ((uint)cand >= (uint)len || cand == best || valid[cand] == 0) return;
                            float pen = Penalty(q, cand, w);
                            if (pen >= bd) return;
                            float d = PatchDistance.Ssd(tp, b + (cand - r * w - r) * Channels, stride, p, rowFloats, bd - pen) + pen;
                            if (d < bd) { bd = d; best = cand; }
                        }
                    }
                }
            });
        }
    }

    private void ComputeWeights(Level lv)
    {
        int w = lv.W, h = lv.H, p = _p;
        float norm = 1f / (p * p * Channels);
        // Patch weights: similarity exp(-d / 2 sigma^2), sigma^2 = 75th percentile of distances (Wexler), times
        // a confidence that decays with depth into the hole, so the trusted boundary leads.
        int stepK = Math.Max(1, lv.TargetCount / 4096);
        var ds = new List<float>(4096 + 1);
        int k = 0;
        for (int i = 0; i < lv.IsTarget.Length; i++)
            if (lv.IsTarget[i] != 0 && k++ % stepK == 0) ds.Add(lv.Dist[i] * norm);
        ds.Sort();
        float sigma2 = Math.Max(ds.Count == 0 ? 1 : ds[(int)(0.75 * (ds.Count - 1))], 1e-2f);
        float logGamma = MathF.Log(_o.ConfidenceFalloff);
        if (lv.Weight.Length != w * h) lv.Weight = new float[w * h];
        var weight = lv.Weight;
        int r = _r;
        Parallel.For(0, BandCount(lv), _po, band =>
        {
            int y0 = lv.TyMin + band * BandRows, y1 = Math.Min(y0 + BandRows, lv.TyMax + 1);
            for (int i = y0 * w; i < y1 * w; i++)
            {
                if (lv.IsTarget[i] == 0) continue;
                float e = lv.Dist[i] * norm / (2 * sigma2) + Math.Min(lv.Depth[i], 40f) * logGamma;
                weight[i] = MathF.Exp(-Math.Min(e, 60f));
            }
        });
    }

    private void Vote(Level lv, ContentAwareVoting voting)
    {
        ComputeWeights(lv);
        if (voting == ContentAwareVoting.Mean && !_o.GatherMeanVote) ScatterMean(lv);
        else Gather(lv, voting);
    }

    /// <summary>
    /// Weighted-mean vote as a scatter: each target adds its whole source patch (rows are contiguous, so this
    /// vectorises). Bands of 16 rows write at most 7 rows into their neighbours, so even bands run in parallel,
    /// then odd ones: no races, and a fixed summation order (deterministic).
    /// </summary>
    private void ScatterMean(Level lv)
    {
        int w = lv.W, r = _r, p = _p, rowFloats = p * Channels;
        int ay0 = Math.Max(0, lv.TyMin - r), ay1 = Math.Min(lv.H, lv.TyMax + r + 1);
        int accLen = (ay1 - ay0) * w;
        if (lv.Acc.Length < accLen * Channels) { lv.Acc = new float[accLen * Channels]; lv.AccW = new float[accLen]; }
        else { Array.Clear(lv.Acc, 0, accLen * Channels); Array.Clear(lv.AccW, 0, accLen); }
        int bands = BandCount(lv);
        fixed (float* pixPtr = lv.Pix, accPtr = lv.Acc, accWPtr = lv.AccW)
        {
            float* pb = pixPtr, ab = accPtr - (nint)ay0 * w * Channels, awb = accWPtr - (nint)ay0 * w;
            for (int parity = 0; parity < 2; parity++)
            {
                Parallel.For(0, (bands + 1 - parity) / 2, _po, half =>
                {
                    int band = half * 2 + parity;
                    int y0 = lv.TyMin + band * BandRows, y1 = Math.Min(y0 + BandRows, lv.TyMax + 1);
                    for (int y = y0; y < y1; y++)
                        for (int x = r; x < w - r; x++)
                        {
                            int q = y * w + x;
                            if (lv.IsTarget[q] == 0) continue;
                            float wt = lv.Weight[q];
                            var wv = Vector256.Create(wt);
                            var wv4 = Vector128.Create(wt);
                            int s = lv.Nnf[q];
                            for (int dy = -r; dy <= r; dy++)
                            {
                                float* src = pb + (nint)(s + dy * w - r) * Channels;
                                float* dst = ab + (nint)(q + dy * w - r) * Channels;
                                int i = 0;
                                if (Vector256.IsHardwareAccelerated)
                                    for (; i + 8 <= rowFloats; i += 8)
                                        Vector256.Store(Vector256.Load(dst + i) + wv * Vector256.Load(src + i), dst + i);
                                for (; i + 4 <= rowFloats; i += 4)
                                    Vector128.Store(Vector128.Load(dst + i) + wv4 * Vector128.Load(src + i), dst + i);
                                float* dw = awb + (q + dy * w - r);
                                for (int j = 0; j < p; j++) dw[j] += wt;
                            }
                        }
                });
            }
            Parallel.For(ay0, ay1, _po, y =>
            {
                for (int i = y * w; i < (y + 1) * w; i++)
                {
                    if (lv.Hole[i] == 0) continue;
                    float sw = awb[i];
                    if (sw <= 0) continue;
                    float inv = 1f / sw;
                    for (int c = 0; c < Channels; c++) pb[i * Channels + c] = ab[i * Channels + c] * inv;
                }
            });
        }
    }

    /// <summary>Gather vote: every voting kind (the Mean branch is the reference the scatter is tested against).</summary>
    private void Gather(Level lv, ContentAwareVoting voting)
    {
        int w = lv.W, h = lv.H, r = _r, p = _p;
        var weight = lv.Weight;
        float invBw2 = 1f / (_o.ModeBandwidth * _o.ModeBandwidth);
        int rows = h, bands = (rows + BandRows - 1) / BandRows;
        var keepRgb = Vector128.Create(1f, 1f, 1f, 0f);
        fixed (float* pixPtr = lv.Pix)
        {
            float* pb = pixPtr;
            Parallel.For(0, bands, _po, band =>
            {
                Span<Vector128<float>> cv = stackalloc Vector128<float>[p * p];
                Span<float> cw = stackalloc float[p * p];
                int y0 = band * BandRows, y1 = Math.Min(y0 + BandRows, h);
                for (int y = y0; y < y1; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int i = y * w + x;
                        if (lv.Hole[i] == 0) continue;
                        int n = 0, bestK = -1; float bestW = -1, sw = 0;
                        var sum = Vector128<float>.Zero;
                        for (int dy = -r; dy <= r; dy++)
                        {
                            int qy = y - dy;
                            if (qy < r || qy >= h - r) continue;
                            for (int dx = -r; dx <= r; dx++)
                            {
                                int qx = x - dx;
                                if (qx < r || qx >= w - r) continue;
                                int q = qy * w + qx;
                                if (lv.IsTarget[q] == 0) continue;
                                var c = Vector128.Load(pb + (nint)(lv.Nnf[q] + dy * w + dx) * 4);
                                float wt = weight[q];
                                sum += c * wt; sw += wt;
                                cv[n] = c; cw[n] = wt;
                                if (wt > bestW) { bestW = wt; bestK = n; }
                                n++;
                            }
                        }
                        if (n == 0 || sw <= 0) continue;
                        Vector128<float> m;
                        if (voting == ContentAwareVoting.Mean) m = sum / sw;
                        else
                        {
                            m = cv[bestK];
                            if (voting == ContentAwareVoting.Mode)
                            {
                                // Mean shift (Epanechnikov kernel in RGB) from the best patch's value: the patches
                                // that agree with it are averaged (denoised), the ones that disagree do not blur it.
                                for (int it = 0; it < 2; it++)
                                {
                                    var acc = Vector128<float>.Zero; float aw = 0;
                                    for (int j = 0; j < n; j++)
                                    {
                                        var d = (cv[j] - m) * keepRgb;
                                        float kk = 1 - Vector128.Dot(d, d) * invBw2;
                                        if (kk <= 0) continue;
                                        kk *= cw[j];
                                        acc += cv[j] * kk; aw += kk;
                                    }
                                    if (aw <= 0) break;
                                    m = acc / aw;
                                }
                            }
                        }
                        Vector128.Store(m, pb + (nint)i * 4);
                    }
            });
        }
    }
}
