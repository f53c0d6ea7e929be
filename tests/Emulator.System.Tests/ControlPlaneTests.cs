using System.Diagnostics;
using System.Text;
using Emulator.Cli.Terminal;
using Emulator.Machine.Telemetry;
using Emulator.Service.Machines;
using Emulator.Service.Rpc;
using Emulator.Service.V1;
using MachineInfo = Emulator.Service.V1.Machine;
using Google.Protobuf;
using OpenTelemetry;
using OpenTelemetry.Trace;
using StatusCode = Emulator.Service.Rpc.StatusCode;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>
/// The control plane end to end over gRPC (our server and client on loopback): bad requests get
/// the documented status codes, then the default guest is created, started, reached over
/// AttachConsole, paused and resumed, stopped and deleted.
/// </summary>
public sealed class ControlPlaneTests : IAsyncLifetime
{
    private const string Service = "emulator.v1.MachineService/";
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private GrpcServer server = null!;
    private MachineService machines = null!;
    private GrpcClient client = null!;

    public async Task InitializeAsync()
    {
        server = new GrpcServer(new GrpcServerOptions { Port = 0 });
        machines = new MachineService(new MachineServiceOptions { AllowedDirectories = [HostBusybox.ImageDirectory], MaxMemoryMibPerNode = 2048 });
        machines.MapTo(server);
        await server.StartAsync();
        client = new GrpcClient(server.Address);
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await server.DisposeAsync();
        await machines.DisposeAsync();
    }

    private Task<MachineInfo> Call(string method, IMessage request) => method switch
    {
        "CreateMachine" => client.UnaryAsync<CreateMachineRequest, MachineInfo>(Service + method, (CreateMachineRequest)request),
        _ => client.UnaryAsync<MachineRef, MachineInfo>(Service + method, (MachineRef)request),
    };

    private static CreateMachineRequest Guest(string id) => new()
    {
        Id = id,
        Vcpus = 1,
        MemoryMib = 512,
        Kernel = Path.Combine(HostBusybox.ImageDirectory, "vmlinux"),
        Initrd = Path.Combine(HostBusybox.ImageDirectory, "initramfs.cpio.gz"),
        CommandLine = "console=ttyS0 panic=-1",
    };

    [Fact]
    public async Task BadRequestsGetTheDocumentedStatusCodes()
    {
        async Task<StatusCode> Status(Func<Task> call)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            return e.Status;
        }

        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("zero-cpus")) { Vcpus = 0 })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("huge")) { MemoryMib = 1UL << 40 })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("no-kernel")) { Kernel = "" })));
        Assert.Equal(StatusCode.PermissionDenied, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("outside")) { Kernel = Path.Combine(Path.GetTempPath(), "outside-the-allowed-directory") })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("missing")) { Kernel = Path.Combine(HostBusybox.ImageDirectory, "no-such-kernel") })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("not-a-kernel")) { Kernel = Path.Combine(HostBusybox.ImageDirectory, "manifest.txt") })));
        Assert.Equal(StatusCode.NotFound, await Status(() => Call("GetMachine", new MachineRef { Id = "nobody" })));

        await Call("CreateMachine", Guest("created"));
        Assert.Equal(StatusCode.AlreadyExists, await Status(() => Call("CreateMachine", Guest("created"))));
        Assert.Equal(StatusCode.FailedPrecondition, await Status(() => Call("PauseMachine", new MachineRef { Id = "created" })));
        Assert.Equal(StatusCode.FailedPrecondition, await Status(() => Call("StopMachine", new MachineRef { Id = "created" })));
        Assert.Equal(StatusCode.ResourceExhausted, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("too-much")) { MemoryMib = 2048 })));
        await client.UnaryAsync<MachineRef, DeleteMachineResponse>(Service + "DeleteMachine", new MachineRef { Id = "created" });
        Assert.Equal(StatusCode.NotFound, await Status(() => Call("GetMachine", new MachineRef { Id = "created" })));
    }

    [Fact]
    public async Task ControlCallsAreSpansWithTheMachineIdAndStatus()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(EmulatorTelemetry.ControlSourceName)
            .AddProcessor(new SimpleActivityExportProcessor(new Collecting(spans)))
            .Build();

        await Call("CreateMachine", Guest("traced"));
        await Assert.ThrowsAsync<RpcException>(() => Call("PauseMachine", new MachineRef { Id = "traced" }));
        await client.UnaryAsync<MachineRef, DeleteMachineResponse>(Service + "DeleteMachine", new MachineRef { Id = "traced" });

        List<Activity> mine;
        lock (spans)
        {
            mine = spans.Where(a => (string?)a.GetTagItem("machine.id") == "traced").ToList();
        }

        Assert.Equal(["MachineService/CreateMachine", "MachineService/PauseMachine", "MachineService/DeleteMachine"], mine.Select(a => a.DisplayName));
        Assert.Equal(ActivityStatusCode.Unset, mine[0].Status);
        Assert.Equal(ActivityStatusCode.Error, mine[1].Status);
        Assert.Equal((int)StatusCode.FailedPrecondition, mine[1].GetTagItem("rpc.grpc.status_code"));
    }

    /// <summary>The end of the OpenTelemetry pipeline in these tests: keeps what it is given.</summary>
    private sealed class Collecting(List<Activity> into) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            lock (into)
            {
                foreach (var a in batch)
                {
                    into.Add(a);
                }
            }

            return ExportResult.Success;
        }
    }

    [Fact]
    public async Task CreateStartConsolePauseResumeStopDelete()
    {
        var created = await Call("CreateMachine", Guest("vm1"));
        Assert.Equal(Emulator.Service.V1.MachineState.Created, created.State);
        Assert.Equal(Emulator.Service.V1.MachineState.Running, (await Call("StartMachine", new MachineRef { Id = "vm1" })).State);

        await using var console = client.DuplexStreaming<ConsoleInput, ConsoleOutput>(Service + "AttachConsole");
        await console.WriteAsync(new ConsoleInput { MachineId = "vm1" });
        var seen = new StringBuilder();
        var output = console.ResponseStream.GetAsyncEnumerator();
        async Task WaitFor(string text)
        {
            using var timeout = new CancellationTokenSource(Boot);
            while (!seen.ToString().Contains(text, StringComparison.Ordinal))
            {
                Assert.True(await output.MoveNextAsync().AsTask().WaitAsync(timeout.Token), $"console ended before '{text}'");
                seen.Append(output.Current.Data.ToStringUtf8());
            }
        }

        await WaitFor(ConsoleSession.Prompt);
        await console.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("\necho $((6*7))-ok\n") });
        await WaitFor("42-ok");

        Assert.Equal(Emulator.Service.V1.MachineState.Paused, (await Call("PauseMachine", new MachineRef { Id = "vm1" })).State);
        Assert.Equal(Emulator.Service.V1.MachineState.Running, (await Call("ResumeMachine", new MachineRef { Id = "vm1" })).State);
        await console.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("echo $((7*8))-ok\n") });
        await WaitFor("56-ok");

        var list = await client.UnaryAsync<ListMachinesRequest, ListMachinesResponse>(Service + "ListMachines", new ListMachinesRequest());
        Assert.Contains(list.Machines, m => m.Id == "vm1" && m.State == Emulator.Service.V1.MachineState.Running);

        Assert.Equal(Emulator.Service.V1.MachineState.Stopped, (await Call("StopMachine", new MachineRef { Id = "vm1" })).State);
        await client.UnaryAsync<MachineRef, DeleteMachineResponse>(Service + "DeleteMachine", new MachineRef { Id = "vm1" });
    }
}
