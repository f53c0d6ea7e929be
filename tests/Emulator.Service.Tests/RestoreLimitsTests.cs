using System.Text.Json;
using Emulator.Machine.Snapshots;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Emulator.Service.Tests;

/// <summary>
/// RestoreSnapshot applies the per-machine caps CreateMachine applies, from the snapshot's first
/// section: a crafted snapshot asking for more is RESOURCE_EXHAUSTED before the rest of the file is
/// read or anything is made. The crafted files' checksums are wrong, so a server that read past the
/// first section would answer DATA_LOSS instead.
/// </summary>
public sealed class RestoreLimitsTests : IAsyncLifetime
{
    private readonly DirectoryInfo snapshots = Directory.CreateTempSubdirectory("emu-restore-limits-");
    private ControlPlaneHost server = null!;
    private GrpcChannel channel = null!;
    private V1.MachineService.MachineServiceClient client = null!;

    public async Task InitializeAsync()
    {
        server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            Machines = new MachineServiceOptions
            {
                MaxVcpusPerMachine = 2,
                MaxMemoryMibPerMachine = 256,
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
    }

    /// <summary>Writes snapshot <paramref name="id"/>: a machine section asking for the given machine, a clock section, and a wrong checksum.</summary>
    private void Craft(string id, int cpus, ulong memoryBytes)
    {
        string path = Path.Combine(snapshots.FullName, id + ".emusnap");
        using (var file = File.Create(path))
        using (var writer = new SnapshotWriter(file, DateTimeOffset.UtcNow))
        {
            writer.Section("machine", SnapshotMachineSection.CurrentVersion, JsonSerializer.SerializeToUtf8Bytes(new SnapshotMachineSection { Cpus = cpus, MemoryBytes = memoryBytes }));
            writer.Section("clock", SnapshotClockSection.CurrentVersion, JsonSerializer.SerializeToUtf8Bytes(new SnapshotClockSection { TscHz = 1_000_000_000 }));
            writer.Finish();
        }

        byte[] bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0xff;
        File.WriteAllBytes(path, bytes);
    }

    [Theory]
    [InlineData(100_000, 64UL << 20)]
    [InlineData(3, 64UL << 20)]
    [InlineData(1, 1UL << 40)]
    [InlineData(1, 512UL << 20)]
    [InlineData(1, (256UL << 20) + 1)]
    public async Task ASnapshotOfAMachineBeyondThePerMachineCapsIsResourceExhausted(int cpus, ulong memoryBytes)
    {
        Craft("big", cpus, memoryBytes);
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.RestoreSnapshotAsync(new RestoreSnapshotRequest { SnapshotId = "big", MachineId = "restored" }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("at most 2 vCPUs and 256 MiB", e.Status.Detail);

        var list = await client.ListMachinesAsync(new ListMachinesRequest());
        Assert.Empty(list.Machines);
        Assert.False(Directory.Exists(Path.Combine(snapshots.FullName, "layers")) && Directory.EnumerateFiles(Path.Combine(snapshots.FullName, "layers")).Any());
    }

    [Fact]
    public async Task ASnapshotWithinTheCapsGetsAsFarAsItsChecksum()
    {
        Craft("small", 2, 256UL << 20);
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            client.RestoreSnapshotAsync(new RestoreSnapshotRequest { SnapshotId = "small" }).ResponseAsync);
        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.Contains("checksum", e.Status.Detail);
    }
}
