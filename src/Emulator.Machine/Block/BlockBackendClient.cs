using Emulator.Actors;
using Emulator.Devices.Bus;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Block;

/// <summary>
/// The <see cref="IBlockBackend"/> a disk device holds: it tells each request to the backend actor
/// with a reply adapter (<see cref="ReplyTo{T}.To"/>) that posts the completion into the device's
/// actor as a <see cref="DeviceMessage.Event"/>, so the device handles it like any other event,
/// one at a time. If the backend actor is gone, the request fails and the device sees an I/O error.
/// </summary>
public sealed class BlockBackendClient : IBlockBackend
{
    private readonly ActorRef<BlockBackendMessage> backend;
    private readonly Func<ActorRef<DeviceMessage>> device;
    private readonly BlockImage image;

    /// <param name="backend">The image's <see cref="BlockBackendActor"/>.</param>
    /// <param name="image">The image (for its size and mode; the actor does the I/O).</param>
    /// <param name="device">The device's actor; a function because the machine spawns it after creating the device.</param>
    public BlockBackendClient(ActorRef<BlockBackendMessage> backend, BlockImage image, Func<ActorRef<DeviceMessage>> device)
    {
        this.backend = backend;
        this.device = device;
        this.image = image;
        SizeBytes = image.SizeBytes;
        IsReadOnly = image.IsReadOnly;
    }

    public ulong SizeBytes { get; }

    public bool IsReadOnly { get; }

    /// <summary>Every file of the disk's chain, base first.</summary>
    public IReadOnlyList<string> Layers => image.Layers;

    /// <summary>The format of the top layer, the one a freeze makes read-only; read it while no freeze runs.</summary>
    public BlockFormat TopFormat => image.TopFormat;

    public void Submit(BlockRequest request, Action<BlockCompletion> completed)
    {
        var reply = ReplyTo<BlockCompletion>.To(
            device(),
            c => new DeviceMessage.Event(() => completed(c)),
            e => new DeviceMessage.Event(() => completed(new BlockCompletion(BlockStatus.IoError, Message: e.Message))));
        backend.Tell(new BlockBackendMessage.Submit(request, reply));
    }

    /// <summary>
    /// For a snapshot, with the machine paused and no request in flight: freezes the disk's top
    /// layer and moves further writes to a new overlay at <paramref name="newOverlayPath"/>; the
    /// result is the frozen layer's path, which the snapshot references. Fails with
    /// <see cref="InvalidOperationException"/> while requests are in flight and with
    /// <see cref="BlockImageException"/> when the overlay cannot be made.
    /// </summary>
    public Task<string> FreezeAsync(string newOverlayPath, TimeSpan timeout) =>
        backend.Ask<string>(r => new BlockBackendMessage.Freeze(newOverlayPath, r), timeout);
}
