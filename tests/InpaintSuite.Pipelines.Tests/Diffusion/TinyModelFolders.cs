using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Pipelines.Tests.Diffusion;

/// <summary>The tiny model folders (<see cref="TinyModels"/>), built once per test run.</summary>
public sealed class TinyModelFolders : IDisposable
{
    public TinyModelFolders()
    {
        Directory = TinyModels.CreateFolders();
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

/// <summary>The tiny SDXL folders (tiny-sdxl-inpaint, tiny-sdxl-base), built once for the SDXL tests.</summary>
public sealed class TinySdxlFolders : IDisposable
{
    public TinySdxlFolders()
    {
        Directory = TinyModels.CreateSdxlFolders();
    }

    public string Directory { get; }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class TinySdxlCollection : ICollectionFixture<TinySdxlFolders>
{
    public const string Name = "tiny SDXL folders";
}
