namespace Emulator.Machine.Snapshots;

/// <summary>
/// A snapshot of a machine larger than the restore allows (<see cref="SnapshotOptions.MaxCpus"/>,
/// <see cref="SnapshotOptions.MaxMemoryBytes"/>), refused from its machine section before anything
/// else of the file is read and before anything of the machine is made. The message names the
/// file, what it asks for and the limit.
/// </summary>
public sealed class SnapshotTooLargeException(string path, string reason)
    : Exception($"{path}: {reason}")
{
    public string Path { get; } = path;

    public string Reason { get; } = reason;
}
