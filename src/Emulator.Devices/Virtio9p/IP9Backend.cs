namespace Emulator.Devices.Virtio9p;

/// <summary>
/// Where a <see cref="Virtio9p"/> device sends the 9P messages the guest queues: a server that
/// owns the share and its fids and does the file operations off the device's thread (the
/// machine's shared-folder backend actor). Replies come back through the callback, on the
/// device's actor.
/// </summary>
public interface IP9Backend
{
    /// <summary>
    /// Handles one T-message (<paramref name="request"/>, header included); the reply, at most
    /// <paramref name="replyCapacity"/> bytes (the chain's device-writable space), goes to <paramref name="completed"/>.
    /// </summary>
    void Submit(byte[] request, int replyCapacity, Action<byte[]> completed);

    /// <summary>The session for a snapshot: negotiated msize and every fid by its path in the share. Only with no request in flight.</summary>
    P9Session Save();

    /// <summary>Puts a saved session back: each fid re-opened by its path, confined as a walk is; a path that is gone leaves a fid that answers errors.</summary>
    void Restore(P9Session session);
}

/// <summary>The state of a 9P session that outlives a snapshot.</summary>
/// <param name="Msize">The negotiated message size (0: no Tversion yet).</param>
/// <param name="Fids">Every fid in use.</param>
public sealed record P9Session(uint Msize, IReadOnlyList<P9SavedFid> Fids);

/// <summary>One fid: its number, its path relative to the share ("" for the root, components joined by '/'), and the flags it was opened with (-1: not open).</summary>
public sealed record P9SavedFid(uint Fid, string Path, int OpenFlags);
