using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Service.Machines;
using Emulator.Service.V1;

namespace Emulator.Service.Tests;

/// <summary>
/// A WatchMachine client that does not read costs a bounded number of events: the oldest are
/// dropped, the newest kept, and the next event the client gets counts what it missed.
/// </summary>
public sealed class MachineEventFeedTests
{
    [Fact]
    public async Task AWatcherThatNeverReadsHoldsAtMostTheCapacityAndCountsWhatItMissed()
    {
        var vm = new VirtualMachine("watched", 1 << 20, 1, []); // disposed by the hosted machine
        var line = new SerialLine();
        await using var machine = new HostedMachine("watched", new CreateMachineRequest { Id = "watched" }, vm, line);
        using var feed = new MachineEventFeed(machine);

        const int Published = 1000;
        for (int i = 0; i < Published; i++)
        {
            machine.Publish(Service.V1.MachineState.Running, $"event {i}");
            Assert.True(feed.Buffered <= MachineEventFeed.Capacity, $"{feed.Buffered} events wait for the watcher");
        }

        Assert.Equal(Published - MachineEventFeed.Capacity, feed.Dropped);
        var first = await feed.ReadAsync(CancellationToken.None);
        Assert.Equal($"event {Published - MachineEventFeed.Capacity}", first.Detail);
        Assert.Equal((ulong)(Published - MachineEventFeed.Capacity), first.DroppedEvents);
        var second = await feed.ReadAsync(CancellationToken.None);
        Assert.Equal($"event {Published - MachineEventFeed.Capacity + 1}", second.Detail);
        Assert.Equal(0UL, second.DroppedEvents);
    }
}
