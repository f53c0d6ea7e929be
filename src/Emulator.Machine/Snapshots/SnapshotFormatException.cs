namespace Emulator.Machine.Snapshots;

/// <summary>
/// A snapshot file that cannot be used: not a snapshot, a format or section version this build
/// does not read, truncated, or failing its checksum. The message names the file and the reason.
/// </summary>
public sealed class SnapshotFormatException(string path, string reason, Exception? inner = null)
    : Exception($"{path}: {reason}", inner)
{
    public string Path { get; } = path;

    public string Reason { get; } = reason;
}
