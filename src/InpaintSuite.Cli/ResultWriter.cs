using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;
using InpaintSuite.Pipelines;

namespace InpaintSuite.Cli;

/// <summary>Writes full result images: the input with each batch item's patches blended in, same bit depth.</summary>
internal static class ResultWriter
{
    /// <summary>Writes item 0 to <paramref name="output"/>, item i to NAME-(i+1).EXT, in the format the extension names; returns the paths.</summary>
    public static IReadOnlyList<string> Write(RgbaImage input, OperationResult result, string output, ImageEncodeOptions? encode = null)
    {
        var format = ImageFiles.OutputFormat(output);
        var dir = Path.GetDirectoryName(Path.GetFullPath(output));
        if (dir != null) Directory.CreateDirectory(dir);
        int items = Math.Max(1, ResultPatches.Alternatives(result).Count);
        var paths = new List<string>(items);
        for (int i = 0; i < items; i++)
        {
            string path = i == 0 ? output : Path.Combine(Path.GetDirectoryName(output) ?? "", $"{Path.GetFileNameWithoutExtension(output)}-{i + 1}{Path.GetExtension(output)}");
            var image = ResultPatches.Apply(input, result, i);
            // Write to a temporary file first so an interrupted run never leaves a half-written output.
            string tmp = path + ".tmp";
            ImageFiles.Save(image, tmp, format, encode ?? ImageEncodeOptions.Default);
            File.Move(tmp, path, overwrite: true);
            paths.Add(path);
        }
        return paths;
    }
}
