using InpaintSuite.Runtime.Onnx;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Runtime.Tests.Onnx;

public sealed class ConformanceTests(ITestOutputHelper output)
{
    private static string ConformanceDir =>
        Environment.GetEnvironmentVariable("INPAINTSUITE_ONNX_CONFORMANCE_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(TestPaths.SharedReference, "onnx-conformance");

    [Fact]
    public void EveryConformanceCaseRunsAndMatches()
    {
        var dir = ConformanceDir;
        Assert.True(Directory.Exists(dir), $"conformance folder {dir} not found (../shared/reference/onnx-conformance or INPAINTSUITE_ONNX_CONFORMANCE_DIR)");
        var cases = Directory.GetDirectories(dir).Where(c => File.Exists(Path.Combine(c, "model.onnx"))).OrderBy(c => c, StringComparer.Ordinal).ToArray();
        var strays = Directory.GetDirectories(dir).Except(cases).ToArray();
        Assert.True(strays.Length == 0, "folders without model.onnx (would be skipped): " + string.Join(", ", strays.Select(Path.GetFileName)));
        Assert.NotEmpty(cases);

        var failures = new List<string>();
        int ran = 0, dataSets = 0;
        var options = new OrtSessionOptions { ExecutionProvider = ExecutionProviderKind.Cpu, IntraOpThreads = 1 };
        foreach (var c in cases)
        {
            var name = Path.GetFileName(c);
            try
            {
                using var session = InferenceSession.Load(Path.Combine(c, "model.onnx"), options);
                var sets = Directory.GetDirectories(c, "test_data_set_*");
                if (sets.Length == 0) { failures.Add($"{name}: no test_data_set_* folder"); continue; }
                foreach (var set in sets.OrderBy(s => s, StringComparer.Ordinal))
                {
                    var inputs = new Dictionary<string, OrtTensor>();
                    for (int i = 0; File.Exists(Path.Combine(set, $"input_{i}.pb")); i++)
                    {
                        var (pbName, tensor) = TensorProtoReader.Read(File.ReadAllBytes(Path.Combine(set, $"input_{i}.pb")));
                        var key = pbName is { Length: > 0 } && session.Inputs.Any(x => x.Name == pbName) ? pbName : session.Inputs[i].Name;
                        inputs[key] = tensor;
                    }
                    var results = session.Run(inputs);
                    int outputs = 0;
                    for (int i = 0; File.Exists(Path.Combine(set, $"output_{i}.pb")); i++, outputs++)
                    {
                        var (pbName, expected) = TensorProtoReader.Read(File.ReadAllBytes(Path.Combine(set, $"output_{i}.pb")));
                        var key = pbName is { Length: > 0 } && results.ContainsKey(pbName) ? pbName : session.Outputs[i].Name;
                        var mismatch = TensorAssert.Compare(expected, results[key], rtol: 1e-3, atol: 1e-5);
                        if (mismatch != null) failures.Add($"{name}/{Path.GetFileName(set)} output {key}: {mismatch}");
                    }
                    if (outputs == 0) failures.Add($"{name}/{Path.GetFileName(set)}: no output_N.pb");
                    dataSets++;
                }
                ran++;
            }
            catch (Exception e) when (e is OnnxRuntimeException or ArgumentException or NotSupportedException or InvalidDataException)
            {
                failures.Add($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }
        output.WriteLine($"ONNX conformance: {ran} of {cases.Length} cases ran ({dataSets} data sets) from {dir}; {failures.Count} failures; 0 skipped");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(cases.Length, ran);
    }
}
