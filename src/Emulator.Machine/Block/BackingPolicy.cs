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

    /// <summary>Files under <paramref name="directories"/> (compared as full paths, as request paths are).</summary>
    public static BackingPolicy Within(IEnumerable<string> directories) =>
        new([.. directories.Select(d => System.IO.Path.GetFullPath(d).TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar)]);

    /// <summary>True when <paramref name="path"/> may be opened under this policy.</summary>
    public bool Allows(string path)
    {
        if (roots is null)
        {
            return true;
        }

        string full = System.IO.Path.GetFullPath(path);
        return roots.Any(r => full.StartsWith(r, StringComparison.Ordinal));
    }

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
/// <see cref="BackingPolicy"/> allows; the named file was not touched.
/// </summary>
public sealed class BackingFileRefusedException(string by, string named)
    : BlockImageException(by, $"names the disk layer {named}, which lies outside the directories allowed for disk layers; refused without opening it")
{
    /// <summary>The refused file.</summary>
    public string Named { get; } = named;
}
