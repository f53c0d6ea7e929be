using System.Threading.Channels;
using Emulator.Service.V1;

namespace Emulator.Service.Machines;

/// <summary>
/// One WatchMachine call's events waiting for its client: at most <see cref="Capacity"/>. A client
/// that does not read loses the oldest events, never the newest (the current state, "deleted"),
/// and the next event it gets counts what it missed (<see cref="MachineEvent.DroppedEvents"/>).
/// The machine's publisher never waits for a watcher.
/// </summary>
internal sealed class MachineEventFeed : IDisposable
{
    public const int Capacity = 64;

    private readonly Channel<MachineEvent> events;
    private readonly IDisposable subscription;
    private long dropped;
    private long reported;

    public MachineEventFeed(HostedMachine machine)
    {
        events = Channel.CreateBounded<MachineEvent>(
            new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref dropped));
        subscription = machine.Watch(e => events.Writer.TryWrite(e));
    }

    /// <summary>Events waiting for the client (at most <see cref="Capacity"/>).</summary>
    public int Buffered => events.Reader.Count;

    /// <summary>Events dropped so far because the client did not keep up.</summary>
    public long Dropped => Interlocked.Read(ref dropped);

    /// <summary>The next event, with the events dropped since the previous one counted in it.</summary>
    public async ValueTask<MachineEvent> ReadAsync(CancellationToken cancel)
    {
        var e = await events.Reader.ReadAsync(cancel).ConfigureAwait(false);
        long now = Dropped;
        long missed = now - reported;
        reported = now;
        return missed == 0 ? e : new MachineEvent(e) { DroppedEvents = (ulong)missed };
    }

    public void Dispose() => subscription.Dispose();
}
