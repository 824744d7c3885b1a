using System.Buffers.Binary;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.PaintDotNet.Core;

/// <summary>Wire images (any of the protocol's pixel formats) to packed BGRA8.</summary>
public static class WireImages
{
    public static int BytesPerPixel(PixelFormat format) => format switch
    {
        PixelFormat.Rgba8 or PixelFormat.Bgra8 => 4,
        PixelFormat.Rgba16 => 8,
        PixelFormat.Rgba32F => 16,
        _ => throw new FormatException($"unsupported pixel format {format}"),
    };

    public static byte[] ToBgra8(Image image)
    {
        int w = (int)image.Width, h = (int)image.Height;
        if (w <= 0 || h <= 0) throw new FormatException($"image size {w}x{h}");
        int bpp = BytesPerPixel(image.Format);
        int stride = image.Stride == 0 ? w * bpp : (int)image.Stride;
        if (stride < w * bpp) throw new FormatException($"stride {stride} < {w * bpp}");
        var data = image.Data.Span;
        if ((long)stride * (h - 1) + (long)w * bpp > data.Length) throw new FormatException($"{data.Length} bytes for {w}x{h} {image.Format}");

        var dst = new byte[w * h * 4];
        for (int y = 0; y < h; y++)
        {
            var row = data.Slice(y * stride, w * bpp);
            var d = dst.AsSpan(y * w * 4, w * 4);
            switch (image.Format)
            {
                case PixelFormat.Bgra8:
                    row.CopyTo(d);
                    break;
                case PixelFormat.Rgba8:
                    for (int x = 0; x < w; x++)
                    {
                        d[x * 4] = row[x * 4 + 2]; d[x * 4 + 1] = row[x * 4 + 1]; d[x * 4 + 2] = row[x * 4]; d[x * 4 + 3] = row[x * 4 + 3];
                    }
                    break;
                case PixelFormat.Rgba16:
                    for (int x = 0; x < w; x++)
                    {
                        var p = row.Slice(x * 8, 8);
                        d[x * 4] = From16(BinaryPrimitives.ReadUInt16LittleEndian(p[4..]));
                        d[x * 4 + 1] = From16(BinaryPrimitives.ReadUInt16LittleEndian(p[2..]));
                        d[x * 4 + 2] = From16(BinaryPrimitives.ReadUInt16LittleEndian(p));
                        d[x * 4 + 3] = From16(BinaryPrimitives.ReadUInt16LittleEndian(p[6..]));
                    }
                    break;
                case PixelFormat.Rgba32F:
                    for (int x = 0; x < w; x++)
                    {
                        var p = row.Slice(x * 16, 16);
                        d[x * 4] = FromFloat(BinaryPrimitives.ReadSingleLittleEndian(p[8..]));
                        d[x * 4 + 1] = FromFloat(BinaryPrimitives.ReadSingleLittleEndian(p[4..]));
                        d[x * 4 + 2] = FromFloat(BinaryPrimitives.ReadSingleLittleEndian(p));
                        d[x * 4 + 3] = FromFloat(BinaryPrimitives.ReadSingleLittleEndian(p[12..]));
                    }
                    break;
            }
        }
        return dst;
    }

    // 65535 -> 255 with rounding: (v*255 + 32767) / 65535.
    private static byte From16(ushort v) => (byte)((v * 255 + 32767) / 65535);

    private static byte FromFloat(float v) => float.IsNaN(v) ? (byte)0 : (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
}
