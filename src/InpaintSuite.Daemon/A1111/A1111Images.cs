using InpaintSuite.Imaging;
using InpaintSuite.Imaging.Codecs;

namespace InpaintSuite.Daemon.A1111;

/// <summary>A1111's image conventions: base64 in (data URL or bare), PNG base64 out with a "parameters" text chunk, masks, resize modes.</summary>
public static class A1111Images
{
    /// <summary>
    /// The bytes of a base64 image: a data URL ("data:image/png;base64,...") or bare base64, whitespace and missing
    /// padding tolerated. Bad input is A1111's 500 "Invalid encoded image", naming the field.
    /// </summary>
    public static byte[] DecodeBase64(string encoded, string field)
    {
        var s = encoded.AsSpan().Trim();
        if (s.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            int comma = s.IndexOf(',');
            if (comma < 0) throw Invalid(field, "a data URL without a comma");
            s = s[(comma + 1)..];
        }
        if (s.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            throw A1111Exception.Http(500, $"Requests not allowed: {field} is a URL; send the image as base64");
        // Strip whitespace (line-wrapped base64) and fix padding; map the URL-safe alphabet too.
        var chars = new char[s.Length + 3];
        int n = 0;
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c)) continue;
            chars[n++] = c switch { '-' => '+', '_' => '/', _ => c };
        }
        while (n > 0 && chars[n - 1] == '=') n--;
        if (n % 4 == 1) throw Invalid(field, "base64 of an impossible length");
        while (n % 4 != 0) chars[n++] = '=';
        try
        {
            return Convert.FromBase64CharArray(chars, 0, n);
        }
        catch (FormatException)
        {
            throw Invalid(field, "not base64");
        }
    }

    private static A1111Exception Invalid(string field, string why) => new(500, "HTTPException", $"Invalid encoded image: {field} is {why}") { Field = field };

    /// <summary>Decodes a base64 PNG/JPEG to 8-bit RGBA; over <paramref name="maxPixels"/> is refused before pixels are allocated (413).</summary>
    public static RgbaImage DecodeImage(string encoded, string field, long maxPixels)
    {
        var bytes = DecodeBase64(encoded, field);
        try
        {
            var img = ImageCodec.Decode(bytes, new DecodeOptions { MaxPixels = Math.Min(maxPixels, DecodeOptions.DefaultMaxPixels) });
            return PixelConversions.ConvertDepth(img, PixelDepth.U8);
        }
        catch (InvalidDataException e) when (ImageCodec.IsTooLarge(e))
        {
            throw new A1111Exception(413, "HTTPException", $"{field}: the image is larger than the limit of {maxPixels} pixels ({e.Message})") { Field = field };
        }
        catch (InvalidDataException e)
        {
            throw Invalid(field, $"not a PNG or JPEG image we can read ({e.Message})");
        }
    }

    /// <summary>
    /// A1111's create_binary_mask: an RGBA mask whose alpha is not all opaque uses its alpha, otherwise luminance
    /// (Pillow's L = (299 R + 587 G + 114 B) / 1000); the result is binarised at &gt; 128 after invert if asked.
    /// </summary>
    public static Mask ToMask(RgbaImage image, bool invert)
    {
        var px = image.Data;
        int count = image.Width * image.Height;
        bool useAlpha = false;
        for (int i = 0; i < count && !useAlpha; i++) useAlpha = px[4 * i + 3] != 255;
        var m = new Mask(image.Width, image.Height);
        var d = m.Data;
        for (int i = 0; i < count; i++)
        {
            int v = useAlpha ? px[4 * i + 3] : (px[4 * i] * 299 + px[4 * i + 1] * 587 + px[4 * i + 2] * 114 + 500) / 1000;
            if (invert) v = 255 - v;
            d[i] = (byte)(v > 128 ? 255 : 0);
        }
        return m;
    }

    /// <summary>A1111's resize_image: 0/3 stretch, 1 scale to cover and centre-crop, 2 scale to fit and fill the rest with the edges.</summary>
    public static RgbaImage Resize(RgbaImage image, int mode, int width, int height)
    {
        if (image.Width == width && image.Height == height) return image;
        switch (mode)
        {
            case 1:
            {
                double scale = Math.Max((double)width / image.Width, (double)height / image.Height);
                int sw = Math.Max(width, (int)Math.Round(image.Width * scale)), sh = Math.Max(height, (int)Math.Round(image.Height * scale));
                var scaled = Resampler.Resize(image, sw, sh, ResampleFilter.Lanczos3);
                return scaled.Crop((sw - width) / 2, (sh - height) / 2, width, height);
            }
            case 2:
            {
                double scale = Math.Min((double)width / image.Width, (double)height / image.Height);
                int sw = Math.Clamp((int)Math.Round(image.Width * scale), 1, width), sh = Math.Clamp((int)Math.Round(image.Height * scale), 1, height);
                var scaled = Resampler.Resize(image, sw, sh, ResampleFilter.Lanczos3);
                int ox = (width - sw) / 2, oy = (height - sh) / 2;
                var canvas = new RgbaImage(width, height);
                for (int y = 0; y < height; y++)
                {
                    var src = scaled.Row8(Math.Clamp(y - oy, 0, sh - 1));
                    var dst = canvas.Row8(y);
                    for (int x = 0; x < width; x++)
                        src.Slice(Math.Clamp(x - ox, 0, sw - 1) * 4, 4).CopyTo(dst.Slice(x * 4, 4));
                }
                return canvas;
            }
            default:
                return Resampler.Resize(image, width, height, ResampleFilter.Lanczos3);
        }
    }

    /// <summary>PNG bytes as bare base64 (A1111's encode_pil_to_base64), with the infotext under "parameters" when given.</summary>
    public static string EncodePng(RgbaImage image, string? parameters)
    {
        var png = ImageCodec.EncodePng(PixelConversions.ConvertDepth(image, PixelDepth.U8));
        if (!string.IsNullOrEmpty(parameters)) png = PngText.Add(png, "parameters", parameters);
        return Convert.ToBase64String(png);
    }
}
