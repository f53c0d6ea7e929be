namespace Emulator.Service.Machines;

/// <summary>Limits and confinement of the machine service on one node.</summary>
public sealed record MachineServiceOptions
{
    /// <summary>Kernel, initrd and disk paths must lie under one of these directories.</summary>
    public IReadOnlyList<string> AllowedDirectories { get; init; } = [];

    public int MaxVcpusPerMachine { get; init; } = 8;

    public ulong MaxMemoryMibPerMachine { get; init; } = 3072;

    /// <summary>Quota over all machines of the node.</summary>
    public ulong MaxMemoryMibPerNode { get; init; } = 8192;

    /// <summary>vCPUs over all machines of the node.</summary>
    public int MaxVcpusPerNode { get; init; } = 4 * Environment.ProcessorCount;

    public int MaxMachines { get; init; } = 16;

    /// <summary>Tier 1 for every machine of the node (created or restored); null: the interpreter alone.</summary>
    public Emulator.Execution.Tiering.Tier1Options? Tier1 { get; init; } = Emulator.Execution.Tiering.MachineCode.Default();

    public string NodeName { get; init; } = Environment.MachineName;

    /// <summary>The token this node presents to other nodes (MigrateMachine's call to the target); the control plane sets its own.</summary>
    public string? PeerToken { get; init; }

    /// <summary>Where snapshot files (id.emusnap) and disk overlays (layers/) live; created when needed.</summary>
    public string SnapshotDirectory { get; init; } = DefaultSnapshotDirectory;

    /// <summary>
    /// The disk space snapshots and copy-on-write layers may take together under <see cref="SnapshotDirectory"/>:
    /// a snapshot that does not fit is refused (RESOURCE_EXHAUSTED), a guest write that needs a new
    /// overlay cluster beyond it fails in the guest as an I/O error.
    /// </summary>
    public long SnapshotQuotaBytes { get; init; } = DefaultSnapshotQuotaBytes;

    public const long DefaultSnapshotQuotaBytes = 64L << 30;

    /// <summary>The user's local data directory, emu/snapshots.</summary>
    public static string DefaultSnapshotDirectory =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "emu", "snapshots");
}
