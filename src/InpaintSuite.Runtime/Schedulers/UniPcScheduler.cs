using InpaintSuite.Runtime.Noise;

namespace InpaintSuite.Runtime.Schedulers;

/// <summary>diffusers UniPCMultistepScheduler: bh1/bh2, predict_x0, orders 1–2, with the UniC corrector.</summary>
public sealed class UniPcScheduler : MultistepSigmaScheduler
{
    private readonly bool _bh2;
    private readonly int[] _disableCorrector;
    private float[]? _lastSample, _conv;
    private bool _hasLast;
    private int _thisOrder;

    public UniPcScheduler(SchedulerConfig config) : base(config)
    {
        if (!config.GetBool("predict_x0", true)) throw new NotSupportedException("UniPC with predict_x0 false is not supported");
        _bh2 = config.GetString("solver_type", "bh2") switch
        {
            "bh2" => true,
            "bh1" => false,
            var s => throw new NotSupportedException($"UniPC solver_type '{s}' is not supported (bh1, bh2)"),
        };
        _disableCorrector = config.GetIntArray("disable_corrector");
    }

    public override string Name => "unipc";

    private protected override void ResetHistory()
    {
        _hasLast = false;
        _thisOrder = 0;
    }

    public override void Step(ReadOnlySpan<float> modelOutput, float timestep, Span<float> sample, INoiseSource? noise = null)
    {
        CheckLengths(modelOutput, sample);
        if (Timesteps.Length == 0) throw new InvalidOperationException("call SetTimesteps first");
        InitIndex(timestep);
        int i = StepIndex!.Value, n = Timesteps.Length;
        bool useCorrector = i > 0 && Array.IndexOf(_disableCorrector, i - 1) < 0 && _hasLast;
        // until the shift below, History[1] is the previous x0 (m0 of the corrector) and History[0] the one before
        var conv = Buffer(ref _conv, sample.Length);
        ConvertToX0(modelOutput, sample, Sigmas![i], conv);
        if (useCorrector) Corrector(conv, sample, _thisOrder, i);
        // model_outputs[:-1] = model_outputs[1:]; model_outputs[-1] = conv (recycling the dropped buffer)
        _conv = History[0];
        History[0] = History[1];
        History[1] = conv;
        int order = LowerOrderFinal ? Math.Min(SolverOrder, n - i) : SolverOrder;
        order = Math.Min(order, LowerOrderNums + 1);
        _thisOrder = order;
        sample.CopyTo(Buffer(ref _lastSample, sample.Length));
        _hasLast = true;
        Predictor(sample, order, i);
        if (LowerOrderNums < SolverOrder) LowerOrderNums++;
        StepIndex = i + 1;
    }

    private (float Alpha, float Sigma, float Lambda) At(int index)
    {
        var (a, s) = SigmaMath.AlphaSigma(Sigmas![index]);
        return (a, s, SigmaMath.Lambda(a, s));
    }

    /// <summary>(h_phi_1, B_h, b[0..order-1]) of multistep_uni_p/c_bh_update, from hh = -h, in double.</summary>
    private (double HPhi1, double Bh, double B1, double B2) Coefficients(float h)
    {
        double hh = -(double)h;
        double hPhi1 = double.IsNegativeInfinity(hh) ? -1.0 : Math.Exp(hh) - 1.0;
        double hPhiK = hPhi1 / hh - 1.0;
        double bh = _bh2 ? hPhi1 : hh;
        double factorial = 1;
        double b1 = hPhiK * factorial / bh;
        factorial *= 2;
        hPhiK = hPhiK / hh - 1.0 / factorial;
        double b2 = hPhiK * factorial / bh;
        return (hPhi1, bh, b1, b2);
    }

    /// <summary>UniP predictor at step i: x (in place) from sigmas[i] to sigmas[i+1] with model_outputs history.</summary>
    private void Predictor(Span<float> x, int order, int i)
    {
        var m0 = History[1]!;
        var (alphaT, sigmaT, lambdaT) = At(i + 1);
        var (_, sigmaS0, lambdaS0) = At(i);
        float h = lambdaT - lambdaS0;
        var (hPhi1, bh, _, _) = Coefficients(h);
        float cx = sigmaT / sigmaS0;
        float cm = (float)(alphaT * hPhi1);
        if (order == 1)
        {
            Lanes.AxpBy(cx, x, -cm, m0, x);
            return;
        }
        var mi = History[0]!;
        float lambdaSi = At(i - 1).Lambda;
        float rk = (lambdaSi - lambdaS0) / h;
        // rhos_p = [0.5] for order 2; pred_res = 0.5·D1, D1 = (mi - m0)/rk
        float cr = (float)(alphaT * bh);
        // x·cx - cm·m0 - cr·0.5·(mi - m0)/rk, coefficients folded
        float q = cr * 0.5f / rk;
        Lanes.AxpBypCz(cx, x, q - cm, m0, -q, mi, x);
    }

    /// <summary>UniC corrector at step i: refines this_sample using the new x0 (modelT) and the last predictor's input.</summary>
    private void Corrector(float[] modelT, Span<float> x, int order, int i)
    {
        var m0 = History[1]!;
        var last = _lastSample!;
        var (alphaT, sigmaT, lambdaT) = At(i);
        var (_, sigmaS0, lambdaS0) = At(i - 1);
        float h = lambdaT - lambdaS0;
        var (hPhi1, bh, b1, b2) = Coefficients(h);
        float cx = sigmaT / sigmaS0;
        float cm = (float)(alphaT * hPhi1);
        float cr = (float)(alphaT * bh);
        if (order <= 1)
        {
            // rhos_c = [0.5]
            float h1 = cr * 0.5f;
            Lanes.AxpBypCz(cx, last, h1 - cm, m0, -h1, modelT, x);
            return;
        }
        var mi = History[0]!;
        float lambdaSi = At(i - 2).Lambda;
        float rk = (lambdaSi - lambdaS0) / h;
        // rhos_c = solve([[1, 1], [rk, 1]], [b1, b2])
        double c0 = (b1 - b2) / (1.0 - rk);
        float rho0 = (float)c0, rho1 = (float)(b1 - c0);
        // cx·last - cm·m0 - cr·(rho0·(mi - m0)/rk + rho1·(mt - m0)), coefficients folded
        float a = cr * rho0 / rk, b = cr * rho1;
        Lanes.AxpBypCz(cx, last, a + b - cm, m0, -a, mi, x);
        Lanes.AxpBy(1f, x, -b, modelT, x);
    }
}
