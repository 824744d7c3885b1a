using System.Diagnostics;
using System.Globalization;
using InpaintSuite.Runtime.Onnx;

// Usage: OrtOverhead <model.onnx> <latent size> <iterations> <threads> <batch> [cpu|cuda|directml]
// Prints one line per timed run (iterations 0: one per 'run' line read from stdin): "ms <milliseconds>", after 3 warm-up runs. Same inputs and session options as ort-node.mjs.
var model = args[0];
int size = int.Parse(args[1], CultureInfo.InvariantCulture);
int iterations = int.Parse(args[2], CultureInfo.InvariantCulture);
int threads = int.Parse(args[3], CultureInfo.InvariantCulture);
int batch = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1;
var provider = args.Length > 5 ? OrtSessionOptions.ParseProvider(args[5]) ?? throw new ArgumentException($"unknown provider {args[5]}") : ExecutionProviderKind.Cpu;

using var session = InferenceSession.Load(model, new OrtSessionOptions
{
    ExecutionProvider = provider,
    IntraOpThreads = threads,
    InterOpThreads = 1,
    GraphOptimization = GraphOptimizationLevel.All,
});
int channels = (int)session.Inputs[0].Dimensions[1];
// Deterministic, identical to the JS side: value(i) = ((i * 7919) % 1000) / 500 - 1.
static float[] Fill(int n)
{
    var a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float)(((long)i * 7919 % 1000) / 500.0 - 1.0);
    return a;
}
var inputs = new Dictionary<string, OrtTensor>
{
    ["sample"] = OrtTensor.Create(Fill(batch * channels * size * size), batch, channels, size, size),
    ["timestep"] = OrtTensor.Create(Enumerable.Repeat(500L, batch).ToArray(), batch),
    ["encoder_hidden_states"] = OrtTensor.Create(Fill(batch * 77 * 32), batch, 77, 32),
};
float checksum = 0;
for (int i = 0; i < 3; i++) checksum = ((OrtTensor<float>)session.Run(inputs)["out_sample"]).Span[0];
Console.WriteLine($"info dotnet ORT {OnnxRuntimeInfo.Version} on {session.ExecutionProvider} from {OrtLibrary.LibraryPath}; out[0]={checksum.ToString("R", CultureInfo.InvariantCulture)}");
var sw = new Stopwatch();
void TimedRun()
{
    sw.Restart();
    var result = session.Run(inputs);
    sw.Stop();
    GC.KeepAlive(result);
    Console.WriteLine("ms " + sw.Elapsed.TotalMilliseconds.ToString("F3", CultureInfo.InvariantCulture));
}
if (iterations > 0)
{
    for (int i = 0; i < iterations; i++) TimedRun();
    return;
}
// iterations 0: serve mode for the paired driver, one timed run per "run" line on stdin.
Console.WriteLine("ready");
while (Console.ReadLine() is { } line && line == "run") TimedRun();
