using Emulator.Service.Rpc;
using Emulator.Service.Tests.V1;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Health.V1;

namespace Emulator.Service.Tests;

/// <summary>Client-streaming and bidirectional calls through our client, and shutdown.</summary>
public sealed class StreamingClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Client_streaming_call_joins_every_request()
    {
        using GrpcClient client = Server.Client();
        await using StreamingCall<EchoRequest, EchoReply> call = client.ClientStreaming<EchoRequest, EchoReply>("emulator.test.v1.Echo/Join");
        foreach (string text in new[] { "a", "b", "c" })
            await call.WriteAsync(new EchoRequest { Text = text });
        await call.CompleteAsync();
        EchoReply reply = await call.ResponseAsync();
        Assert.Equal("a,b,c", reply.Text);
        Assert.Equal(3, reply.Index);
    }

    [Fact]
    public async Task Bidirectional_call_answers_each_request_before_the_next_is_sent()
    {
        using GrpcClient client = Server.Client();
        await using StreamingCall<ConsoleInput, ConsoleOutput> console = client.DuplexStreaming<ConsoleInput, ConsoleOutput>(
            "emulator.v1.MachineService/AttachConsole", new CallOptions(Timeout: TimeSpan.FromSeconds(10)));
        await console.WriteAsync(new ConsoleInput { MachineId = "m1" });
        await using IAsyncEnumerator<ConsoleOutput> output = console.ResponseStream.GetAsyncEnumerator();
        foreach (string line in new[] { "ls\n", "uname -a\n" })
        {
            await console.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8(line) });
            Assert.True(await output.MoveNextAsync());
            Assert.Equal(line.ToUpperInvariant(), output.Current.Data.ToStringUtf8());
        }
        await console.CompleteAsync();
        Assert.False(await output.MoveNextAsync());
    }

    [Fact]
    public async Task Bidirectional_call_error_is_thrown_by_the_response_stream()
    {
        using GrpcClient client = Server.Client();
        await using StreamingCall<ConsoleInput, ConsoleOutput> console = client.DuplexStreaming<ConsoleInput, ConsoleOutput>(
            "emulator.v1.MachineService/AttachConsole", new CallOptions(Timeout: TimeSpan.FromSeconds(10)));
        await console.WriteAsync(new ConsoleInput { MachineId = "m9" });
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (ConsoleOutput _ in console.ResponseStream)
            {
            }
        });
        Assert.Equal(StatusCode.NotFound, e.Status);
    }

    [Fact]
    public async Task Stopping_the_server_ends_running_streams_with_Unavailable()
    {
        TestServer server = await TestServer.StartAsync();
        using GrpcClient client = server.Client();
        // Only a safety net for a server that never ends the stream; a cancelled call would end Cancelled.
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var first = new TaskCompletionSource();
        Task<RpcException> watching = Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (HealthCheckResponse _ in client.ServerStreamingAsync<HealthCheckRequest, HealthCheckResponse>(
                "grpc.health.v1.Health/Watch", new HealthCheckRequest(), new CallOptions(CancellationToken: cancel.Token)))
            {
                first.TrySetResult();
            }
        });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await server.DisposeAsync();
        // The server ended the stream itself, with its shutdown status: not Kestrel's timeout
        // cutting the connection, and not the client giving up.
        RpcException ended = await watching;
        Assert.Equal(StatusCode.Unavailable, ended.Status);
        Assert.Contains("shutting down", ended.Detail);
    }
}
