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
        await onA.CreateMachineAsync(source.Tiny("mover"));
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

        foreach (var (to, code) in new[] { (target.Target, StatusCode.AlreadyExists), ("127.0.0.1:1", StatusCode.Unavailable) })
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
