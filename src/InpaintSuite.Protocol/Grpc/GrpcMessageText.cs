using System.Text;

namespace InpaintSuite.Protocol.Grpc;

/// <summary>
/// grpc-message percent-encoding: UTF-8 bytes outside 0x20..0x7E, and '%' itself, become %XX.
/// Decoding never fails: a malformed escape is kept as it is.
/// </summary>
public static class GrpcMessageText
{
    public static string Encode(string? message)
    {
        if (string.IsNullOrEmpty(message)) return "";
        var needs = false;
        foreach (var c in message) if (c < 0x20 || c > 0x7E || c == '%') { needs = true; break; }
        if (!needs) return message;
        var sb = new StringBuilder(message.Length + 16);
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            if (b >= 0x20 && b <= 0x7E && b != (byte)'%') sb.Append((char)b);
            else sb.Append('%').Append(HexUpper(b >> 4)).Append(HexUpper(b & 15));
        }
        return sb.ToString();
    }

    public static string Decode(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (!value.Contains('%')) return value;
        var bytes = new List<byte>(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '%' && i + 2 < value.Length && Hex(value[i + 1]) is int hi && Hex(value[i + 2]) is int lo)
            {
                bytes.Add((byte)(hi * 16 + lo));
                i += 2;
            }
            else if (c < 0x80) bytes.Add((byte)c);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        // Invalid UTF-8 becomes U+FFFD rather than an exception.
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static char HexUpper(int v) => (char)(v < 10 ? '0' + v : 'A' + v - 10);

    private static int? Hex(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => null,
    };
}
