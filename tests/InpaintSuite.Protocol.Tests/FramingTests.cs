using System.Buffers.Binary;
using Google.Protobuf;
using InpaintSuite.Protocol.Grpc;
using InpaintSuite.Protocol.V1;
using Xunit;

namespace InpaintSuite.Protocol.Tests;

/// <summary>Length-prefixed message framing on raw bytes.</summary>
public sealed class FramingTests
{
    /// <summary>A stream returning at most <c>chunk</c> bytes per read, like DATA frames that do not align with messages.</summary>
    private sealed class ChunkedStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }

    private static byte[] Frame(byte flag, byte[] payload, uint? lengthOverride = null)
    {
        var b = new byte[5 + payload.Length];
        b[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(1), lengthOverride ?? (uint)payload.Length);
        payload.CopyTo(b, 5);
        return b;
    }

    private static async Task<List<byte[]>> ReadAll(byte[] wire, int chunk, string? encoding = null, int max = 1 << 20)
    {
        var reader = new GrpcMessageReader(new ChunkedStream(wire, chunk), max, encoding);
        var list = new List<byte[]>();
        while (await reader.ReadMessageAsync(CancellationToken.None) is { } m) list.Add(m);
        return list;
    }

    [Fact]
    public void HeaderIsFlagThenBigEndianLength()
    {
        var framed = GrpcFraming.Frame(new CancelJobRequest { JobId = "abc" }, gzip: false);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 5, 0x0A, 3, (byte)'a', (byte)'b', (byte)'c' }, framed);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task MessagesSplitAcrossArbitraryChunksAreReassembled(int chunk)
    {
        var a = new CancelJobRequest { JobId = "first" };
        var b = new CancelJobRequest { JobId = new string('x', 300) };
        var wire = GrpcFraming.Frame(a, false).Concat(GrpcFraming.Frame(new CancelJobRequest(), false)).Concat(GrpcFraming.Frame(b, false)).ToArray();
        var messages = await ReadAll(wire, chunk);
        Assert.Equal(3, messages.Count);
        Assert.Equal(a, CancelJobRequest.Parser.ParseFrom(messages[0]));
        Assert.Empty(messages[1]);
        Assert.Equal(b, CancelJobRequest.Parser.ParseFrom(messages[2]));
    }

    [Fact]
    public async Task ZeroLengthMessageIsADefaultMessage()
    {
        var messages = await ReadAll(Frame(0, []), 1);
        var m = Assert.Single(messages);
        Assert.Empty(m);
        Assert.Equal(new ListModelsRequest(), ListModelsRequest.Parser.ParseFrom(m));
    }

    [Fact]
    public async Task EmptyStreamHasNoMessages()
    {
        Assert.Empty(await ReadAll([], 1));
    }

    [Fact]
    public async Task OversizeLengthPrefixIsResourceExhaustedBeforeReadingThePayload()
    {
        // Claims 4 GiB - 1 with no payload: must fail on the prefix, not allocate or wait.
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(0, [], uint.MaxValue), 5, max: 1000));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, e.StatusCode);
        var e2 = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(0, new byte[1001]), 64, max: 1000));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, e2.StatusCode);
        Assert.Single(await ReadAll(Frame(0, new byte[1000]), 64, max: 1000));
    }

    [Fact]
    public async Task CompressedFlagWithoutEncodingIsInternal()
    {
        var gz = GrpcFraming.Gzip([1, 2, 3]);
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(1, gz), 3, encoding: null));
        Assert.Equal(GrpcStatusCode.Internal, e.StatusCode);
        var e2 = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(1, gz), 3, encoding: "identity"));
        Assert.Equal(GrpcStatusCode.Internal, e2.StatusCode);
    }

    [Fact]
    public async Task InvalidFlagByteIsInternal()
    {
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(2, [1]), 8));
        Assert.Equal(GrpcStatusCode.Internal, e.StatusCode);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(9)]
    public async Task TruncatedFramesAreInternal(int keep)
    {
        var wire = Frame(0, new byte[10]).AsSpan(0, keep).ToArray();
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(wire, 2));
        Assert.Equal(GrpcStatusCode.Internal, e.StatusCode);
    }

    [Fact]
    public async Task GzipFramesRoundTripAndMixWithUncompressedOnes()
    {
        var m = new CancelJobRequest { JobId = new string('z', 5000) };
        var gz = GrpcFraming.Frame(m, gzip: true);
        Assert.Equal(1, gz[0]);
        Assert.True(gz.Length < 200, "5000 equal characters compress");
        var wire = gz.Concat(GrpcFraming.Frame(m, gzip: false)).ToArray();
        var messages = await ReadAll(wire, 7, encoding: "gzip");
        Assert.All(messages, b => Assert.Equal(m, CancelJobRequest.Parser.ParseFrom(b)));
    }

    [Fact]
    public async Task GzipBombIsStoppedAtTheLimit()
    {
        var big = new byte[10_000_000];
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(1, GrpcFraming.Gzip(big)), 1 << 16, encoding: "gzip", max: 1_000_000));
        Assert.Equal(GrpcStatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task CorruptGzipIsInternal()
    {
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]), 4, encoding: "gzip"));
        Assert.Equal(GrpcStatusCode.Internal, e.StatusCode);
    }

    [Fact]
    public async Task UnknownEncodingWithCompressedFrameIsUnimplemented()
    {
        var e = await Assert.ThrowsAsync<GrpcStatusException>(() => ReadAll(Frame(1, [1]), 4, encoding: "snappy"));
        Assert.Equal(GrpcStatusCode.Unimplemented, e.StatusCode);
    }

    [Fact]
    public void WriteMessageToABufferWriterMatchesFrame()
    {
        var m = new CancelJobRequest { JobId = "q" };
        var w = new System.Buffers.ArrayBufferWriter<byte>();
        GrpcFraming.WriteMessage(w, m, gzip: false);
        Assert.Equal(GrpcFraming.Frame(m, false), w.WrittenSpan.ToArray());
    }
}
