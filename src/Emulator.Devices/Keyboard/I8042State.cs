namespace Emulator.Devices.Keyboard;

/// <summary>Saved state of an <see cref="I8042"/> (snapshot section "i8042").</summary>
public sealed record I8042State
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public byte CommandByte { get; init; }
    public byte OutputPort { get; init; }
    public bool SystemFlag { get; init; }
    public bool LastWriteWasCommand { get; init; }
    public byte OutputBuffer { get; init; }
    public bool OutputFull { get; init; }
    public bool OutputFromAux { get; init; }

    /// <summary>The controller command waiting for its data byte on port 0x60, or 0.</summary>
    public byte PendingCommand { get; init; }
}
