using System.Text;
using Emulator.Devices.Virtio9p;

namespace Emulator.Machine.SharedFolders;

/// <summary>
/// A host directory shared with the guest over virtio-9p (QEMU's -virtfs local,path=,mount_tag=,
/// security_model=none): the guest mounts it with `mount -t 9p -o trans=virtio TAG DIR`. With
/// security_model=none the files keep the host's owners and modes, and are made with the
/// emulator's own rights. A read-only share refuses every change with EROFS.
/// </summary>
public sealed record SharedFolderConfig(string Path, string MountTag, bool ReadOnly = false)
{
    /// <summary>Where the share's directory must lie, checked on the opened directory (a server's allowed directories); by default anywhere.</summary>
    public Block.BackingPolicy Confinement { get; init; } = Block.BackingPolicy.Unconfined;

    /// <summary>Per-share bounds on fids and open files.</summary>
    public P9ServerLimits Limits { get; init; } = new();

    /// <summary>Why <paramref name="tag"/> cannot be a mount tag (1 to 255 bytes of UTF-8, no NUL, comma or blank), or null.</summary>
    public static string? CheckTag(string tag) =>
        tag.Length == 0 || Encoding.UTF8.GetByteCount(tag) > Virtio9pRegisters.MaxTagBytes || tag.Any(c => c == '\0' || c == ',' || char.IsWhiteSpace(c))
            ? $"mount tag '{tag}' must be 1 to {Virtio9pRegisters.MaxTagBytes} bytes with no comma, blank or NUL"
            : null;
}
