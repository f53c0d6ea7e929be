using Emulator.Actors;
using Emulator.Devices.VirtioNet;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Net;

/// <summary>
/// The <see cref="INetBackend"/> a network device holds. Transmitted frames go to the backend
/// actor with a reply adapter that runs the device's sent callback inside the device's actor.
/// Received frames come from the backend's reader thread through <see cref="Deliver"/> and are
/// posted into the device's actor; at most <see cref="MaxPending"/> wait there at once (a guest
/// that stops taking frames makes the reader drop them, counted, instead of growing the mailbox).
/// </summary>
public sealed class NetBackendClient : INetBackend
{
    /// <summary>Received frames posted to the device's actor and not yet handled.</summary>
    public const int MaxPending = 512;

    private readonly Func<ActorRef<DeviceMessage>> device;
    private readonly Func<Action, bool> post;
    private int pending;
    private long dropped;

    /// <param name="device">The device's actor; a function because the machine spawns it after creating the device.</param>
    /// <param name="post">Runs an action inside the device's actor; false while it does not exist yet.</param>
    public NetBackendClient(Func<ActorRef<DeviceMessage>> device, Func<Action, bool> post)
    {
        this.device = device;
        this.post = post;
    }

    /// <summary>The backend actor; set once it is spawned.</summary>
    public ActorRef<NetBackendMessage>? Backend { get; set; }

    /// <summary>Where received frames go, inside the device's actor (the device's Receive).</summary>
    public Action<byte[]> Receiver { get; set; } = _ => { };

    public bool Offloads => true;

    /// <summary>Received frames dropped because <see cref="MaxPending"/> were already waiting (or the device did not exist yet).</summary>
    public long DroppedPending => Interlocked.Read(ref dropped);

    public void Transmit(byte[] frame, Action sent)
    {
        if (Backend is not { } backend)
        {
            sent();
            return;
        }

        var reply = ReplyTo<bool>.To(
            device(),
            _ => new DeviceMessage.Event(sent),
            _ => new DeviceMessage.Event(sent));
        backend.Tell(new NetBackendMessage.Transmit(frame, reply));
    }

    /// <summary>Called on the backend's reader thread with one frame.</summary>
    public void Deliver(byte[] frame)
    {
        if (Interlocked.Increment(ref pending) > MaxPending || !post(() =>
            {
                Interlocked.Decrement(ref pending);
                Receiver(frame);
            }))
        {
            Interlocked.Decrement(ref pending);
            Interlocked.Increment(ref dropped);
        }
    }
}
