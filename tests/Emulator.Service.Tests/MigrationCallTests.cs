using Emulator.Service.V1;
using Grpc.Core;

namespace Emulator.Service.Tests;

/// <summary>
/// MigrateMachine between two nodes' control planes on one host (the guest's continuity itself
/// is checked at machine level: tests/Emulator.Machine.Tests/MigrationTests.cs).
/// </summary>
public sealed class MigrationCallTests
{
    [Fact]
    public async Task A_running_machine_moves_to_the_target_node_with_its_rounds_reported_and_leaves_the_source()
    {
        await using var source = await TestServer.StartAsync(machines: m => m with { NodeName = "node-a" });
        await using var target = await TestServer.StartAsync(machines: m => m with { NodeName = "node-b" });
        using var a = source.Channel();
        using var b = target.Channel();
        var onA = TestServer.Machines(a);
        var onB = TestServer.Machines(b);
        await onA.CreateMachineAsync(new CreateMachineRequest(source.Tiny("mover")) { RestartPolicy = V1.RestartPolicy.OnFailure, Cpu = "qemu64" });
        await onA.StartMachineAsync(new MachineRef { Id = "mover" });

        var events = new List<MigrationEvent>();
        using (var call = onA.MigrateMachine(new MigrateMachineRequest { Id = "mover", Target = target.Target }))
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                events.Add(call.ResponseStream.Current);
            }
        }

        var last = events[^1];
        Assert.NotNull(last.Machine);
        Assert.Equal("node-b", last.Machine.Node);
        Assert.Equal(MachineState.Running, last.Machine.State);
        Assert.True(last.PagesSent >= (64UL << 20) / 4096, $"all of RAM at least once: {last.PagesSent} pages");
        Assert.True(last.DowntimeNanos > 0 && last.DowntimeNanos <= last.TotalNanos);
        Assert.True(last.UncompressedBytes >= last.BytesSent && last.BytesSent > 0, $"{last.BytesSent} bytes sent, {last.UncompressedBytes} before compression");
        Assert.Contains(events, e => e.Machine is null && e.Final); // the round after which the guest stopped
        Assert.Equal(0, events.Take(events.Count - 1).Count(e => e.Machine is not null));

        Assert.Empty((await onA.ListMachinesAsync(new ListMachinesRequest())).Machines);
        var moved = Assert.Single((await onB.ListMachinesAsync(new ListMachinesRequest())).Machines);
        Assert.Equal(("mover", MachineState.Running, 64UL), (moved.Id, moved.State, moved.Spec.MemoryMib));
        // The spec travels with the machine: its restart policy and CPU model are the target's record too.
        Assert.Equal((V1.RestartPolicy.OnFailure, "qemu64", source.Kernel), (moved.Spec.RestartPolicy, moved.Spec.Cpu, moved.Spec.Kernel));

        // It is the target's machine now: pause, resume and stop work there.
        Assert.Equal(MachineState.Paused, (await onB.PauseMachineAsync(new MachineRef { Id = "mover" })).State);
        Assert.Equal(MachineState.Running, (await onB.ResumeMachineAsync(new MachineRef { Id = "mover" })).State);
        Assert.Equal(MachineState.Stopped, (await onB.StopMachineAsync(new MachineRef { Id = "mover" })).State);
    }

    [Fact]
    public async Task A_migration_to_a_target_that_cannot_take_it_leaves_the_machine_running_on_the_source()
    {
        await using var source = await TestServer.StartAsync();
        await using var target = await TestServer.StartAsync();
        using var a = source.Channel();
        using var b = target.Channel();
        var onA = TestServer.Machines(a);
        await onA.CreateMachineAsync(source.Tiny("stayer"));
        await onA.StartMachineAsync(new MachineRef { Id = "stayer" });
        await TestServer.Machines(b).CreateMachineAsync(target.Tiny("stayer")); // the id is taken there

        foreach (var (to, code) in new[] { (target.Target, StatusCode.AlreadyExists), ("127.0.0.1:1", StatusCode.Unavailable), ("http://[::1", StatusCode.InvalidArgument) })
        {
            using var call = onA.MigrateMachine(new MigrateMachineRequest { Id = "stayer", Target = to });
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }
            });
            Assert.Equal(code, e.StatusCode);
            Assert.Equal(MachineState.Running, (await onA.GetMachineAsync(new MachineRef { Id = "stayer" })).State);
        }

        var none = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = onA.MigrateMachine(new MigrateMachineRequest { Id = "stayer" });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.InvalidArgument, none.StatusCode);
    }

    /// <summary>
    /// A machine with a disk, snapshotted before (so its disk is an overlay in the source's layers/
    /// over the user's raw image): the overlay moves into the target's layers/, the raw image stays
    /// where both nodes reach it. A target that may not open that image refuses before the guest is
    /// paused, and the machine runs on at the source.
    /// </summary>
    [Fact]
    public async Task A_machine_with_a_disk_moves_its_layers_and_a_target_without_its_base_image_refuses()
    {
        await using var source = await TestServer.StartAsync();
        string images = Path.GetDirectoryName(source.Kernel)!;
        await using var target = await TestServer.StartAsync(machines: m => m with { AllowedDirectories = [.. m.AllowedDirectories, images] });
        await using var stranger = await TestServer.StartAsync(); // allows only its own directory
        string disk = Path.Combine(images, "disk.raw");
        File.WriteAllBytes(disk, new byte[1 << 20]);
        using var a = source.Channel();
        using var b = target.Channel();
        var onA = TestServer.Machines(a);
        var onB = TestServer.Machines(b);
        await onA.CreateMachineAsync(new CreateMachineRequest(source.Tiny("disky")) { Disks = { new Disk { Path = disk, Format = "raw" } } });
        await onA.StartMachineAsync(new MachineRef { Id = "disky" });
        await onA.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "disky", SnapshotId = "before" });

        string[] LayersOnA() => [.. Directory.GetFiles(Path.Combine(source.SnapshotDirectory, "layers")).Order()];
        var layersBefore = LayersOnA();
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = onA.MigrateMachine(new MigrateMachineRequest { Id = "disky", Target = stranger.Target });
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains(disk, refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(MachineState.Running, (await onA.GetMachineAsync(new MachineRef { Id = "disky" })).State);
        Assert.Equal(layersBefore, LayersOnA()); // refused before the stop: no snapshot froze the disk under a new layer

        using (var call = onA.MigrateMachine(new MigrateMachineRequest { Id = "disky", Target = target.Target }))
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }

        var moved = Assert.Single((await onB.ListMachinesAsync(new ListMachinesRequest())).Machines);
        Assert.Equal(("disky", MachineState.Running), (moved.Id, moved.State));
        Assert.Contains(Directory.GetFiles(Path.Combine(target.SnapshotDirectory, "layers")), f => Path.GetFileName(f).StartsWith("disky-moved-", StringComparison.Ordinal));
        Assert.Equal(MachineState.Stopped, (await onB.StopMachineAsync(new MachineRef { Id = "disky" })).State);
    }

    [Fact]
    public async Task A_target_refuses_a_stream_that_is_not_a_migration_without_waiting_for_the_sender_to_finish()
    {
        await using var target = await TestServer.StartAsync();
        using var b = target.Channel();
        using var call = TestServer.Machines(b).ReceiveMigration();
        await call.RequestStream.WriteAsync(new MigrationChunk { MachineId = "junk", Data = Google.Protobuf.ByteString.CopyFrom(new byte[64]) });

        // The sender has not finished (its stream stays open): the refusal comes anyway, with why.
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.Contains("not a migration", e.Status.Detail, StringComparison.Ordinal);
        Assert.Empty((await TestServer.Machines(b).ListMachinesAsync(new ListMachinesRequest())).Machines);
    }
}
