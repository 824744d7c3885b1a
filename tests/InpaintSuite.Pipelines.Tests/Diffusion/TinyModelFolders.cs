using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Pipelines.Tests.Diffusion;

/// <summary>
/// Complete tiny model folders (tiny-sd-inpaint, tiny-sd-base, tiny-sd-depth) built once per test run by
/// tests/tools/make_tiny_models.py (Debian's python3-onnx): the shared tiny diffusers components plus generated
/// text-encoder and depth-estimator stand-ins with the real I/O contracts.
/// </summary>
public sealed class TinyModelFolders : IDisposable
{
    public TinyModelFolders()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("inpaintsuite-models-").FullName;
        var missing = TestPaths.PythonModulesMissing("onnx", "numpy");
        Assert.True(missing == null, missing);
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython,
            [Path.Combine(TestPaths.RepoRoot, "tests", "tools", "make_tiny_models.py"), Directory, "--shared", TestPaths.Shared], TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"make_tiny_models.py failed: {stderr}{stdout}");
    }

    public string Directory { get; }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class TinyModelsCollection : ICollectionFixture<TinyModelFolders>
{
    public const string Name = "tiny model folders";
}
