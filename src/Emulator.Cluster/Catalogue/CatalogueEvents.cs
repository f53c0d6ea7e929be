namespace Emulator.Cluster.Catalogue;

/// <summary>
/// What happens to a machine when its node goes away and comes back (machine.proto, RestartPolicy,
/// documents the same): the value of CreateMachineRequest.restart_policy.
/// </summary>
public enum RestartPolicy
{
    /// <summary>Never brought back by itself: shown STOPPED; StartMachine boots it from its spec.</summary>
    Never = 0,

    /// <summary>Brought back whenever its node comes back (or, in a cluster, is lost) while it was running or paused.</summary>
    Always = 1,

    /// <summary>Brought back only when its node ended without stopping it (a crash, SIGKILL, a node lost), not after an orderly stop.</summary>
    OnFailure = 2,
}

/// <summary>An event of the catalogue's journal. Each is a contract on disk: fields are only added, never renamed (CatalogueSerializer).</summary>
public interface ICatalogueEvent;

/// <summary>The node started serving with this catalogue.</summary>
public sealed record NodeStarted(string Node, DateTimeOffset At) : ICatalogueEvent;

/// <summary>The node stopped in order (SIGTERM, Ctrl-C): its machines were stopped by it, not lost.</summary>
public sealed record NodeStopped(string Node, DateTimeOffset At) : ICatalogueEvent;

/// <summary>A machine became this node's: created, restored from a snapshot, or migrated here. <see cref="Spec"/> is its CreateMachineRequest in protobuf.</summary>
public sealed record MachineRecorded(string MachineId, byte[] Spec, RestartPolicy Policy, string Node) : ICatalogueEvent;

/// <summary>A machine's state changed (the MachineState name: "RUNNING", "STOPPED", ...), with its detail.</summary>
public sealed record MachineStateChanged(string MachineId, string State, string Detail) : ICatalogueEvent;

/// <summary>A snapshot of the machine was taken (the latest is the one it comes back from).</summary>
public sealed record MachineSnapshotTaken(string MachineId, string SnapshotId, string Node) : ICatalogueEvent;

/// <summary>The machine is no longer this node's: deleted, or migrated away.</summary>
public sealed record MachineRemoved(string MachineId, string Why) : ICatalogueEvent;

/// <summary>
/// Written by another node into the journal of a node the cluster lost (RATIONALE.md, "Node
/// failure"): the machine is no longer this node's. Node <see cref="By"/> took it over, and it now
/// runs on <see cref="To"/> (<see cref="Outcome"/> "moved") or is listed LOST there ("lost", with
/// the reason in <see cref="Detail"/>). When the lost node starts again under its name, it does
/// not bring the machine back; a second survivor does not take it over again.
/// </summary>
public sealed record MachineTakenOver(string MachineId, string By, string To, string Outcome, string Detail) : ICatalogueEvent;

/// <summary>An event in the journal that could not be read (a damaged or foreign row): kept as what is known about it.</summary>
public sealed record DamagedEvent(string? MachineId, string Reason) : ICatalogueEvent;

/// <summary>One machine as the catalogue knows it.</summary>
public sealed record MachineRecord(
    string Id,
    byte[] Spec,
    RestartPolicy Policy,
    string State,
    string Detail,
    string Node,
    string? SnapshotId,
    string? SnapshotNode)
{
    /// <summary>Why the record cannot be trusted (an event about it could not be read); null when it is whole.</summary>
    public string? Damage { get; init; }
}

/// <summary>
/// The catalogue of a node as it was read: its machines, whether the node stopped in order the
/// last time (false after a crash, or the first time), and events that could not be read.
/// </summary>
public sealed record CatalogueContents(IReadOnlyList<MachineRecord> Machines, bool StoppedInOrder, IReadOnlyList<string> Problems)
{
    /// <summary>How many events the journal holds (0: nothing was ever written there, or it cannot be seen from this node).</summary>
    public long Events { get; init; }

    /// <summary>When the node last started (its last <see cref="NodeStarted"/>), if it ever did.</summary>
    public DateTimeOffset? LastStarted { get; init; }
}
