using System.Net;
using System.Net.WebSockets;
using System.Text;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Emulator.Service.Tests;

/// <summary>
/// The web console's server side on the control plane's one cleartext port: the page over
/// HTTP/1.1 beside gRPC over h2c, gRPC-Web calls with and without the token, and the console
/// WebSocket's token check. The page itself in a browser: tests/Emulator.Web.Tests.
/// </summary>
public sealed class WebConsoleTests
{
    private const string Token = "web-s3cret";

    [Fact]
    public async Task The_page_is_served_over_HTTP_1_1_on_the_port_that_serves_gRPC_over_h2c()
    {
        await using var server = await TestServer.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address), DefaultRequestVersion = HttpVersion.Version11 };
        foreach (string path in new[] { "/", "/app.js", "/machine.proto", "/lib/xterm.js", "/lib/xterm.css", "/lib/protobuf.min.js" })
        {
            using var response = await http.GetAsync(path);
            Assert.True(response.IsSuccessStatusCode, $"{path}: HTTP {(int)response.StatusCode}");
            Assert.Equal(HttpVersion.Version11, response.Version);
        }

        Assert.Contains("emulator.v1.MachineService", await http.GetStringAsync("/machine.proto"));
        using var channel = server.Channel();
        var list = await TestServer.Machines(channel).ListMachinesAsync(new ListMachinesRequest());
        Assert.Empty(list.Machines);
    }

    [Fact]
    public async Task A_connection_that_closes_before_saying_anything_does_not_disturb_the_next()
    {
        await using var server = await TestServer.StartAsync();
        var uri = new Uri(server.Address);
        using (var silent = new System.Net.Sockets.TcpClient())
        {
            await silent.ConnectAsync(uri.Host, uri.Port);
        }

        using (var partial = new System.Net.Sockets.TcpClient())
        {
            await partial.ConnectAsync(uri.Host, uri.Port);
            await partial.GetStream().WriteAsync("PRI * HT"u8.ToArray()); // a preface cut short
        }

        using var channel = server.Channel();
        Assert.Empty((await TestServer.Machines(channel).ListMachinesAsync(new ListMachinesRequest())).Machines);
    }

    [Fact]
    public async Task gRPC_Web_calls_need_the_token_as_every_call_does()
    {
        await using var server = await TestServer.StartAsync(o => o with { BearerToken = Token });
        using var channel = server.Channel(Token);
        await TestServer.Machines(channel).CreateMachineAsync(server.Tiny("web-listed"));
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        var (status, message, _) = await GrpcWeb(http, "ListMachines", new ListMachinesRequest(), token: null);
        Assert.Equal(StatusCode.Unauthenticated, status);
        Assert.Equal("a bearer token is required", message);
        (status, _, _) = await GrpcWeb(http, "ListMachines", new ListMachinesRequest(), token: "wrong");
        Assert.Equal(StatusCode.Unauthenticated, status);

        (status, message, var reply) = await GrpcWeb(http, "ListMachines", new ListMachinesRequest(), Token);
        Assert.True(status == StatusCode.OK, message);
        var machines = ListMachinesResponse.Parser.ParseFrom(reply);
        Assert.Equal("web-listed", Assert.Single(machines.Machines).Id);
    }

    [Fact]
    public async Task The_console_WebSocket_is_closed_without_the_token_and_attaches_with_it()
    {
        await using var server = await TestServer.StartAsync(o => o with { BearerToken = Token });
        using var channel = server.Channel(Token);
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(server.Tiny("web-console"));
        await machines.StartMachineAsync(new MachineRef { Id = "web-console" });
        var uri = new Uri(new Uri(server.Address.Replace("http://", "ws://", StringComparison.Ordinal)), "/console/web-console");

        foreach (string[] protocols in new[] { new[] { "emu-console" }, new[] { "emu-console", "emu-token." + Base64Url("wrong") } })
        {
            using var refused = new ClientWebSocket();
            foreach (string p in protocols)
            {
                refused.Options.AddSubProtocol(p);
            }

            await refused.ConnectAsync(uri, CancellationToken.None);
            var received = await refused.ReceiveAsync(new byte[64], CancellationToken.None);
            Assert.Equal(WebSocketMessageType.Close, received.MessageType);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, refused.CloseStatus);
            Assert.Contains("token", refused.CloseStatusDescription, StringComparison.Ordinal);
        }

        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("emu-console");
        socket.Options.AddSubProtocol("emu-token." + Base64Url(Token));
        await socket.ConnectAsync(uri, CancellationToken.None);
        Assert.Equal("emu-console", socket.SubProtocol);

        // The socket holds the machine's one console: a gRPC client is now refused, by name.
        using var second = machines.AttachConsole();
        await second.RequestStream.WriteAsync(new ConsoleInput { MachineId = "web-console", Data = ByteString.CopyFromUtf8("x") });
        var e = await Assert.ThrowsAsync<RpcException>(() => second.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);

        // Stopping the machine ends the console with a normal close.
        await machines.StopMachineAsync(new MachineRef { Id = "web-console" });
        var end = await socket.ReceiveAsync(new byte[64], CancellationToken.None);
        Assert.Equal(WebSocketMessageType.Close, end.MessageType);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task The_console_WebSocket_names_a_machine_that_is_not_there()
    {
        await using var server = await TestServer.StartAsync();
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("emu-console");
        await socket.ConnectAsync(new Uri(new Uri(server.Address.Replace("http://", "ws://", StringComparison.Ordinal)), "/console/nobody"), CancellationToken.None);
        var received = await socket.ReceiveAsync(new byte[64], CancellationToken.None);
        Assert.Equal(WebSocketMessageType.Close, received.MessageType);
        Assert.Contains("nobody", socket.CloseStatusDescription, StringComparison.Ordinal);
    }

    private static string Base64Url(string text) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>A unary gRPC-Web call as the page makes it (application/grpc-web+proto over HTTP/1.1).</summary>
    private static async Task<(StatusCode Status, string Message, byte[] Reply)> GrpcWeb(HttpClient http, string method, IMessage request, string? token)
    {
        byte[] body = request.ToByteArray();
        var framed = new byte[5 + body.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)body.Length);
        body.CopyTo(framed, 5);
        using var message = new HttpRequestMessage(HttpMethod.Post, "/emulator.v1.MachineService/" + method)
        {
            Version = HttpVersion.Version11,
            Content = new ByteArrayContent(framed),
        };
        message.Content.Headers.ContentType = new("application/grpc-web+proto");
        if (token is not null)
        {
            message.Headers.Authorization = new("Bearer", token);
        }

        using var response = await http.SendAsync(message);
        byte[] bytes = await response.Content.ReadAsByteArrayAsync();
        string? status = response.Headers.TryGetValues("grpc-status", out var s) ? s.First() : null;
        string detail = response.Headers.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.First()) : "";
        byte[] reply = [];
        for (int at = 0; at + 5 <= bytes.Length;)
        {
            int length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at + 1));
            var payload = bytes.AsSpan(at + 5, length);
            if ((bytes[at] & 0x80) != 0)
            {
                foreach (string line in Encoding.ASCII.GetString(payload).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
                {
                    var (key, value) = (line[..line.IndexOf(':')].Trim().ToLowerInvariant(), line[(line.IndexOf(':') + 1)..].Trim());
                    if (key == "grpc-status")
                    {
                        status = value;
                    }
                    else if (key == "grpc-message")
                    {
                        detail = Uri.UnescapeDataString(value);
                    }
                }
            }
            else
            {
                reply = payload.ToArray();
            }

            at += 5 + length;
        }

        return ((StatusCode)int.Parse(status ?? "2", System.Globalization.CultureInfo.InvariantCulture), detail, reply);
    }
}
