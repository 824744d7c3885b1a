using System.Diagnostics;
using System.Text.Json;
using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Benchmarks.Codecs;

/// <summary>
/// `codec-times RUNS FILE...`: decode time of each file and encode time of its format (JPEG q90, WebP lossy q90 /
/// lossless by name, PNG default) through ImageCodec, medians in ms as one JSON line per file, for
/// tests/bench/image_codecs_vs_opencv.py, which times OpenCV on the same files before and after this.
/// </summary>
public sealed class CodecTimesTool : IBenchTool
{
    public string Name => "codec-times";
    public string Description => "median ImageCodec decode/encode times of image files (JSON lines) for the OpenCV side-by-side";

    public int Run(string[] args)
    {
        if (args.Length < 2 || !int.TryParse(args[0], out int runs) || runs < 1) { Console.Error.WriteLine("usage: codec-times RUNS FILE..."); return 2; }
        foreach (var file in args[1..])
        {
            byte[] bytes = File.ReadAllBytes(file);
            RgbaImage img = ImageCodec.Decode(bytes, out var info);
            var format = info.Format;
            var options = new ImageEncodeOptions { Quality = 90, Lossless = file.Contains("lossless", StringComparison.Ordinal) };
            var dec = new List<double>();
            var enc = new List<double>();
            long size = 0;
            for (int i = 0; i <= runs; i++)
            {
                var sw = Stopwatch.StartNew();
                ImageCodec.Decode(bytes);
                double d = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                size = ImageCodec.Encode(img, format, options).Length;
                double e = sw.Elapsed.TotalMilliseconds;
                if (i == 0) continue; // warm-up
                dec.Add(d);
                enc.Add(e);
            }
            Console.WriteLine(JsonSerializer.Serialize(new { file, format = format.ToString(), width = img.Width, height = img.Height, decode_ms = Median(dec), encode_ms = Median(enc), encoded_bytes = size }));
        }
        return 0;
    }

    private static double Median(List<double> v)
    {
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
