namespace Emulator.Machine.SharedFolders;

/// <summary>
/// A fid of a 9P session: an O_PATH descriptor of the file it names (opened one component at a
/// time from its parent's, never by a host path), the file's path relative to the share (for
/// "..", renames of the parent and snapshots), and, once opened, a second descriptor for I/O.
/// A fid re-opened from a snapshot whose path is gone is stale: it answers ESTALE until clunked.
/// </summary>
internal sealed class P9Fid
{
    public int PathFd { get; set; } = -1;

    /// <summary>"" for the share's root; otherwise names joined by '/'.</summary>
    public string Path { get; set; } = "";

    /// <summary>The descriptor for reads, writes and directory reads, -1 until Tlopen or Tlcreate.</summary>
    public int OpenFd { get; set; } = -1;

    /// <summary>The host flags <see cref="OpenFd"/> was opened with (-1: not open).</summary>
    public int OpenFlags { get; set; } = -1;

    public bool IsOpen => OpenFd >= 0;

    public bool Stale => PathFd < 0;

    public bool OpenForWrite => IsOpen && (OpenFlags & HostCalls.AccessMode) != HostCalls.ReadOnly;

    public void Close()
    {
        HostCalls.Close(OpenFd);
        HostCalls.Close(PathFd);
        OpenFd = PathFd = -1;
        OpenFlags = -1;
    }

    public static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;

    public static string Parent(string path) => path.LastIndexOf('/') is int i and >= 0 ? path[..i] : "";

    public static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];
}

/// <summary>A request that fails with a Linux errno (the Rlerror the guest gets).</summary>
internal sealed class P9Error(uint errno) : Exception($"errno {errno}")
{
    public uint Errno { get; } = errno;

    /// <summary>Throws for a negative host result (-errno); returns a non-negative one.</summary>
    public static long Check(long result) => result < 0 ? throw new P9Error((uint)-result) : result;

    public static int Check(int result) => result < 0 ? throw new P9Error((uint)-result) : result;
}
