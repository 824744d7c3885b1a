namespace InpaintSuite.Imaging.Codecs;

public static class JpegDecoder
{
    public static RgbaImage Decode(ReadOnlySpan<byte> data, out ImageInfo info, DecodeOptions? options = null) =>
        throw new InvalidDataException("JPEG decoding is not implemented yet");

    public static ImageInfo Identify(ReadOnlySpan<byte> data) => throw new InvalidDataException("JPEG decoding is not implemented yet");
}
