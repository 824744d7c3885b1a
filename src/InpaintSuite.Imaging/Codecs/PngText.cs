using System.Buffers.Binary;
using System.Text;

namespace InpaintSuite.Imaging.Codecs;

/// <summary>
/// PNG text chunks (tEXt, Latin-1; iTXt uncompressed, UTF-8) on encoded files: what A1111 clients use to carry
/// generation parameters ("parameters" key) inside the returned PNG.
/// </summary>
public static class PngText
{
    private static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>A copy of <paramref name="png"/> with a text chunk right after IHDR (iTXt when the text is not Latin-1).</summary>
    public static byte[] Add(ReadOnlySpan<byte> png, string key, string value)
    {
        if (png.Length < 33 || !png[..8].SequenceEqual(Signature)) throw new InvalidDataException("not a PNG file");
        if (key.Length is 0 or > 79) throw new ArgumentException("a PNG text key has 1..79 characters", nameof(key));
        bool latin1 = value.All(c => c <= 0xFF && c != 0);
        byte[] body;
        string type;
        if (latin1)
        {
            type = "tEXt";
            body = [.. Encoding.Latin1.GetBytes(key), 0, .. Encoding.Latin1.GetBytes(value)];
        }
        else
        {
            // iTXt: key, 0, compression flag 0, method 0, empty language tag 0, empty translated key 0, UTF-8 text.
            type = "iTXt";
            body = [.. Encoding.Latin1.GetBytes(key), 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(value)];
        }
        int ihdrEnd = 8 + 8 + (int)BinaryPrimitives.ReadUInt32BigEndian(png[8..]) + 4;
        var chunk = new byte[12 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)body.Length);
        Encoding.ASCII.GetBytes(type, chunk.AsSpan(4));
        body.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + body.Length), Crc32.Compute(chunk.AsSpan(4, 4 + body.Length)));
        return [.. png[..ihdrEnd], .. chunk, .. png[ihdrEnd..]];
    }

    /// <summary>The tEXt and uncompressed iTXt entries of a PNG file (key → text); empty for non-PNG data.</summary>
    public static IReadOnlyDictionary<string, string> Read(ReadOnlySpan<byte> png)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (png.Length < 8 || !png[..8].SequenceEqual(Signature)) return result;
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            long len = BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            if (pos + 12 + len > png.Length) break;
            var type = png.Slice(pos + 4, 4);
            var data = png.Slice(pos + 8, (int)len);
            if (type.SequenceEqual("tEXt"u8))
            {
                int z = data.IndexOf((byte)0);
                if (z > 0) result[Encoding.Latin1.GetString(data[..z])] = Encoding.Latin1.GetString(data[(z + 1)..]);
            }
            else if (type.SequenceEqual("iTXt"u8))
            {
                int z = data.IndexOf((byte)0);
                if (z > 0 && data.Length > z + 2 && data[z + 1] == 0)
                {
                    var rest = data[(z + 3)..];
                    int lang = rest.IndexOf((byte)0);
                    if (lang >= 0)
                    {
                        var afterLang = rest[(lang + 1)..];
                        int tk = afterLang.IndexOf((byte)0);
                        if (tk >= 0) result[Encoding.Latin1.GetString(data[..z])] = Encoding.UTF8.GetString(afterLang[(tk + 1)..]);
                    }
                }
            }
            else if (type.SequenceEqual("IEND"u8)) break;
            pos += 12 + (int)len;
        }
        return result;
    }
}
