using System.Collections.Concurrent;
using Emulator.Service.Health;
using Emulator.Service.Rpc;
using Emulator.Service.Tests.V1;
using Emulator.Service.V1;
using Google.Protobuf;

namespace Emulator.Service.Tests;

/// <summary>
/// A server on 127.0.0.1, port 0, with Health, the Echo test service and a fake of a few
/// MachineService calls (the real one is built on the machine API later).
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> cancelled = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> released = new();

    private TestServer(GrpcServer server, HealthService health)
    {
        Server = server;
        Health = health;
    }

    public GrpcServer Server { get; }
    public HealthService Health { get; }
    public int Port => Server.Port;
    public string Target => $"127.0.0.1:{Server.Port}";

    public static async Task<TestServer> StartAsync(string? token = null)
    {
        var server = new GrpcServer(new GrpcServerOptions { BearerToken = token });
        var health = new HealthService();
        health.MapTo(server);
        var test = new TestServer(server, health);
        server.AddServices(EchoReflection.Descriptor).AddServices(MachineReflection.Descriptor);
        test.MapEcho();
        test.MapMachineFake();
        await server.StartAsync();
        return test;
    }

    public GrpcClient Client(string? token = null) =>
        new(Server.Address, new GrpcClientOptions { BearerToken = token });

    /// <summary>Completes when the handler of the call tagged <paramref name="tag"/> saw its token cancelled.</summary>
    public Task HandlerCancelled(string tag) => Signal(tag).Task;

    private TaskCompletionSource Signal(string tag) =>
        cancelled.GetOrAdd(tag, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Ends the sleep of the call tagged <paramref name="tag"/> that ignores cancellation, before its time is up.</summary>
    public void Release(string tag) => Gate(tag).TrySetResult();

    private TaskCompletionSource Gate(string tag) =>
        released.GetOrAdd(tag, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    private void Watch(string tag, CancellationToken token)
    {
        if (tag.Length > 0)
            token.Register(() => Signal(tag).TrySetResult());
    }

    private void MapEcho()
    {
        Server.MapUnary<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", (request, context) =>
        {
            if (request.Text == "throw")
                throw new InvalidOperationException("secret host detail");
            if (request.Text.StartsWith("status:", StringComparison.Ordinal))
                throw new RpcException(Enum.Parse<StatusCode>(request.Text["status:".Length..]), "niet gevonden — 100% ✓");
            return Task.FromResult(new EchoReply { Text = request.Text, Size = request.Payload.Length });
        });
        Server.MapServerStreaming<CountRequest, EchoReply>("emulator.test.v1.Echo/Count", async (request, responses, context) =>
        {
            Watch(request.Tag, context.CancellationToken);
            for (int i = 0; i < request.Count; i++)
            {
                await responses.WriteAsync(new EchoReply { Text = $"n{i}", Index = i });
                if (request.DelayMs > 0)
                    await Task.Delay(request.DelayMs, context.CancellationToken);
            }
        });
        Server.MapClientStreaming<EchoRequest, EchoReply>("emulator.test.v1.Echo/Join", async (requests, context) =>
        {
            var texts = new List<string>();
            await foreach (EchoRequest request in requests)
                texts.Add(request.Text);
            return new EchoReply { Text = string.Join(",", texts), Index = texts.Count };
        });
        Server.MapDuplexStreaming<EchoRequest, EchoReply>("emulator.test.v1.Echo/Chat", async (requests, responses, context) =>
        {
            int index = 0;
            await foreach (EchoRequest request in requests)
                await responses.WriteAsync(new EchoReply { Text = request.Text.ToUpperInvariant(), Index = index++ });
        });
        Server.MapUnary<SleepRequest, EchoReply>("emulator.test.v1.Echo/Sleep", async (request, context) =>
        {
            Watch(request.Tag, context.CancellationToken);
            if (request.IgnoreCancellation)
                await Task.WhenAny(Task.Delay(request.Millis, CancellationToken.None), Gate(request.Tag).Task);
            else
                await Task.Delay(request.Millis, context.CancellationToken);
            return new EchoReply { Text = "slept" };
        });
    }

    private void MapMachineFake()
    {
        var machine = new global::Emulator.Service.V1.Machine
        {
            Id = "m1",
            State = MachineState.Running,
            Node = "node-a",
            Spec = new MachineSpec { Vcpus = 2, MemoryMib = 256, Kernel = "/boot/vmlinux", CommandLine = "console=ttyS0" },
        };
        Server.MapUnary<MachineRef, global::Emulator.Service.V1.Machine>("emulator.v1.MachineService/GetMachine", (request, context) =>
            request.Id == machine.Id
                ? Task.FromResult(machine)
                : throw new RpcException(StatusCode.NotFound, $"no machine \"{request.Id}\""));
        Server.MapUnary<CreateMachineRequest, global::Emulator.Service.V1.Machine>("emulator.v1.MachineService/CreateMachine", (request, context) =>
            Task.FromResult(new global::Emulator.Service.V1.Machine { Id = request.Id, State = MachineState.Created }));
        Server.MapServerStreaming<MachineRef, MachineEvent>("emulator.v1.MachineService/WatchMachine", async (request, events, context) =>
        {
            foreach (MachineState state in new[] { MachineState.Running, MachineState.Paused, MachineState.Stopped })
                await events.WriteAsync(new MachineEvent { MachineId = request.Id, State = state });
        });
        Server.MapDuplexStreaming<ConsoleInput, ConsoleOutput>("emulator.v1.MachineService/AttachConsole", async (input, output, context) =>
        {
            bool first = true;
            await foreach (ConsoleInput message in input)
            {
                if (first && message.MachineId != machine.Id)
                    throw message.MachineId.Length == 0
                        ? new RpcException(StatusCode.InvalidArgument, "the first message must name the machine")
                        : new RpcException(StatusCode.NotFound, $"no machine \"{message.MachineId}\"");
                if (!first)
                    await output.WriteAsync(new ConsoleOutput { Data = ByteString.CopyFrom(message.Data.ToByteArray().Select(b => (byte)char.ToUpperInvariant((char)b)).ToArray()) });
                first = false;
            }
        });
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
