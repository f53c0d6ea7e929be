using System.Diagnostics;
using System.Text;
using Emulator.Cli.Terminal;
using Emulator.Machine.Block;
using Emulator.Machine.Telemetry;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using MachineInfo = Emulator.Service.V1.Machine;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using OpenTelemetry;
using OpenTelemetry.Trace;
using StatusCode = Grpc.Core.StatusCode;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>
/// The control plane end to end over gRPC (ControlPlaneHost and Grpc.Net.Client on loopback): bad requests get
/// the documented status codes, then the default guest is created, started, reached over
/// AttachConsole, paused and resumed, stopped and deleted.
/// </summary>
public sealed class ControlPlaneTests : IAsyncLifetime
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private ControlPlaneHost server = null!;
    private GrpcChannel channel = null!;
    private Emulator.Service.V1.MachineService.MachineServiceClient client = null!;
    private readonly DirectoryInfo snapshots = Directory.CreateTempSubdirectory("emu-cp-snapshots-");
    private readonly DirectoryInfo disks = Directory.CreateTempSubdirectory("emu-cp-disks-");
    private readonly DirectoryInfo notAllowed = Directory.CreateTempSubdirectory("emu-cp-outside-");

    public async Task InitializeAsync()
    {
        server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            Machines = new MachineServiceOptions
            {
                AllowedDirectories = [DefaultGuest.ImageDirectory, disks.FullName],
                MaxMemoryMibPerNode = 2048,
                SnapshotDirectory = snapshots.FullName,
            },
        });
        channel = ControlPlaneChannel.Open(server.Address);
        client = new(channel);
    }

    public async Task DisposeAsync()
    {
        channel.Dispose();
        await server.DisposeAsync();
        snapshots.Delete(recursive: true);
        disks.Delete(recursive: true);
        notAllowed.Delete(recursive: true);
    }

    private Task<MachineInfo> Call(string method, IMessage request) => method switch
    {
        "CreateMachine" => client.CreateMachineAsync((CreateMachineRequest)request).ResponseAsync,
        "StartMachine" => client.StartMachineAsync((MachineRef)request).ResponseAsync,
        "PauseMachine" => client.PauseMachineAsync((MachineRef)request).ResponseAsync,
        "ResumeMachine" => client.ResumeMachineAsync((MachineRef)request).ResponseAsync,
        "StopMachine" => client.StopMachineAsync((MachineRef)request).ResponseAsync,
        "GetMachine" => client.GetMachineAsync((MachineRef)request).ResponseAsync,
        _ => throw new ArgumentException($"not a call that returns a machine: {method}", nameof(method)),
    };

    private static CreateMachineRequest Guest(string id) => new()
    {
        Id = id,
        Vcpus = 1,
        MemoryMib = 512,
        Kernel = DefaultGuest.Kernel,
        Initrd = DefaultGuest.Initrd,
        CommandLine = "console=ttyS0 panic=-1",
    };

    [Fact]
    public async Task BadRequestsGetTheDocumentedStatusCodes()
    {
        async Task<StatusCode> Status(Func<Task> call)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            return e.StatusCode;
        }

        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("zero-cpus")) { Vcpus = 0 })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("huge")) { MemoryMib = 1UL << 40 })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("no-kernel")) { Kernel = "" })));
        var unknownCpu = await Assert.ThrowsAsync<RpcException>(() => Call("CreateMachine", new CreateMachineRequest(Guest("bad-cpu")) { Cpu = "haswell" }));
        Assert.Equal(StatusCode.InvalidArgument, unknownCpu.StatusCode);
        Assert.Contains("qemu64, x86-64-v2, max", unknownCpu.Status.Detail);
        Assert.Equal(StatusCode.PermissionDenied, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("outside")) { Kernel = Path.Combine(Path.GetTempPath(), "outside-the-allowed-directory") })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("missing")) { Kernel = Path.Combine(DefaultGuest.ImageDirectory, "no-such-kernel") })));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("not-a-kernel")) { Kernel = DefaultGuest.Manifest })));
        Assert.Equal(StatusCode.NotFound, await Status(() => Call("GetMachine", new MachineRef { Id = "nobody" })));

        await Call("CreateMachine", Guest("created"));
        Assert.Equal(StatusCode.AlreadyExists, await Status(() => Call("CreateMachine", Guest("created"))));
        Assert.Equal(StatusCode.FailedPrecondition, await Status(() => Call("PauseMachine", new MachineRef { Id = "created" })));
        Assert.Equal(StatusCode.FailedPrecondition, await Status(() => Call("StopMachine", new MachineRef { Id = "created" })));
        Assert.Equal(StatusCode.ResourceExhausted, await Status(() => Call("CreateMachine", new CreateMachineRequest(Guest("too-much")) { MemoryMib = 2048 })));
        await client.DeleteMachineAsync(new MachineRef { Id = "created" });
        Assert.Equal(StatusCode.NotFound, await Status(() => Call("GetMachine", new MachineRef { Id = "created" })));
    }

    /// <summary>
    /// A drive's format is the request's, never the file's: a raw disk whose first bytes are an
    /// overlay header (one 4 KiB write of its guest) is a raw disk, and the file the header names is
    /// not opened (the test holds it locked: opening it would fail the call); asked for as emucow,
    /// an overlay naming a backing file outside the allowed directories is PERMISSION_DENIED; a
    /// format the node does not know is INVALID_ARGUMENT.
    /// </summary>
    [Fact]
    public async Task DiskFormatsComeFromTheRequestAndBackingFilesAreConfined()
    {
        string victim = Path.Combine(disks.FullName, "victim.img");
        await File.WriteAllBytesAsync(victim, new byte[1 << 20]);
        string forged = Path.Combine(disks.FullName, "forged.img");
        BlockImage.CreateOverlay(forged, victim, BlockFormat.Raw, BackingPolicy.Unconfined);
        string secret = Path.Combine(notAllowed.FullName, "host-secret.img");
        await File.WriteAllBytesAsync(secret, new byte[1 << 20]);
        string escaping = Path.Combine(disks.FullName, "escaping.cow");
        BlockImage.CreateOverlay(escaping, secret, BlockFormat.Raw, BackingPolicy.Unconfined);

        using (new FileStream(victim, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            var created = await Call("CreateMachine", new CreateMachineRequest(Guest("forged-raw")) { Disks = { new Disk { Path = forged } } });
            Assert.Equal(Emulator.Service.V1.MachineState.Created, created.State);
            await client.DeleteMachineAsync(new MachineRef { Id = "forged-raw" });
        }

        var denied = await Assert.ThrowsAsync<RpcException>(() => Call("CreateMachine",
            new CreateMachineRequest(Guest("escaping")) { Disks = { new Disk { Path = escaping, Format = "emucow" } } }));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Contains(secret, denied.Status.Detail);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => Call("CreateMachine",
            new CreateMachineRequest(Guest("qcow2")) { Disks = { new Disk { Path = forged, Format = "qcow2" } } }));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
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
        await client.DeleteMachineAsync(new MachineRef { Id = "traced" });

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

    /// <summary>Reads the console until <paramref name="pattern"/> matches what arrived since the last match.</summary>
    private sealed class ConsoleReader(IAsyncEnumerator<ConsoleOutput> output)
    {
        private readonly StringBuilder seen = new();
        private int from;

        public async Task<global::System.Text.RegularExpressions.Match> WaitFor(string pattern)
        {
            using var timeout = new CancellationTokenSource(Boot);
            var regex = new global::System.Text.RegularExpressions.Regex(pattern);
            while (true)
            {
                var m = regex.Match(seen.ToString(), from);
                if (m.Success)
                {
                    from = m.Index + m.Length;
                    return m;
                }

                Assert.True(await output.MoveNextAsync().AsTask().WaitAsync(timeout.Token), $"console ended before '{pattern}': {seen}");
                seen.Append(output.Current.Data.ToStringUtf8());
            }
        }
    }

    /// <summary>
    /// A 2-vCPU guest snapshotted while a workload runs, restored into a new machine after the
    /// original is gone: the workload finishes there with the right digest, on both CPUs.
    /// </summary>
    private const int WorkloadMib = 128;

    [Fact]
    public async Task SmpMachineSnapshotRestoresAndFinishesItsWorkload()
    {
        await Call("CreateMachine", new CreateMachineRequest(Guest("smp")) { Vcpus = 2 });
        await Call("StartMachine", new MachineRef { Id = "smp" });
        string digest;
        using (var console = client.AttachConsole())
        {
            await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "smp" });
            var reader = new ConsoleReader(console.ResponseStream.ReadAllAsync().GetAsyncEnumerator());
            await reader.WaitFor(global::System.Text.RegularExpressions.Regex.Escape(ConsoleSession.Prompt));
            // The job says when it starts and the snapshot is taken then (a fixed wait let a
            // faster tier finish it first); the echoed command line does not match work-started-25.
            await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8($"\n(echo work-started-$((5*5)); dd if=/dev/zero bs=1M count={WorkloadMib} 2>/dev/null | sha256sum; echo work-done; echo online-$(cat /sys/devices/system/cpu/online)-end) &\n") });
            await reader.WaitFor("work-started-25");
            var snap = await client.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "smp", SnapshotId = "smp-snap" });
            Assert.Equal(2u, snap.Vcpus);
            digest = (await reader.WaitFor("([0-9a-f]{64})  -[\\s\\S]*?work-done")).Groups[1].Value;
            await Call("StopMachine", new MachineRef { Id = "smp" });
        }

        await client.DeleteMachineAsync(new MachineRef { Id = "smp" });
        Assert.Equal(Convert.ToHexStringLower(global::System.Security.Cryptography.SHA256.HashData(new byte[WorkloadMib << 20])), digest);

        var restored = await client.RestoreSnapshotAsync(new RestoreSnapshotRequest { SnapshotId = "smp-snap", MachineId = "smp-restored" });
        Assert.Equal(Emulator.Service.V1.MachineState.Paused, restored.State);
        using (var console = client.AttachConsole())
        {
            await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "smp-restored" });
            var reader = new ConsoleReader(console.ResponseStream.ReadAllAsync().GetAsyncEnumerator());
            await Call("ResumeMachine", new MachineRef { Id = "smp-restored" });
            Assert.Equal(digest, (await reader.WaitFor("([0-9a-f]{64})  -[\\s\\S]*?work-done")).Groups[1].Value);
            // The job itself reports the online CPUs when it finishes, which is after the restore.
            Assert.Equal("0-1", (await reader.WaitFor(@"online-([0-9,-]+)-end")).Groups[1].Value);
            await Call("StopMachine", new MachineRef { Id = "smp-restored" });
        }

        await client.DeleteMachineAsync(new MachineRef { Id = "smp-restored" });
        await client.DeleteSnapshotAsync(new SnapshotRef { Id = "smp-snap" });
    }

    [Fact]
    public async Task CreateStartConsolePauseResumeStopDelete()
    {
        var created = await Call("CreateMachine", Guest("vm1"));
        Assert.Equal(Emulator.Service.V1.MachineState.Created, created.State);
        Assert.Equal(Emulator.Service.V1.MachineState.Running, (await Call("StartMachine", new MachineRef { Id = "vm1" })).State);

        using var console = client.AttachConsole();
        await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "vm1" });
        var seen = new StringBuilder();
        var output = console.ResponseStream.ReadAllAsync().GetAsyncEnumerator();
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
        await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("\necho $((6*7))-ok\n") });
        await WaitFor("42-ok");

        Assert.Equal(Emulator.Service.V1.MachineState.Paused, (await Call("PauseMachine", new MachineRef { Id = "vm1" })).State);
        Assert.Equal(Emulator.Service.V1.MachineState.Running, (await Call("ResumeMachine", new MachineRef { Id = "vm1" })).State);
        await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("echo $((7*8))-ok\n") });
        await WaitFor("56-ok");

        var list = await client.ListMachinesAsync(new ListMachinesRequest());
        Assert.Contains(list.Machines, m => m.Id == "vm1" && m.State == Emulator.Service.V1.MachineState.Running);

        Assert.Equal(Emulator.Service.V1.MachineState.Stopped, (await Call("StopMachine", new MachineRef { Id = "vm1" })).State);
        await client.DeleteMachineAsync(new MachineRef { Id = "vm1" });
    }
}
