namespace Emulator.Service.Tests;

/// <summary>The server, called by the real gRPC client (Python grpcio); asserts what Python sees.</summary>
public sealed class PythonClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private Task<string[]> RunAsync(string script) => PythonGrpc.RunAsync(Server.Target, script);

    [PythonFact]
    public async Task Health_Check_and_Watch()
    {
        string[] lines = await RunAsync("""
            print(health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status))
            print(status(lambda: health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)))
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
            print(health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status))
            watch.cancel()
            """);
        Assert.Equal(["SERVING", "NOT_FOUND", "SERVING"], lines);
    }

    [PythonFact]
    public async Task Unary_calls_and_status_details()
    {
        string[] lines = await RunAsync("""
            reply = echo.Unary(echo_pb2.EchoRequest(text="hello", payload=b"x" * 1000), timeout=10)
            print(reply.text, reply.size)
            m = machine.GetMachine(machine_pb2.MachineRef(id="m1"), timeout=10)
            print(m.id, machine_pb2.MachineState.Name(m.state), m.spec.vcpus, m.spec.memory_mib)
            try:
                machine.GetMachine(machine_pb2.MachineRef(id="m9"), timeout=10)
            except grpc.RpcError as err:
                print(err.code().name, err.details())
            try:
                echo.Unary(echo_pb2.EchoRequest(text="status:FailedPrecondition"), timeout=10)
            except grpc.RpcError as err:
                print(err.code().name, err.details())
            print(status(lambda: echo.Unary(echo_pb2.EchoRequest(text="throw"), timeout=10)))
            """);
        Assert.Equal([
            "hello 1000",
            "m1 MACHINE_STATE_RUNNING 2 256",
            "NOT_FOUND no machine \"m9\"",
            "FAILED_PRECONDITION niet gevonden — 100% ✓",
            "UNKNOWN",
        ], lines);
    }

    [PythonFact]
    public async Task Server_streaming_calls()
    {
        string[] lines = await RunAsync("""
            print(",".join(str(r.index) for r in echo.Count(echo_pb2.CountRequest(count=20), timeout=10)))
            print(",".join(machine_pb2.MachineState.Name(e.state) for e in machine.WatchMachine(machine_pb2.MachineRef(id="m1"), timeout=10)))
            """);
        Assert.Equal([
            string.Join(",", Enumerable.Range(0, 20)),
            "MACHINE_STATE_RUNNING,MACHINE_STATE_PAUSED,MACHINE_STATE_STOPPED",
        ], lines);
    }

    [PythonFact]
    public async Task Client_streaming_call()
    {
        string[] lines = await RunAsync("""
            reply = echo.Join(iter([echo_pb2.EchoRequest(text=t) for t in ["a", "b", "c"]]), timeout=10)
            print(reply.text, reply.index)
            print(echo.Join(iter([]), timeout=10).index)
            """);
        Assert.Equal(["a,b,c 3", "0"], lines);
    }

    [PythonFact]
    public async Task Bidirectional_calls_interleave_requests_and_responses()
    {
        // Each response is read before the next request is sent: the server must answer
        // while the request stream is still open.
        string[] lines = await RunAsync("""
            requests = queue.Queue()
            def pending():
                while True:
                    item = requests.get()
                    if item is None:
                        return
                    yield item
            console = machine.AttachConsole(pending(), timeout=10)
            requests.put(machine_pb2.ConsoleInput(machine_id="m1"))
            seen = []
            for data in [b"ls\n", b"uname -a\n"]:
                requests.put(machine_pb2.ConsoleInput(data=data))
                seen.append(next(console).data.decode().strip())
            requests.put(None)
            print("|".join(seen), len(list(console)))
            print(status(lambda: list(machine.AttachConsole(iter([machine_pb2.ConsoleInput(data=b"x")]), timeout=10))))
            chat = echo.Chat(iter([echo_pb2.EchoRequest(text=t) for t in ["x", "y"]]), timeout=10)
            print(",".join(r.text for r in chat))
            """);
        Assert.Equal(["LS|UNAME -A 0", "INVALID_ARGUMENT", "X,Y"], lines);
    }

    [PythonFact]
    public async Task Deadline_expires_as_DeadlineExceeded()
    {
        string[] lines = await RunAsync("""
            start = time.monotonic()
            print(status(lambda: echo.Sleep(echo_pb2.SleepRequest(millis=10000, tag="py-deadline"), timeout=0.3)))
            print(time.monotonic() - start < 5)
            """);
        Assert.Equal(["DEADLINE_EXCEEDED", "True"], lines);
        await Server.HandlerCancelled("py-deadline").WaitAsync(TimeSpan.FromSeconds(10));
    }

    [PythonFact]
    public async Task Cancellation_reaches_the_handler()
    {
        string[] lines = await RunAsync("""
            call = echo.Count(echo_pb2.CountRequest(count=1000, delay_ms=20, tag="py-cancel"), timeout=30)
            next(call); next(call)
            call.cancel()
            print(status(lambda: list(call)))
            """);
        Assert.Equal(["CANCELLED"], lines);
        await Server.HandlerCancelled("py-cancel").WaitAsync(TimeSpan.FromSeconds(10));
    }

    [PythonFact]
    public async Task Unknown_and_unhandled_methods_are_Unimplemented()
    {
        string[] lines = await RunAsync("""
            nope = channel.unary_unary("/emulator.test.v1.Nope/Call")
            print(status(lambda: nope(b"", timeout=10)))
            print(status(lambda: machine.DeleteSnapshot(machine_pb2.SnapshotRef(id="s1"), timeout=10)))
            """);
        Assert.Equal(["UNIMPLEMENTED", "UNIMPLEMENTED"], lines);
    }

    [PythonFact]
    public async Task Oversized_message_is_ResourceExhausted()
    {
        string[] lines = await RunAsync("""
            print(status(lambda: echo.Unary(echo_pb2.EchoRequest(payload=b"x" * (5 * 1024 * 1024)), timeout=20)))
            print(status(lambda: machine.CreateMachine(machine_pb2.CreateMachineRequest(id="big", command_line="x" * (5 * 1024 * 1024)), timeout=20)))
            print(echo.Unary(echo_pb2.EchoRequest(payload=b"x" * (4 * 1024 * 1024 - 16)), timeout=20).size)
            """);
        Assert.Equal(["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", (4 * 1024 * 1024 - 16).ToString(System.Globalization.CultureInfo.InvariantCulture)], lines);
    }

    [PythonFact]
    public async Task Bearer_token_is_checked()
    {
        await using TestServer secured = await TestServer.StartAsync(token: "s3cret");
        string[] lines = await PythonGrpc.RunAsync(secured.Target, """
            request = health_pb2.HealthCheckRequest()
            print(status(lambda: health.Check(request, timeout=10)))
            print(status(lambda: health.Check(request, timeout=10, metadata=[("authorization", "Bearer wrong")])))
            print(status(lambda: health.Check(request, timeout=10, metadata=[("authorization", "Bearer s3cret")])))
            print(status(lambda: list(echo.Count(echo_pb2.CountRequest(count=2), timeout=10))))
            """);
        Assert.Equal(["UNAUTHENTICATED", "UNAUTHENTICATED", "OK", "UNAUTHENTICATED"], lines);
    }
}
