using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Tests;

/// <summary>The node's services through Grpc.Net.Client: answers, documented status codes, streams, limits.</summary>
public sealed class CallTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task A_tiny_machine_is_created_described_listed_and_deleted()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        var created = await machines.CreateMachineAsync(Server.Tiny("calls-tiny"));
        Assert.Equal(MachineState.Created, created.State);
        Assert.Equal(64UL, (await machines.GetMachineAsync(new MachineRef { Id = "calls-tiny" })).Spec.MemoryMib);
        Assert.Contains((await machines.ListMachinesAsync(new ListMachinesRequest())).Machines, m => m.Id == "calls-tiny");
        await machines.DeleteMachineAsync(new MachineRef { Id = "calls-tiny" });
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.GetMachineAsync(new MachineRef { Id = "calls-tiny" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal("no machine 'calls-tiny'", e.Status.Detail);
    }

    [Fact]
    public async Task GetMachine_shows_the_spec_as_created_cpu_reboot_and_shared_folders_included()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        string share = Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(Server.Kernel)!, "calls-share")).FullName;
        var request = new CreateMachineRequest(Server.Tiny("calls-spec"))
        {
            Cpu = "qemu64",
            NoReboot = true,
            SharedFolders = { new SharedFolder { Path = share, MountTag = "host", ReadOnly = true } },
        };
        await machines.CreateMachineAsync(request);
        try
        {
            var spec = (await machines.GetMachineAsync(new MachineRef { Id = "calls-spec" })).Spec;
            Assert.Equal("qemu64", spec.Cpu);
            Assert.True(spec.NoReboot);
            var shown = Assert.Single(spec.SharedFolders);
            Assert.Equal((share, "host", true), (shown.Path, shown.MountTag, shown.ReadOnly));
            Assert.Empty(spec.NetworkInterfaces);
        }
        finally
        {
            await machines.DeleteMachineAsync(new MachineRef { Id = "calls-spec" });
        }
    }

    [Fact]
    public async Task Bad_requests_get_the_documented_codes()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        async Task<StatusCode> Status(Func<Task> call) => (await Assert.ThrowsAsync<RpcException>(call)).StatusCode;

        Assert.Equal(StatusCode.InvalidArgument, await Status(() => machines.CreateMachineAsync(new CreateMachineRequest(Server.Tiny("bad")) { Vcpus = 0 }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => machines.CreateMachineAsync(new CreateMachineRequest(Server.Tiny("bad")) { Kernel = "" }).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await Status(() => machines.CreateMachineAsync(new CreateMachineRequest(Server.Tiny("bad")) { Kernel = Path.Combine(Path.GetDirectoryName(Server.SnapshotDirectory)!, "outside") }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => machines.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "nobody" }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => machines.StartMachineAsync(new MachineRef { Id = "nobody" }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => machines.DeleteSnapshotAsync(new SnapshotRef { Id = "nothing" }).ResponseAsync));
        await machines.CreateMachineAsync(Server.Tiny("calls-created"));
        Assert.Equal(StatusCode.AlreadyExists, await Status(() => machines.CreateMachineAsync(Server.Tiny("calls-created")).ResponseAsync));
        Assert.Equal(StatusCode.FailedPrecondition, await Status(() => machines.PauseMachineAsync(new MachineRef { Id = "calls-created" }).ResponseAsync));
        Assert.Equal(StatusCode.FailedPrecondition, await Status(() => machines.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "calls-created" }).ResponseAsync));
        await machines.DeleteMachineAsync(new MachineRef { Id = "calls-created" });
    }

    [Fact]
    public async Task Health_reports_the_server_and_MachineService_and_NotFound_for_an_unknown_service()
    {
        using GrpcChannel channel = Server.Channel();
        var health = new Grpc.Health.V1.Health.HealthClient(channel);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = "emulator.v1.MachineService" })).Status);
        var e = await Assert.ThrowsAsync<RpcException>(() => health.CheckAsync(new HealthCheckRequest { Service = "nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task Health_watch_streams_each_status_change()
    {
        using GrpcChannel channel = Server.Channel();
        var health = new Grpc.Health.V1.Health.HealthClient(channel);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var watch = health.Watch(new HealthCheckRequest { Service = "calls.Watched" }, cancellationToken: cancel.Token);
        var seen = new List<ServingStatus>();
        await foreach (var response in watch.ResponseStream.ReadAllAsync(cancel.Token))
        {
            seen.Add(response.Status);
            if (seen.Count == 1)
                Server.Host.Health.SetStatus("calls.Watched", ServingStatus.Serving);
            else if (seen.Count == 2)
                Server.Host.Health.SetStatus("calls.Watched", ServingStatus.NotServing);
            else
                break;
        }

        Assert.Equal([ServingStatus.ServiceUnknown, ServingStatus.Serving, ServingStatus.NotServing], seen);
    }

    [Fact]
    public async Task WatchMachine_sends_the_current_state_and_a_cancelled_watch_is_Cancelled()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(Server.Tiny("calls-watched"));
        using var cancel = new CancellationTokenSource();
        using var watch = machines.WatchMachine(new MachineRef { Id = "calls-watched" }, cancellationToken: cancel.Token);
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(MachineState.Created, watch.ResponseStream.Current.State);
        await cancel.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        await machines.DeleteMachineAsync(new MachineRef { Id = "calls-watched" });
    }

    [Fact]
    public async Task AttachConsole_refuses_a_first_message_without_a_machine_an_unknown_one_and_a_CREATED_one()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(Server.Tiny("calls-console"));
        foreach (var (first, expected) in new[] { ("", StatusCode.InvalidArgument), ("nobody", StatusCode.NotFound), ("calls-console", StatusCode.FailedPrecondition) })
        {
            using var console = machines.AttachConsole();
            await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = first, Data = ByteString.CopyFromUtf8("x") });
            var e = await Assert.ThrowsAsync<RpcException>(() => console.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(expected, e.StatusCode);
        }

        await machines.DeleteMachineAsync(new MachineRef { Id = "calls-console" });
    }

    [Fact]
    public async Task Unknown_service_and_method_are_Unimplemented()
    {
        using GrpcChannel channel = Server.Channel();
        foreach (string name in new[] { "/emulator.v1.Nope/Call", "/emulator.v1.MachineService/Nope" })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => Raw(channel, name, []));
            Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        }
    }

    [Fact]
    public async Task A_request_that_does_not_parse_is_Internal()
    {
        using GrpcChannel channel = Server.Channel();
        // A length-delimited field 1 whose length runs past the end of the message.
        var e = await Assert.ThrowsAsync<RpcException>(() => Raw(channel, "/emulator.v1.MachineService/GetMachine", [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
        Assert.Equal(StatusCode.Internal, e.StatusCode);
    }

    [Fact]
    public async Task A_request_over_the_receive_limit_is_ResourceExhausted()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.CreateMachineAsync(
            new CreateMachineRequest(Server.Tiny("calls-big")) { CommandLine = new string('x', Server.Host.Options.MaxReceiveMessageBytes + 1) }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task A_request_just_under_the_receive_limit_reaches_the_service()
    {
        using GrpcChannel channel = Server.Channel();
        var machines = TestServer.Machines(channel);
        // Refused by the service's own check (vcpus), so it was received and parsed whole.
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.CreateMachineAsync(
            new CreateMachineRequest(Server.Tiny("calls-almost")) { Vcpus = 0, CommandLine = new string('x', Server.Host.Options.MaxReceiveMessageBytes - 1024) }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("vcpus", e.Status.Detail);
    }

    [Fact]
    public async Task Many_concurrent_calls_share_the_channel()
    {
        using GrpcChannel channel = Server.Channel();
        var health = new Grpc.Health.V1.Health.HealthClient(channel);
        var replies = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => health.CheckAsync(new HealthCheckRequest()).ResponseAsync));
        Assert.All(replies, r => Assert.Equal(ServingStatus.Serving, r.Status));
    }

    /// <summary>A unary call of <paramref name="method"/> with these request bytes, whatever the service declares.</summary>
    internal static Task<byte[]> Raw(GrpcChannel channel, string method, byte[] request)
    {
        var bytes = Marshallers.Create(b => b, b => b);
        string[] parts = method.TrimStart('/').Split('/');
        var call = new Method<byte[], byte[]>(MethodType.Unary, parts[0], parts[1], bytes, bytes);
        return channel.CreateCallInvoker().AsyncUnaryCall(call, null, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(1)), request).ResponseAsync;
    }
}
