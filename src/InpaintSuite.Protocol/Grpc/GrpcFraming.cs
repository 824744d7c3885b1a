using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf;

namespace InpaintSuite.Protocol.Grpc;

/// <summary>
/// Length-prefixed gRPC messages: 1 byte compressed flag, 4-byte big-endian length, message bytes.
/// </summary>
public static class GrpcFraming
{
    public const int HeaderSize = 5;

    /// <summary>Default limit: an 8192x8192 RGBA8 layer plus its 8-bit mask and room for settings.</summary>
    public const int DefaultMaxMessageBytes = 8192 * 8192 * 5 + 4 * 1024 * 1024;

    public static void WriteHeader(Span<byte> destination, bool compressed, int length)
    {
        destination[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], checked((uint)length));
    }

    /// <summary>One whole frame (header + payload), gzip-compressed when asked.</summary>
    public static byte[] Frame(IMessage message, bool gzip)
    {
        if (gzip)
        {
            var compressed = Gzip(message.ToByteArray());
            var framed = new byte[HeaderSize + compressed.Length];
            WriteHeader(framed, true, compressed.Length);
            compressed.CopyTo(framed.AsSpan(HeaderSize));
            return framed;
        }
        var size = message.CalculateSize();
        var buffer = new byte[HeaderSize + size];
        WriteHeader(buffer, false, size);
        message.WriteTo(buffer.AsSpan(HeaderSize));
        return buffer;
    }

    /// <summary>Writes one frame into a buffer writer (no intermediate copy when not compressed).</summary>
    public static void WriteMessage(IBufferWriter<byte> writer, IMessage message, bool gzip)
    {
        if (gzip)
        {
            writer.Write(Frame(message, true));
            return;
        }
        var size = message.CalculateSize();
        WriteHeader(writer.GetSpan(HeaderSize), false, size);
        writer.Advance(HeaderSize);
        message.WriteTo(writer);
    }

    public static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        using var ms = new MemoryStream(data.Length / 2 + 64);
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>Gunzips at most <paramref name="maxBytes"/>; more is RESOURCE_EXHAUSTED, garbage is INTERNAL.</summary>
    public static byte[] Gunzip(byte[] data, int maxBytes)
    {
        try
        {
            using var gz = new GZipStream(new MemoryStream(data, writable: false), CompressionMode.Decompress);
            using var output = new MemoryStream();
            var chunk = ArrayPool<byte>.Shared.Rent(81920);
            try
            {
                int n;
                while ((n = gz.Read(chunk, 0, chunk.Length)) > 0)
                {
                    if (output.Length + n > maxBytes)
                        throw new GrpcStatusException(GrpcStatusCode.ResourceExhausted,
                            $"Received message exceeds the maximum configured message size ({maxBytes} bytes after decompression).");
                    output.Write(chunk, 0, n);
                }
            }
            finally { ArrayPool<byte>.Shared.Return(chunk); }
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new GrpcStatusException(GrpcStatusCode.Internal, "Failed to decompress message: " + e.Message, e);
        }
    }

    /// <summary>True for the message encodings this transport speaks (absent means identity).</summary>
    public static bool IsSupportedEncoding(string? encoding) =>
        string.IsNullOrEmpty(encoding) || encoding == GrpcHeaders.Identity || encoding == GrpcHeaders.Gzip;
}

/// <summary>
/// Reads length-prefixed messages from a byte stream whose chunk boundaries need not align with
/// messages (HTTP/2 DATA frames). Protocol violations become <see cref="GrpcStatusException"/>s.
/// </summary>
public sealed class GrpcMessageReader(Stream source, int maxMessageBytes, string? encoding)
{
    private readonly byte[] _header = new byte[GrpcFraming.HeaderSize];

    /// <summary>The next message's bytes (decompressed), or null at a clean end of stream.</summary>
    public async ValueTask<byte[]?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        var got = await ReadAtLeastAsync(_header, cancellationToken).ConfigureAwait(false);
        if (got == 0) return null;
        if (got < GrpcFraming.HeaderSize)
            throw new GrpcStatusException(GrpcStatusCode.Internal, "Incomplete gRPC message header.");
        var flag = _header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(1));
        if (flag > 1)
            throw new GrpcStatusException(GrpcStatusCode.Internal, $"Invalid gRPC compressed flag {flag}.");
        if (length > (uint)maxMessageBytes)
            throw new GrpcStatusException(GrpcStatusCode.ResourceExhausted,
                $"Received message exceeds the maximum configured message size ({length} vs. {maxMessageBytes} bytes).");
        var compressed = flag == 1;
        if (compressed && (string.IsNullOrEmpty(encoding) || encoding == GrpcHeaders.Identity))
            throw new GrpcStatusException(GrpcStatusCode.Internal, "Compressed flag set but no grpc-encoding was given.");
        byte[] payload;
        if (length <= EagerAllocationBytes)
        {
            payload = length == 0 ? [] : new byte[length];
            if (length > 0 && await ReadAtLeastAsync(payload, cancellationToken).ConfigureAwait(false) < payload.Length)
                throw Incomplete(length);
        }
        else
        {
            // A prefix may claim hundreds of MB and send nothing: allocate the whole message only
            // once its first 4 MiB have arrived, so lying prefixes cost at most that much each.
            var head = new byte[EagerAllocationBytes];
            if (await ReadAtLeastAsync(head, cancellationToken).ConfigureAwait(false) < head.Length) throw Incomplete(length);
            payload = new byte[length];
            head.CopyTo(payload, 0);
            if (await ReadAtLeastAsync(payload.AsMemory(head.Length), cancellationToken).ConfigureAwait(false) < payload.Length - head.Length)
                throw Incomplete(length);
        }
        if (!compressed) return payload;
        if (encoding != GrpcHeaders.Gzip)
            throw new GrpcStatusException(GrpcStatusCode.Unimplemented, $"Message compressed with '{encoding}' is not supported.");
        return GrpcFraming.Gunzip(payload, maxMessageBytes);
    }

    private const int EagerAllocationBytes = 4 * 1024 * 1024;

    private static GrpcStatusException Incomplete(uint length) =>
        new(GrpcStatusCode.Internal, $"Incomplete gRPC message: expected {length} bytes.");

    private async ValueTask<int> ReadAtLeastAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await source.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
