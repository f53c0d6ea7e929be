namespace Emulator.Machine.Block;

/// <summary>
/// How a disk file is read. The format always comes from whoever names the file (a -drive
/// format=, a CreateMachine drive spec, the code that made an overlay and recorded it), never from
/// the file's contents: a guest writes the first bytes of its raw disk, so a format guessed from
/// them would be the guest's choice (QEMU's raw-image probing had that bug).
/// </summary>
public enum BlockFormat
{
    /// <summary>The file's bytes are the disk's bytes (QEMU's format=raw), whatever they look like.</summary>
    Raw,

    /// <summary>A copy-on-write overlay (<see cref="CowHeader"/>) over the backing file its header names.</summary>
    EmuCow,
}

/// <summary>The names of <see cref="BlockFormat"/> in -drive format= and in the control plane's drive specs.</summary>
public static class BlockFormats
{
    public const string RawName = "raw";
    public const string EmuCowName = "emucow";

    public static string Name(this BlockFormat format) => format == BlockFormat.EmuCow ? EmuCowName : RawName;

    /// <summary>Parses "raw" or "emucow"; an empty name is raw, the default.</summary>
    public static bool TryParse(string? name, out BlockFormat format)
    {
        switch (name)
        {
            case null or "" or RawName:
                format = BlockFormat.Raw;
                return true;
            case EmuCowName:
                format = BlockFormat.EmuCow;
                return true;
            default:
                format = default;
                return false;
        }
    }
}
