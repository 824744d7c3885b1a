using System.Text.Json;
using InpaintSuite.Daemon;
using InpaintSuite.Pipelines.Diffusion;
using InpaintSuite.Pipelines.Tests.Diffusion;
using InpaintSuite.Runtime.Numerics;
using InpaintSuite.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace InpaintSuite.Pipelines.Tests.Lora;

/// <summary>
/// UNet outputs with LoRAs merged against ../shared/reference/lora (PyTorch, weights changed in the torch modules), for
/// every case of its cases.json, through the daemon's composition: EngineSetup (the LoRA folder is the reference folder)
/// -> the model's DiffusionEngine -> ResolveLoras -> the shared session cache's merged UNet session -> DiffusionModel.Unet.
/// INPAINTSUITE_LORA_REFERENCE_DIR points it at another folder of the same layout.
/// </summary>
[Collection(TinyModelsCollection.Name)]
public sealed class LoraReferenceTests(TinyModelFolders tiny, ITestOutputHelper output)
{
    private static string ModelRoot(JsonElement cases)
    {
        // "shared/reference/diffusers/tiny_models/onnx" is relative to the folder holding shared/.
        var root = cases.GetProperty("model_root").GetString()!;
        return root.StartsWith("shared/", StringComparison.Ordinal)
            ? Path.Combine(TestPaths.Shared, root["shared/".Length..])
            : Path.GetFullPath(Path.Combine(TestPaths.LoraReference, root));
    }

    [Fact]
    public async Task EveryCaseMatchesTheTorchReferenceWithinItsTolerance()
    {
        var dir = TestPaths.LoraReference;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToList();
        Assert.NotEmpty(cases);
        // One complete model folder per case model: the tiny base folder with the case's UNet file put in.
        var models = Directory.CreateTempSubdirectory("inpaintsuite-lora-ref-").FullName;
        try
        {
            foreach (var model in cases.Select(c => c.GetProperty("model").GetString()!).Distinct())
            {
                var folder = Path.Combine(models, "ref-" + model);
                CopyTree(Path.Combine(tiny.Directory, "tiny-sd-base"), folder);
                File.Copy(Path.Combine(ModelRoot(doc.RootElement), model, "model.onnx"), Path.Combine(folder, "unet", "model.onnx"), overwrite: true);
            }
            await using var setup = EngineSetup.Create(models, loraDirectory: dir);
            var results = new Dictionary<string, float[]>();
            foreach (var c in cases)
            {
                string name = c.GetProperty("name").GetString()!;
                string model = c.GetProperty("model").GetString()!;
                var engine = (DiffusionEngine)setup.Registry.Resolve("ref-" + model, Operation.Inpaint);
                var inputs = c.GetProperty("inputs");
                var sample = NpyReader.Read(Path.Combine(dir, inputs.GetProperty("sample").GetString()!));
                var hidden = NpyReader.Read(Path.Combine(dir, inputs.GetProperty("encoder_hidden_states").GetString()!));
                var timestep = NpyReader.Read(Path.Combine(dir, inputs.GetProperty("timestep").GetString()!)).ToInt64();
                Assert.All(timestep, t => Assert.Equal(timestep[0], t)); // one timestep per call, as the sampler runs it
                var expected = NpyReader.Read(Path.Combine(dir, c.GetProperty("output").GetString()!)).ToFloat32();
                double tolerance = c.GetProperty("tolerance_max_abs").GetDouble();
                var loras = c.GetProperty("loras").EnumerateArray()
                    .Select(l => new LoraWeight(Path.GetFileNameWithoutExtension(l.GetProperty("file").GetString()!), (float)l.GetProperty("multiplier").GetDouble()))
                    .ToList();
                var (view, _) = engine.ResolveLoras(new GenerationSettings { Loras = loras });
                Assert.Equal(loras.Count == 0, view.Loras == null);
                var s = sample.Shape;
                using (view.LeaseSessions(false, CancellationToken.None))
                {
                    var got = view.Unet(sample.ToFloat32(), (int)s[0], (int)s[1], (int)s[2], (int)s[3], timestep[0], hidden.ToFloat32(), (int)hidden.Shape[1], CancellationToken.None);
                    Assert.Equal(expected.Length, got.Length);
                    double diff = got.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max();
                    output.WriteLine($"{name}: max |ours - torch| = {diff:E2} (tolerance {tolerance:E0})");
                    Assert.True(diff <= tolerance, $"{name}: max abs diff {diff:E3} > {tolerance:E0}");
                    results[name] = got;
                }
            }
            // The LoRA cases really differ from their base (the comparison above is not vacuous).
            foreach (var (name, got) in results.Where(r => !r.Key.EndsWith("/base", StringComparison.Ordinal)))
            {
                var baseline = results[name[..name.IndexOf('/')] + "/base"];
                double change = got.Zip(baseline, (a, b) => Math.Abs((double)a - b)).Max();
                Assert.True(change > 1e-2, $"{name}: changes the output by only {change:E2}");
            }
            // Plain and merged UNets stay cached side by side: one plain + 4 merged per model.
            int unets = setup.SessionCache.LoadedKeys.Count(k => k.Path.EndsWith(Path.Combine("unet", "model.onnx"), StringComparison.Ordinal));
            Assert.Equal(cases.Count, unets);
        }
        finally
        {
            try { Directory.Delete(models, recursive: true); } catch (IOException) { }
        }
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyTree(d, Path.Combine(to, Path.GetFileName(d)));
    }
}
