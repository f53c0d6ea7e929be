using System.Net;
using System.Net.Http.Headers;
using Emulator.Service.Rpc;
using Emulator.Service.Tests.V1;

namespace Emulator.Service.Tests;

/// <summary>Requests written byte by byte, for what a well-behaved client never sends.</summary>
public sealed class RawHttpTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IDisposable
{
    private readonly HttpClient http = new()
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    public void Dispose() => http.Dispose();

    private async Task<(HttpResponseMessage Response, string? Status, string? Message, byte[] Body)> SendAsync(
        string method, byte[] body, string contentType = "application/grpc", Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(fixture.Server.Server.Address, method))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        configure?.Invoke(request);
        HttpResponseMessage response = await http.SendAsync(request);
        byte[] content = await response.Content.ReadAsByteArrayAsync();
        string? status = Header(response, GrpcProtocol.StatusHeader);
        string? message = Header(response, GrpcProtocol.MessageHeader);
        return (response, status, message, content);
    }

    /// <summary>grpc-status from the headers (Trailers-Only) or the trailers.</summary>
    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.TrailingHeaders.TryGetValues(name, out values)
            ? values.Single()
            : null;

    private static byte[] Frame(byte[] payload, byte flag = 0) =>
        [flag, (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, .. payload];

    [Fact]
    public async Task Malformed_protobuf_is_Internal_in_a_Trailers_Only_response()
    {
        // Field 1, length-delimited, claims 16 bytes but has 1.
        var (response, status, message, body) = await SendAsync("/emulator.test.v1.Echo/Unary", Frame([0x0A, 0x10, 0x41]));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("13", status);
        Assert.True(response.Headers.Contains(GrpcProtocol.StatusHeader), "the status should be in the headers (Trailers-Only)");
        Assert.Contains("deserialize", message);
        Assert.Empty(body);
    }

    [Fact]
    public async Task Well_formed_request_gets_headers_one_frame_and_OK_trailers()
    {
        var (response, status, _, body) = await SendAsync("/emulator.test.v1.Echo/Unary",
            GrpcProtocol.Frame(new EchoRequest { Text = "hi" }), "application/grpc+proto");
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("0", status);
        Assert.True(response.TrailingHeaders.Contains(GrpcProtocol.StatusHeader));
        Assert.Equal(0, body[0]);
        Assert.Equal("hi", EchoReply.Parser.ParseFrom(body.AsSpan(5).ToArray()).Text);
    }

    [Fact]
    public async Task Compressed_flag_without_negotiated_compression_is_Internal()
    {
        var (_, status, _, _) = await SendAsync("/emulator.test.v1.Echo/Unary", Frame([0x0A, 0x01, 0x41], flag: 1));
        Assert.Equal("13", status);
    }

    [Fact]
    public async Task Unsupported_grpc_encoding_is_Unimplemented_and_names_identity()
    {
        var (response, status, _, _) = await SendAsync("/emulator.test.v1.Echo/Unary", Frame([]), configure: r => r.Headers.Add("grpc-encoding", "gzip"));
        Assert.Equal("12", status);
        Assert.Equal("identity", response.Headers.GetValues("grpc-accept-encoding").Single());
    }

    [Fact]
    public async Task Unary_call_without_a_request_or_with_two_is_Unimplemented()
    {
        Assert.Equal("12", (await SendAsync("/emulator.test.v1.Echo/Unary", [])).Status);
        Assert.Equal("12", (await SendAsync("/emulator.test.v1.Echo/Unary", [.. Frame([]), .. Frame([])])).Status);
    }

    [Fact]
    public async Task Truncated_frame_is_Internal()
    {
        Assert.Equal("13", (await SendAsync("/emulator.test.v1.Echo/Unary", Frame([0x0A, 0x01, 0x41])[..6])).Status);
    }

    [Fact]
    public async Task Length_prefix_over_the_limit_is_refused_before_the_body_arrives()
    {
        byte[] header = [0, 0x7F, 0xFF, 0xFF, 0xFF]; // claims 2 GiB
        Assert.Equal("8", (await SendAsync("/emulator.test.v1.Echo/Unary", header)).Status);
    }

    [Fact]
    public async Task Server_enforces_grpc_timeout_even_when_the_handler_ignores_cancellation()
    {
        // The handler sleeps until the test releases it (or ten minutes pass), so a status that
        // arrives before the release comes from the server's deadline, not from the handler finishing.
        const string tag = "raw-ignores-deadline";
        try
        {
            var (_, status, _, _) = await SendAsync("/emulator.test.v1.Echo/Sleep",
                GrpcProtocol.Frame(new SleepRequest { Millis = 600_000, IgnoreCancellation = true, Tag = tag }),
                configure: r => r.Headers.Add("grpc-timeout", "200m"));
            Assert.Equal("4", status);
        }
        finally
        {
            fixture.Server.Release(tag);
        }
    }

    [Fact]
    public async Task Malformed_grpc_timeout_is_Internal()
    {
        var (_, status, _, _) = await SendAsync("/emulator.test.v1.Echo/Unary", Frame([]), configure: r => r.Headers.Add("grpc-timeout", "10x"));
        Assert.Equal("13", status);
    }

    [Fact]
    public async Task Wrong_content_type_is_HTTP_415()
    {
        var (response, status, _, _) = await SendAsync("/emulator.test.v1.Echo/Unary", Frame([]), "application/json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Null(status);
    }
}
