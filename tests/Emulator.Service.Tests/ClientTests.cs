using Emulator.Service.Rpc;
using Emulator.Service.Tests.V1;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Tests;

/// <summary>The server, called through our own client.</summary>
public sealed class ClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Unary_call_returns_the_response()
    {
        using GrpcClient client = Server.Client();
        EchoReply reply = await client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary",
            new EchoRequest { Text = "hello", Payload = ByteString.CopyFrom(new byte[1000]) });
        Assert.Equal("hello", reply.Text);
        Assert.Equal(1000, reply.Size);
    }

    [Fact]
    public async Task Machine_fake_answers_GetMachine_and_NotFound()
    {
        using GrpcClient client = Server.Client();
        global::Emulator.Service.V1.Machine machine = await client.UnaryAsync<MachineRef, global::Emulator.Service.V1.Machine>("emulator.v1.MachineService/GetMachine", new MachineRef { Id = "m1" });
        Assert.Equal(MachineState.Running, machine.State);
        Assert.Equal(256UL, machine.Spec.MemoryMib);
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.UnaryAsync<MachineRef, global::Emulator.Service.V1.Machine>("emulator.v1.MachineService/GetMachine", new MachineRef { Id = "m9" }));
        Assert.Equal(StatusCode.NotFound, e.Status);
        Assert.Equal("no machine \"m9\"", e.Detail);
    }

    [Fact]
    public async Task Status_message_round_trips_through_percent_encoding()
    {
        using GrpcClient client = Server.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", new EchoRequest { Text = "status:FailedPrecondition" }));
        Assert.Equal(StatusCode.FailedPrecondition, e.Status);
        Assert.Equal("niet gevonden — 100% ✓", e.Detail);
    }

    [Fact]
    public async Task Handler_exception_is_Unknown_without_its_message()
    {
        using GrpcClient client = Server.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", new EchoRequest { Text = "throw" }));
        Assert.Equal(StatusCode.Unknown, e.Status);
        Assert.DoesNotContain("secret", e.Detail);
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_in_order()
    {
        using GrpcClient client = Server.Client();
        var indexes = new List<int>();
        await foreach (EchoReply reply in client.ServerStreamingAsync<CountRequest, EchoReply>("emulator.test.v1.Echo/Count", new CountRequest { Count = 50 }))
            indexes.Add(reply.Index);
        Assert.Equal(Enumerable.Range(0, 50), indexes);
    }

    [Fact]
    public async Task Server_streaming_of_zero_messages_is_OK()
    {
        using GrpcClient client = Server.Client();
        int count = 0;
        await foreach (EchoReply _ in client.ServerStreamingAsync<CountRequest, EchoReply>("emulator.test.v1.Echo/Count", new CountRequest { Count = 0 }))
            count++;
        Assert.Equal(0, count);
    }

    [Fact]
    public async Task Health_check_reports_the_server_and_NotFound_for_an_unknown_service()
    {
        using GrpcClient client = Server.Client();
        HealthCheckResponse response = await client.UnaryAsync<HealthCheckRequest, HealthCheckResponse>(
            "grpc.health.v1.Health/Check", new HealthCheckRequest());
        Assert.Equal(ServingStatus.Serving, response.Status);
        var e = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync<HealthCheckRequest, HealthCheckResponse>(
            "grpc.health.v1.Health/Check", new HealthCheckRequest { Service = "nope" }));
        Assert.Equal(StatusCode.NotFound, e.Status);
    }

    [Fact]
    public async Task Health_watch_streams_each_status_change()
    {
        using GrpcClient client = Server.Client();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seen = new List<ServingStatus>();
        await foreach (HealthCheckResponse response in client.ServerStreamingAsync<HealthCheckRequest, HealthCheckResponse>(
            "grpc.health.v1.Health/Watch", new HealthCheckRequest { Service = "emulator.v1.MachineService" }, new CallOptions(CancellationToken: cancel.Token)))
        {
            seen.Add(response.Status);
            if (seen.Count == 1)
                Server.Health.SetStatus("emulator.v1.MachineService", ServingStatus.Serving);
            else if (seen.Count == 2)
                Server.Health.SetStatus("emulator.v1.MachineService", ServingStatus.NotServing);
            else
                break;
        }
        Assert.Equal([ServingStatus.ServiceUnknown, ServingStatus.Serving, ServingStatus.NotServing], seen);
    }

    [Fact]
    public async Task Deadline_expires_as_DeadlineExceeded_and_cancels_the_handler()
    {
        using GrpcClient client = Server.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync<SleepRequest, EchoReply>(
            "emulator.test.v1.Echo/Sleep", new SleepRequest { Millis = 10_000, Tag = "client-deadline" },
            new CallOptions(Timeout: TimeSpan.FromMilliseconds(200))));
        Assert.Equal(StatusCode.DeadlineExceeded, e.Status);
        await Server.HandlerCancelled("client-deadline").WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancelling_a_stream_is_Cancelled_and_reaches_the_handler()
    {
        using GrpcClient client = Server.Client();
        using var cancel = new CancellationTokenSource();
        int received = 0;
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (EchoReply _ in client.ServerStreamingAsync<CountRequest, EchoReply>("emulator.test.v1.Echo/Count",
                new CountRequest { Count = 1000, DelayMs = 20, Tag = "client-cancel" }, new CallOptions(CancellationToken: cancel.Token)))
            {
                if (++received == 2)
                    cancel.Cancel();
            }
        });
        Assert.Equal(StatusCode.Cancelled, e.Status);
        await Server.HandlerCancelled("client-cancel").WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Unknown_method_and_declared_method_without_handler_are_Unimplemented()
    {
        using GrpcClient client = Server.Client();
        var unknown = await Assert.ThrowsAsync<RpcException>(() =>
            client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Nope", new EchoRequest()));
        Assert.Equal(StatusCode.Unimplemented, unknown.Status);
        var unhandled = await Assert.ThrowsAsync<RpcException>(() =>
            client.UnaryAsync<SnapshotRef, DeleteSnapshotResponse>("emulator.v1.MachineService/DeleteSnapshot", new SnapshotRef { Id = "s" }));
        Assert.Equal(StatusCode.Unimplemented, unhandled.Status);
    }

    [Fact]
    public async Task Oversized_request_is_ResourceExhausted()
    {
        using GrpcClient client = Server.Client();
        var e = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary",
            new EchoRequest { Payload = ByteString.CopyFrom(new byte[GrpcProtocol.DefaultMaxReceiveMessageSize + 1]) }));
        Assert.Equal(StatusCode.ResourceExhausted, e.Status);
    }

    [Fact]
    public async Task Request_just_under_the_limit_is_accepted()
    {
        using GrpcClient client = Server.Client();
        int size = GrpcProtocol.DefaultMaxReceiveMessageSize - 16;
        EchoReply reply = await client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary",
            new EchoRequest { Payload = ByteString.CopyFrom(new byte[size]) });
        Assert.Equal(size, reply.Size);
    }

    [Fact]
    public async Task Many_concurrent_calls_share_the_connection()
    {
        using GrpcClient client = Server.Client();
        EchoReply[] replies = await Task.WhenAll(Enumerable.Range(0, 64).Select(i =>
            client.UnaryAsync<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", new EchoRequest { Text = $"c{i}" })));
        Assert.Equal(Enumerable.Range(0, 64).Select(i => $"c{i}"), replies.Select(r => r.Text));
    }
}

public sealed class AuthTests
{
    [Fact]
    public async Task Token_is_required_when_configured()
    {
        await using TestServer server = await TestServer.StartAsync(token: "s3cret");
        var request = new HealthCheckRequest();
        foreach (string? token in new[] { null, "wrong", "s3cre", "s3cret-and-more" })
        {
            using GrpcClient client = server.Client(token);
            var e = await Assert.ThrowsAsync<RpcException>(() =>
                client.UnaryAsync<HealthCheckRequest, HealthCheckResponse>("grpc.health.v1.Health/Check", request));
            Assert.Equal(StatusCode.Unauthenticated, e.Status);
        }
        using GrpcClient good = server.Client("s3cret");
        HealthCheckResponse response = await good.UnaryAsync<HealthCheckRequest, HealthCheckResponse>("grpc.health.v1.Health/Check", request);
        Assert.Equal(ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task Stopped_server_refuses_calls_as_Unavailable()
    {
        TestServer server = await TestServer.StartAsync();
        using GrpcClient client = server.Client();
        await server.DisposeAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.UnaryAsync<HealthCheckRequest, HealthCheckResponse>("grpc.health.v1.Health/Check", new HealthCheckRequest()));
        Assert.Equal(StatusCode.Unavailable, e.Status);
    }
}
