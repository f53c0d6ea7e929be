namespace Emulator.Service.Tests;

/// <summary>The node's control plane called by the real gRPC client (Python grpcio); asserts what Python sees.</summary>
public sealed class PythonClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private Task<string[]> RunAsync(string script) => PythonGrpc.RunAsync(Server.Target, script.Replace("KERNEL", Server.Kernel, StringComparison.Ordinal));

    [PythonFact]
    public async Task Health_Check_and_Watch()
    {
        string[] lines = await RunAsync("""
            print(health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status))
            print(health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(service="emulator.v1.MachineService"), timeout=10).status))
            print(status(lambda: health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)))
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
            print(health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status))
            watch.cancel()
            """);
        Assert.Equal(["SERVING", "SERVING", "NOT_FOUND", "SERVING"], lines);
    }

    [PythonFact]
    public async Task Unary_calls_and_status_details()
    {
        string[] lines = await RunAsync("""
            m = machine.CreateMachine(machine_pb2.CreateMachineRequest(id="py-unary", vcpus=1, memory_mib=64, kernel="KERNEL"), timeout=30)
            print(m.id, machine_pb2.MachineState.Name(m.state), m.spec.vcpus, m.spec.memory_mib)
            try:
                machine.GetMachine(machine_pb2.MachineRef(id="m9"), timeout=10)
            except grpc.RpcError as err:
                print(err.code().name, err.details())
            try:
                machine.PauseMachine(machine_pb2.MachineRef(id="py-unary"), timeout=10)
            except grpc.RpcError as err:
                print(err.code().name)
            print(status(lambda: machine.CreateMachine(machine_pb2.CreateMachineRequest(id="py-bad", vcpus=1, memory_mib=64, kernel="relative/kernel"), timeout=10)))
            machine.DeleteMachine(machine_pb2.MachineRef(id="py-unary"), timeout=10)
            """);
        Assert.Equal([
            "py-unary MACHINE_STATE_CREATED 1 64",
            "NOT_FOUND no machine 'm9'",
            "FAILED_PRECONDITION",
            "INVALID_ARGUMENT",
        ], lines);
    }

    [PythonFact]
    public async Task Server_and_bidirectional_streams()
    {
        string[] lines = await RunAsync("""
            machine.CreateMachine(machine_pb2.CreateMachineRequest(id="py-stream", vcpus=1, memory_mib=64, kernel="KERNEL"), timeout=30)
            watch = machine.WatchMachine(machine_pb2.MachineRef(id="py-stream"), timeout=30)
            print(machine_pb2.MachineState.Name(next(watch).state))
            machine.DeleteMachine(machine_pb2.MachineRef(id="py-stream"), timeout=10)
            print(",".join(e.detail for e in watch))
            print(status(lambda: list(machine.AttachConsole(iter([machine_pb2.ConsoleInput(data=b"x")]), timeout=10))))
            print(status(lambda: list(machine.AttachConsole(iter([machine_pb2.ConsoleInput(machine_id="nobody")]), timeout=10))))
            """);
        Assert.Equal(["MACHINE_STATE_CREATED", "deleted", "INVALID_ARGUMENT", "NOT_FOUND"], lines);
    }

    [PythonFact]
    public async Task Deadline_passing_while_the_service_works_is_DeadlineExceeded_and_leaves_no_machine()
    {
        Server.Host.Machines.BeforeCommit = (call, cancel) => call == "CreateMachine" ? Task.Delay(Timeout.Infinite, cancel) : Task.CompletedTask;
        try
        {
            string[] lines = await RunAsync("""
                print(status(lambda: machine.CreateMachine(machine_pb2.CreateMachineRequest(id="py-late", vcpus=1, memory_mib=64, kernel="KERNEL"), timeout=0.05)))
                """);
            Assert.Equal(["DEADLINE_EXCEEDED"], lines);
        }
        finally
        {
            Server.Host.Machines.BeforeCommit = (_, _) => Task.CompletedTask;
        }

        string[] after = await RunAsync("""
            machine.CreateMachine(machine_pb2.CreateMachineRequest(id="py-after", vcpus=1, memory_mib=64, kernel="KERNEL"), timeout=30)
            print(status(lambda: machine.GetMachine(machine_pb2.MachineRef(id="py-late"), timeout=10)))
            machine.DeleteMachine(machine_pb2.MachineRef(id="py-after"), timeout=10)
            """);
        Assert.Equal(["NOT_FOUND"], after);
    }

    [PythonFact]
    public async Task Unknown_methods_are_Unimplemented_and_malformed_or_oversized_requests_refused()
    {
        string[] lines = await RunAsync("""
            nope = channel.unary_unary("/emulator.test.v1.Nope/Call")
            print(status(lambda: nope(b"", timeout=10)))
            raw = channel.unary_unary("/emulator.v1.MachineService/GetMachine")
            print(status(lambda: raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)))
            print(status(lambda: machine.CreateMachine(machine_pb2.CreateMachineRequest(id="big", command_line="x" * (5 * 1024 * 1024)), timeout=20)))
            """);
        Assert.Equal(["UNIMPLEMENTED", "INTERNAL", "RESOURCE_EXHAUSTED"], lines);
    }

    [PythonFact]
    public async Task Bearer_token_is_checked()
    {
        await using TestServer secured = await TestServer.StartAsync(o => o with { BearerToken = "s3cret" });
        string[] lines = await PythonGrpc.RunAsync(secured.Target, """
            request = health_pb2.HealthCheckRequest()
            print(status(lambda: health.Check(request, timeout=10)))
            print(status(lambda: health.Check(request, timeout=10, metadata=[("authorization", "Bearer wrong")])))
            print(status(lambda: health.Check(request, timeout=10, metadata=[("authorization", "Bearer s3cret")])))
            print(status(lambda: list(machine.WatchMachine(machine_pb2.MachineRef(id="x"), timeout=10))))
            """);
        Assert.Equal(["UNAUTHENTICATED", "UNAUTHENTICATED", "OK", "UNAUTHENTICATED"], lines);
    }

    [PythonFact]
    public async Task A_Unix_socket_serves_grpcio()
    {
        string directory = Directory.CreateTempSubdirectory("emu-py-socket-").FullName;
        try
        {
            await using TestServer local = await TestServer.StartAsync(o => o with { Listen = Hosting.ListenAddress.UnixSocket(Path.Combine(directory, "emu.sock")) });
            string[] lines = await PythonGrpc.RunAsync(local.Target, """
                print(health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status))
                print(len(machine.ListMachines(machine_pb2.ListMachinesRequest(), timeout=10).machines))
                """);
            Assert.Equal(["SERVING", "0"], lines);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
