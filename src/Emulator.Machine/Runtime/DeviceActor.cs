using Emulator.Actors;
using Emulator.Devices.Bus;

namespace Emulator.Machine.Runtime;

/// <summary>The messages a device actor takes: register accesses from vCPUs, and events (timers, interrupt inputs).</summary>
public abstract record DeviceMessage
{
    private DeviceMessage()
    {
    }

    /// <summary>A read (Value ignored) or write of Size bytes at Offset of one of the device's register windows; the reply is the value read (or 0).</summary>
    public sealed record Access(IIoDevice Target, bool IsWrite, ulong Offset, int Size, ulong Value, ReplyTo<ulong> Reply) : DeviceMessage;

    /// <summary>Runs an event on the device inside the actor: a timer expiry, an interrupt input changing.</summary>
    public sealed record Event(Action Action) : DeviceMessage;
}

/// <summary>
/// Owns one device (the object its register windows and events act on): every access and event
/// reaches it as a message, one at a time. A device that throws on a register access replies all
/// ones to that access and is restarted by its supervisor with the same device object (its
/// registers are its state): the guest sees a bus error and goes on. A device that throws on an
/// event (a timer expiry, a disk completion, an input) has lost work the guest is waiting for and
/// cannot be told about, so <paramref name="eventFailed"/> hears of it (the machine stops with the
/// reason); the actor is still restarted, so pending requests are answered. Neither reaches the
/// vCPU or the process.
/// </summary>
/// <param name="eventFailed">Called inside the actor with what an event threw; null: only the supervisor hears of it.</param>
public sealed class DeviceActor(Action<Exception>? eventFailed = null) : Actor<DeviceMessage>
{
    protected override void Receive(DeviceMessage message)
    {
        switch (message)
        {
            case DeviceMessage.Access a when a.IsWrite:
                try
                {
                    a.Target.Write(a.Offset, a.Size, a.Value);
                }
                finally
                {
                    a.Reply.Reply(0);
                }

                break;
            case DeviceMessage.Access a:
                ulong value = a.Size == 8 ? ulong.MaxValue : (1UL << (8 * a.Size)) - 1;
                try
                {
                    value = a.Target.Read(a.Offset, a.Size);
                }
                finally
                {
                    a.Reply.Reply(value);
                }

                break;
            case DeviceMessage.Event e:
                try
                {
                    e.Action();
                }
                catch (Exception ex)
                {
                    eventFailed?.Invoke(ex);
                    throw;
                }

                break;
        }
    }
}
