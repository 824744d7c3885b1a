using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Benchmarks.Codecs;

/// <summary>`png-size [PNG]`: re-encodes the benchmark image with default options and prints the PNG size, for the side-by-side report.</summary>
public sealed class PngSizeTool : IBenchTool
{
    public string Name => "png-size";
    public string Description => "re-encode a PNG with InpaintSuite's default PNG options and print the byte count";

    public int Run(string[] args)
    {
        string path = args.Length > 0 ? args[0] : PngCodecBenchmarks.ImagePath;
        if (args.Length == 0) PngCodecBenchmarks.EnsureImage();
        var img = ImageCodec.Load(path);
        byte[] png = ImageCodec.EncodePng(img);
        if (!ImageCodec.Decode(png).Data.AsSpan().SequenceEqual(img.Data)) { Console.Error.WriteLine("round trip differs"); return 1; }
        Console.WriteLine(png.Length);
        return 0;
    }
}
