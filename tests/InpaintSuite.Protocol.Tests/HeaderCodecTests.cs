using InpaintSuite.Protocol.Grpc;
using Xunit;

namespace InpaintSuite.Protocol.Tests;

public sealed class HeaderCodecTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("1m", 10_000L)]
    [InlineData("100u", 1_000L)]
    [InlineData("1n", 1L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void TimeoutParsesEveryUnit(string header, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(header, out var t));
        Assert.Equal(ticks, t.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("1x")]
    [InlineData("123456789S")]
    [InlineData("-1S")]
    [InlineData("1.5S")]
    public void TimeoutRejectsMalformedValues(string header) => Assert.False(GrpcTimeout.TryParse(header, out _));

    [Theory]
    [InlineData(1L, "100n")]
    [InlineData(10_000L, "1000000n")]
    [InlineData(30_000_000L, "3000000u")]
    [InlineData(36_000_000_000L, "3600000m")]
    public void TimeoutFormatsAtMost8DigitsWithoutLosingTime(long ticks, string expected)
    {
        var s = GrpcTimeout.Format(TimeSpan.FromTicks(ticks));
        Assert.Equal(expected, s);
        Assert.True(s.Length <= 9);
        Assert.True(GrpcTimeout.TryParse(s, out var back));
        Assert.True(back >= TimeSpan.FromTicks(ticks));
    }

    [Fact]
    public void TimeoutFormatOfHugeValuesStaysIn8Digits()
    {
        var s = GrpcTimeout.Format(TimeSpan.FromDays(100000));
        Assert.True(s.Length <= 9, s);
        Assert.True(GrpcTimeout.TryParse(s, out _));
    }

    [Theory]
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("100%", "100%25")]
    [InlineData("line\nbreak", "line%0Abreak")]
    [InlineData("größe", "gr%C3%B6%C3%9Fe")]
    public void MessagePercentEncodingRoundTrips(string text, string wire)
    {
        Assert.Equal(wire, GrpcMessageText.Encode(text));
        Assert.Equal(text, GrpcMessageText.Decode(wire));
    }

    [Theory]
    [InlineData("%")]
    [InlineData("%G1")]
    [InlineData("abc%4")]
    [InlineData("%FF%FE")]
    public void MessageDecodingNeverFails(string wire) => Assert.NotNull(GrpcMessageText.Decode(wire));

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc; charset=utf-8", true)]
    [InlineData("application/grpc+json", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void ContentTypeCheck(string? value, bool ok) => Assert.Equal(ok, GrpcHeaders.IsGrpcContentType(value));

    [Fact]
    public void HttpStatusMappingFollowsTheSpec()
    {
        Assert.Equal(GrpcStatusCode.Internal, GrpcStatus.FromHttpStatus(400));
        Assert.Equal(GrpcStatusCode.Unauthenticated, GrpcStatus.FromHttpStatus(401));
        Assert.Equal(GrpcStatusCode.PermissionDenied, GrpcStatus.FromHttpStatus(403));
        Assert.Equal(GrpcStatusCode.Unimplemented, GrpcStatus.FromHttpStatus(404));
        Assert.Equal(GrpcStatusCode.Unavailable, GrpcStatus.FromHttpStatus(503));
        Assert.Equal(GrpcStatusCode.Unknown, GrpcStatus.FromHttpStatus(415));
        Assert.Equal("INVALID_ARGUMENT", GrpcStatus.WireName(GrpcStatusCode.InvalidArgument));
    }
}
