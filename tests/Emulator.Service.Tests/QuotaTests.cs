using Emulator.Service.V1;
using Grpc.Core;

namespace Emulator.Service.Tests;

/// <summary>The node's snapshot and layer quota (MachineServiceOptions.SnapshotQuotaBytes, `emu serve --snapshot-quota`).</summary>
public sealed class QuotaTests
{
    [Fact]
    public async Task A_snapshot_beyond_the_quota_is_ResourceExhausted_and_not_kept()
    {
        await using var server = await TestServer.StartAsync(machines: m => m with { SnapshotQuotaBytes = 4096 });
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(server.Tiny("quota"));
        await machines.StartMachineAsync(new MachineRef { Id = "quota" });

        var e = await Assert.ThrowsAsync<RpcException>(() => machines.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "quota", SnapshotId = "big" }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("snapshot quota", e.Status.Detail);
        Assert.Empty(Directory.GetFiles(server.SnapshotDirectory, "*.emusnap"));
        Assert.Empty((await machines.ListSnapshotsAsync(new ListSnapshotsRequest())).Snapshots);

        // The machine runs on.
        Assert.Equal(MachineState.Running, (await machines.GetMachineAsync(new MachineRef { Id = "quota" })).State);
    }

    [Fact]
    public async Task A_snapshot_within_the_quota_is_kept()
    {
        await using var server = await TestServer.StartAsync(machines: m => m with { SnapshotQuotaBytes = 256L << 20 });
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(server.Tiny("roomy"));
        await machines.StartMachineAsync(new MachineRef { Id = "roomy" });
        var snapshot = await machines.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "roomy", SnapshotId = "fits" });
        Assert.True(File.Exists(Path.Combine(server.SnapshotDirectory, "fits.emusnap")));
        Assert.True(snapshot.SizeBytes > 4096);
    }
}
