using Emulator.Actors;

namespace Emulator.Machine.Net;

/// <summary>The messages of a <see cref="TapBackendActor"/>.</summary>
public abstract record NetBackendMessage
{
    private NetBackendMessage()
    {
    }

    /// <summary>A frame from the guest (vnet header first); <see cref="Sent"/> hears true once written, false when the kernel refused it.</summary>
    public sealed record Transmit(byte[] Frame, ReplyTo<bool> Sent) : NetBackendMessage;
}

/// <summary>
/// Owns one TAP device: writes the guest's frames to it, one message at a time, off the vCPU and
/// device threads, and runs the TAP's reader thread, which hands each frame the kernel sends to
/// <paramref name="deliver"/> (the device's client, which posts it into the device's actor). The
/// TAP is closed when the actor stops (the machine ends). A fault of the reader (a read error
/// other than the interface being down) goes to <paramref name="faulted"/>; the machine stops
/// itself with it.
/// </summary>
public sealed class TapBackendActor(TapDevice tap, Action<byte[]> deliver, Action<Exception> faulted) : Actor<NetBackendMessage>
{
    public static Props<NetBackendMessage> Props(TapDevice tap, Action<byte[]> deliver, Action<Exception> faulted) =>
        Actors.Props.Create(() => new TapBackendActor(tap, deliver, faulted));

    protected override void PreStart() => tap.StartReading(deliver, faulted);

    protected override void Receive(NetBackendMessage message)
    {
        switch (message)
        {
            case NetBackendMessage.Transmit t:
                t.Sent.Reply(tap.Write(t.Frame));
                break;
        }
    }

    /// <summary>A restart keeps the TAP and its reader: they belong to the actor's life, not to one instance.</summary>
    protected override void PreRestart(Exception reason)
    {
    }

    protected override void PostStop() => tap.Dispose();
}
