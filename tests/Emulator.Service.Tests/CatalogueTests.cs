using System.Text;
using Emulator.Cluster.Catalogue;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Grpc.Core;
using State = Emulator.Service.V1.MachineState;

namespace Emulator.Service.Tests;

/// <summary>
/// The node's catalogue in-process (ControlPlaneOptions.Catalogue on a SQLite file): a host stopped
/// and started again on it brings its machines back by their restart policy; a machine without a
/// VM refuses what needs one and boots from its spec when started. And the catalogue's parts alone:
/// the flag's parsing, the events on disk.
/// </summary>
public sealed class CatalogueTests : IAsyncLifetime
{
    private readonly DirectoryInfo files = Directory.CreateTempSubdirectory("emu-catalogue-service-");

    private string Allowed => Path.Combine(files.FullName, "allowed");

    private string Kernel => Path.Combine(Allowed, "vmlinux");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Allowed);
        await File.WriteAllBytesAsync(Kernel, TinyKernel.Bytes());
    }

    public Task DisposeAsync()
    {
        files.Delete(recursive: true);
        return Task.CompletedTask;
    }

    private Task<ControlPlaneHost> StartAsync() => ControlPlaneHost.StartAsync(new ControlPlaneOptions
    {
        Machines = new MachineServiceOptions
        {
            AllowedDirectories = [Allowed],
            SnapshotDirectory = Path.Combine(files.FullName, "snapshots"),
            MaxVcpusPerMachine = 2,
            MaxMemoryMibPerMachine = 256,
            Tier1 = null,
            NodeName = "catalogue-test",
        },
        Catalogue = CatalogueOptions.Sqlite(Path.Combine(files.FullName, "snapshots", "catalogue.db")),
    });

    private CreateMachineRequest Tiny(string id, V1.RestartPolicy policy) =>
        new() { Id = id, Vcpus = 1, MemoryMib = 64, Kernel = Kernel, CommandLine = "console=ttyS0", RestartPolicy = policy };

    [Fact]
    public async Task MachinesComeBackByTheirPolicyAndOneWithoutAVmBootsWhenStarted()
    {
        await using (var first = await StartAsync())
        {
            Assert.NotNull(first.Catalogue);
            using var channel = ControlPlaneChannel.Open(first.Address);
            var client = new V1.MachineService.MachineServiceClient(channel);
            var bad = await Assert.ThrowsAsync<RpcException>(() => client.CreateMachineAsync(Tiny("bad", (V1.RestartPolicy)7)).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
            Assert.Contains("restart_policy", bad.Status.Detail);

            await client.CreateMachineAsync(Tiny("keep", V1.RestartPolicy.Never));
            await client.CreateMachineAsync(Tiny("back", V1.RestartPolicy.Always));
            await client.CreateMachineAsync(Tiny("fresh", V1.RestartPolicy.Always));
            await client.CreateMachineAsync(Tiny("paused", V1.RestartPolicy.Always));
            await client.StartMachineAsync(new MachineRef { Id = "keep" });
            await client.StartMachineAsync(new MachineRef { Id = "back" });
            await client.StartMachineAsync(new MachineRef { Id = "fresh" });
            await client.StartMachineAsync(new MachineRef { Id = "paused" });
            await client.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "back", SnapshotId = "back-1" });
            await client.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "paused", SnapshotId = "paused-1" });
            await client.PauseMachineAsync(new MachineRef { Id = "paused" });
            Assert.Equal(V1.RestartPolicy.Always, (await client.GetMachineAsync(new MachineRef { Id = "back" })).Spec.RestartPolicy);
        }

        await using var second = await StartAsync();
        using var channel2 = ControlPlaneChannel.Open(second.Address);
        var again = new V1.MachineService.MachineServiceClient(channel2);
        var list = (await again.ListMachinesAsync(new ListMachinesRequest())).Machines.ToDictionary(m => m.Id);
        Assert.Equal(["back", "fresh", "keep", "paused"], list.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(State.Running, list["back"].State);
        Assert.Contains("brought back from snapshot back-1 (the node was stopped in order; restart policy ALWAYS)", list["back"].Detail);
        Assert.Equal(State.Paused, list["paused"].State);
        Assert.Contains("paused-1", list["paused"].Detail);
        Assert.Equal(State.Running, list["fresh"].State);
        Assert.Contains("booted from its spec", list["fresh"].Detail);
        Assert.Equal(State.Stopped, list["keep"].State);
        Assert.Contains("restart policy NEVER does not bring it back", list["keep"].Detail);
        Assert.Equal(V1.RestartPolicy.Never, list["keep"].Spec.RestartPolicy);

        // Without a VM: refused as a stopped machine is; started, it boots from its spec.
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => again.PauseMachineAsync(new MachineRef { Id = "keep" }).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => again.ResetMachineAsync(new MachineRef { Id = "keep" }).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => again.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "keep" }).ResponseAsync)).StatusCode);
        Assert.Equal(State.Running, (await again.StartMachineAsync(new MachineRef { Id = "keep" })).State);
        Assert.Equal(State.Paused, (await again.PauseMachineAsync(new MachineRef { Id = "keep" })).State);
    }

    [Theory]
    [InlineData("sqlite:/tmp/x/catalogue.db", CatalogueStore.Sqlite, "sqlite:/tmp/x/catalogue.db")]
    [InlineData("postgres:Host=db;Username=emu;Password=secret;Database=emu", CatalogueStore.Postgres, "postgres:Host=db;Username=emu;Database=emu")]
    public void TheFlagNamesTheStoreAndItsDescriptionHidesThePassword(string flag, CatalogueStore store, string description)
    {
        var options = CatalogueOptions.TryParse(flag, out string? error);
        Assert.Null(error);
        Assert.Equal(store, options!.Store);
        Assert.Equal(description, options.Description);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sqlite:")]
    [InlineData("postgres:Username=emu")]
    [InlineData("postgres:Nonsense Keyword=1")]
    [InlineData("mysql:Host=db")]
    public void AFlagThatNamesNoUsableStoreIsRefused(string flag)
    {
        Assert.Null(CatalogueOptions.TryParse(flag, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void EventsRoundTripAndADamagedOneKeepsTheMachineItNames()
    {
        var serializer = new CatalogueSerializer(null!);
        ICatalogueEvent[] events =
        [
            new NodeStarted("n1", DateTimeOffset.UnixEpoch),
            new NodeStopped("n1", DateTimeOffset.UnixEpoch),
            new MachineRecorded("vm1", [1, 2, 3], Emulator.Cluster.Catalogue.RestartPolicy.OnFailure, "n1"),
            new MachineStateChanged("vm1", "RUNNING", "started"),
            new MachineSnapshotTaken("vm1", "s1", "n1"),
            new MachineRemoved("vm1", "deleted"),
        ];
        foreach (var e in events)
        {
            string manifest = serializer.Manifest(e);
            Assert.EndsWith(".v1", manifest);
            var back = serializer.FromBinary(serializer.ToBinary(e), manifest);
            Assert.Equal(e.GetType(), back.GetType());
            if (e is MachineRecorded r)
            {
                var b = (MachineRecorded)back;
                Assert.Equal((r.MachineId, r.Policy, r.Node), (b.MachineId, b.Policy, b.Node));
                Assert.Equal(r.Spec, b.Spec);
            }
            else
            {
                Assert.Equal(e, back);
            }
        }

        var damaged = Assert.IsType<DamagedEvent>(serializer.FromBinary(Encoding.UTF8.GetBytes("{\"machine_id\":\"vm2\",\"spec\":\"%%%\"}"), "machine-recorded.v1"));
        Assert.Equal("vm2", damaged.MachineId);
        Assert.Contains("machine-recorded.v1", damaged.Reason);
        Assert.Equal("vm3", Assert.IsType<DamagedEvent>(serializer.FromBinary(Encoding.UTF8.GetBytes("{\"machine_id\":\"vm3\"}"), "machine-state.v1")).MachineId);
        Assert.Null(Assert.IsType<DamagedEvent>(serializer.FromBinary([0xff, 0x00], "machine-state.v1")).MachineId);
        Assert.Contains("unknown kind", Assert.IsType<DamagedEvent>(serializer.FromBinary(Encoding.UTF8.GetBytes("{}"), "machine-teleported.v9")).Reason);
    }
}
