using Xunit;

namespace InpaintSuite.TestSupport;

/// <summary>
/// Complete tiny model folders (tiny-sd-inpaint, tiny-sd-base, tiny-sd-depth) built by tests/tools/make_tiny_models.py
/// with Debian's python3-onnx: the shared tiny diffusers components plus generated text-encoder and depth-estimator
/// stand-ins with the real I/O contracts. A missing python module fails the caller with what to install.
/// </summary>
public static class TinyModels
{
    /// <summary>Builds the folders in a new temporary directory and returns it (the caller deletes it).</summary>
    public static string CreateFolders(string prefix = "inpaintsuite-models-") => Create(prefix, "sd");

    /// <summary>
    /// The SDXL folders (tiny-sdxl-inpaint, tiny-sdxl-base: the shared tiny SDXL UNets and VAE plus generated two-encoder
    /// stand-ins and both tokenizers, Optimum layout) in a new temporary directory (the caller deletes it).
    /// </summary>
    public static string CreateSdxlFolders(string prefix = "inpaintsuite-sdxl-models-") => Create(prefix, "sdxl");

    private static string Create(string prefix, string set)
    {
        string dir = Directory.CreateTempSubdirectory(prefix).FullName;
        var missing = TestPaths.PythonModulesMissing("onnx", "numpy");
        Assert.True(missing == null, missing);
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.DebianPython,
            [Path.Combine(TestPaths.RepoRoot, "tests", "tools", "make_tiny_models.py"), dir, "--shared", TestPaths.Shared, "--set", set], TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"make_tiny_models.py failed: {stderr}{stdout}");
        return dir;
    }
}
