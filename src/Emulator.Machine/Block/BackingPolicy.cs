using Microsoft.Win32.SafeHandles;

namespace Emulator.Machine.Block;

/// <summary>
/// Which files an overlay's header may name as its backing file. A header is data in a file, but
/// the file it names is opened with the emulator's rights, so the name is checked like a path in
/// a request, before anything touches it: it must lie under one of the policy's directories (for
/// a server, its layer directory, where it makes overlays, and the directories its clients may
/// name). <see cref="Unconfined"/> is for the local user's own command line, where the user's own
/// rights are the limit, as with QEMU's backing files.
/// </summary>
public sealed class BackingPolicy
{
    /// <summary>Each allowed directory as a full path ending in a separator; null for unconfined.</summary>
    private readonly string[]? roots;

    private BackingPolicy(string[]? roots) => this.roots = roots;

    /// <summary>Any file the process can open (the local `emu` command line).</summary>
    public static BackingPolicy Unconfined { get; } = new(null);

    /// <summary>No backing file at all: only raw disks can be opened.</summary>
    public static BackingPolicy None { get; } = new([]);

    /// <summary>
    /// Files under <paramref name="directories"/>, each taken at its real path (a symbolic link to
    /// a directory allows what lies in the directory it leads to); one that does not exist yet is
    /// taken at its full path.
    /// </summary>
    public static BackingPolicy Within(IEnumerable<string> directories) =>
        new([.. directories.Select(d => RealDirectory(d).TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar)]);

    /// <summary>The real path of <paramref name="directory"/> when it exists, else its full path.</summary>
    public static string RealDirectory(string directory) =>
        Directory.Exists(directory) ? HostFiles.RealPath(directory) : System.IO.Path.GetFullPath(directory);

    /// <summary>
    /// True when <paramref name="path"/> may be opened under this policy, judged by its real path:
    /// an existing file's, or for a missing one its directory's real path and its name. A filter
    /// before the open, so that nothing outside is touched; the file then opened is checked by
    /// <see cref="Refuses"/>, since the name may lead elsewhere by then.
    /// </summary>
    public bool Allows(string path)
    {
        if (roots is null)
        {
            return true;
        }

        // A name from a file is taken only as an absolute path without NULs (no working directory
        // to resolve it against; GetFullPath would throw on a NUL).
        if (!System.IO.Path.IsPathFullyQualified(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        string full = System.IO.Path.GetFullPath(path);
        string real = File.Exists(full)
            ? HostFiles.RealPath(full)
            : System.IO.Path.Combine(RealDirectory(System.IO.Path.GetDirectoryName(full) ?? full), System.IO.Path.GetFileName(full));
        return Inside(real);
    }

    /// <summary>
    /// Why the file open in <paramref name="handle"/> may not be used under this policy, or null
    /// when it may: the kernel's path of the open file must lie under the policy's directories, and
    /// no other name may link to it (a hard link inside to a file outside looks like any file inside).
    /// </summary>
    public string? Refuses(SafeFileHandle handle)
    {
        if (roots is null)
        {
            return null;
        }

        string opened = HostFiles.OpenedPath(handle);
        if (!Inside(opened))
        {
            return $"leads to {opened}, outside the allowed directories; refused";
        }

        ulong links = HostFiles.LinkCount(handle);
        return links == 1 ? null : $"has {links} hard links (another of its names may lie outside the allowed directories); refused";
    }

    /// <summary>True when the directory at <paramref name="realDirectory"/> (a real path: no links) is one of the policy's directories or lies under one (a shared folder).</summary>
    public bool AllowsDirectory(string realDirectory) =>
        roots is null || Inside(realDirectory.TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar);

    private bool Inside(string full) => roots!.Any(r => full.StartsWith(r, StringComparison.Ordinal));

    /// <summary>Throws <see cref="BackingFileRefusedException"/> unless <paramref name="named"/>, which the file <paramref name="by"/> names as a layer, is allowed.</summary>
    public void Check(string by, string named)
    {
        if (!Allows(named))
        {
            throw new BackingFileRefusedException(by, named);
        }
    }
}

/// <summary>
/// A file (an overlay's header, a snapshot) names a disk layer outside the directories its
/// <see cref="BackingPolicy"/> allows: refused by name before it was touched, or, when its name
/// passed, once opened (its real path lies outside, or it has other hard links).
/// </summary>
public sealed class BackingFileRefusedException : BlockImageException
{
    public BackingFileRefusedException(string by, string named)
        : this(by, named, "lies outside the directories allowed for disk layers; refused without opening it")
    {
    }

    /// <summary>The file <paramref name="named"/> was opened and refused for <paramref name="reason"/> (<see cref="BackingPolicy.Refuses"/>).</summary>
    public BackingFileRefusedException(string by, string named, string reason)
        : base(by, $"names the disk layer {named}, which {reason}") => Named = named;

    /// <summary>The refused file.</summary>
    public string Named { get; }
}
