using Emulator.Actors;
using Emulator.Devices.Virtio9p;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.SharedFolders;

/// <summary>
/// The <see cref="IP9Backend"/> a virtio-9p device holds: each message goes to the shared-folder
/// actor with a reply adapter that posts the answer into the device's actor as an event, as
/// <see cref="Block.BlockBackendClient"/> does for disks. If the actor is gone the guest gets EIO.
/// Save and Restore are calls (the device waits): they run while the machine is paused, with no
/// message in flight.
/// </summary>
public sealed class SharedFolderClient(ActorRef<SharedFolderMessage> backend, Func<ActorRef<DeviceMessage>> device) : IP9Backend
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    public void Submit(byte[] request, int replyCapacity, Action<byte[]> completed)
    {
        ushort tag = request.Length >= P9Type.HeaderSize ? BitConverter.ToUInt16(request, 5) : P9Type.NoTag;
        var reply = ReplyTo<byte[]>.To(
            device(),
            r => new DeviceMessage.Event(() => completed(r)),
            _ => new DeviceMessage.Event(() => completed(new P9Writer(P9Type.Rlerror, tag).U32(P9Errno.EIO).Finish())));
        backend.Tell(new SharedFolderMessage.Submit(request, replyCapacity, reply));
    }

    public P9Session Save() => backend.Call<P9Session>(r => new SharedFolderMessage.Save(r), CallTimeout);

    public void Restore(P9Session session) => backend.Call<int>(r => new SharedFolderMessage.Restore(session, r), CallTimeout);
}
