using Emulator.Service.Rpc;

namespace Emulator.Service.Tests;

public sealed class GrpcProtocolTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("7u", 70L)]
    [InlineData("1500n", 15L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void Timeout_units_parse(string value, long ticks)
    {
        Assert.True(GrpcProtocol.TryParseTimeout(value, out TimeSpan timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("-1S")]
    [InlineData("123456789S")]
    public void Malformed_timeouts_are_refused(string value) =>
        Assert.False(GrpcProtocol.TryParseTimeout(value, out _));

    [Fact]
    public void Formatted_timeouts_parse_back_within_the_unit()
    {
        foreach (TimeSpan timeout in new[] { TimeSpan.FromTicks(3), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(90), TimeSpan.FromDays(3000) })
        {
            string text = GrpcProtocol.FormatTimeout(timeout);
            Assert.True(text.Length <= 9, text);
            Assert.True(GrpcProtocol.TryParseTimeout(text, out TimeSpan back));
            Assert.True(back <= timeout && back >= timeout * 0.99, $"{timeout} -> {text} -> {back}");
        }
    }

    [Fact]
    public void Status_message_is_percent_encoded_outside_printable_ascii()
    {
        Assert.Equal("a b%25c%0A%C3%A9", GrpcProtocol.EncodeMessage("a b%c\né"));
        Assert.Equal("a b%c\né", GrpcProtocol.DecodeMessage("a b%25c%0A%C3%A9"));
        Assert.Equal("100%zz", GrpcProtocol.DecodeMessage("100%zz")); // malformed escapes are kept
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc; charset=utf-8", true)]
    [InlineData("application/grpc+json", false)]
    [InlineData("application/json", false)]
    public void Content_types(string contentType, bool accepted) =>
        Assert.Equal(accepted, GrpcProtocol.IsGrpcContentType(contentType));
}
