using Akka;
using Akka.Actor;
using Akka.Persistence;

namespace Emulator.Cluster.Catalogue;

/// <summary>To the catalogue: answer with its <see cref="CatalogueContents"/>.</summary>
internal sealed record GetContents
{
    public static readonly GetContents Instance = new();
}

/// <summary>To the catalogue: answer <see cref="Done"/> once everything sent before is in the journal.</summary>
internal sealed record Sync
{
    public static readonly Sync Instance = new();
}

/// <summary>
/// A node's machine catalogue: one event-sourced actor (persistence id "catalogue-NODE") whose
/// journal holds what happened to the node's machines (<see cref="ICatalogueEvent"/>); its state,
/// rebuilt from the journal when the node starts, is every machine the node had. An event is
/// answered <see cref="Done"/> once it is written; commands that arrive meanwhile wait (Persist
/// stashes them), so the order of the journal is the order the node sent.
/// </summary>
internal sealed class CatalogueActor : ReceivePersistentActor
{
    private readonly Dictionary<string, MachineRecord> machines = new(StringComparer.Ordinal);
    private readonly List<string> problems = [];
    private readonly Action<Exception> recoveryFailed;
    private bool stoppedInOrder;
    private DateTimeOffset? lastStarted;

    /// <summary>Who asked for the write under way (Persist stashes every other command meanwhile).</summary>
    private IActorRef? writer;

    public CatalogueActor(string node, Action<Exception> recoveryFailed)
    {
        PersistenceId = PersistenceIdOf(node);
        this.recoveryFailed = recoveryFailed;
        Recover<ICatalogueEvent>(Apply);
        Command<ICatalogueEvent>(e =>
        {
            writer = Sender;
            Persist(e, written =>
            {
                writer = null;
                Apply(written);
                Sender.Tell(Done.Instance);
            });
        });
        Command<GetContents>(_ => Sender.Tell(new CatalogueContents([.. machines.Values.OrderBy(m => m.Id, StringComparer.Ordinal)], stoppedInOrder, [.. problems])
        {
            Events = LastSequenceNr,
            LastStarted = lastStarted,
        }));
        Command<Sync>(_ => Sender.Tell(Done.Instance));
    }

    public override string PersistenceId { get; }

    /// <summary>The journal of a node's catalogue is named after the node (`--node-name`).</summary>
    public static string PersistenceIdOf(string node) => "catalogue-" + node;

    /// <summary>
    /// A write the journal refused: the asker is told (<see cref="Status.Failure"/>) before the
    /// actor stops. The journal keeps one event per (persistence id, sequence number), so a write
    /// fails when another writer put an event at that place since this actor replayed: a node that
    /// came back while another took its machines over, or two survivors at once (RATIONALE.md,
    /// "Node failure"). The actor stops, as Akka.Persistence requires; a new one replays first.
    /// </summary>
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        writer?.Tell(new Status.Failure(cause));
        writer = null;
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        writer?.Tell(new Status.Failure(cause));
        writer = null;
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        recoveryFailed(reason);
        base.OnRecoveryFailure(reason, message);
    }

    private void Apply(ICatalogueEvent e)
    {
        switch (e)
        {
            case NodeStarted started:
                stoppedInOrder = false;
                lastStarted = started.At;
                break;
            case NodeStopped:
                stoppedInOrder = true;
                break;
            case MachineRecorded r:
                // The same machine recorded again (brought back after a restart) keeps its latest snapshot.
                machines.TryGetValue(r.MachineId, out var before);
                machines[r.MachineId] = new MachineRecord(r.MachineId, r.Spec, r.Policy, "CREATED", "", r.Node, before?.SnapshotId, before?.SnapshotNode);
                break;
            case MachineStateChanged s when machines.TryGetValue(s.MachineId, out var m):
                machines[s.MachineId] = m with { State = s.State, Detail = s.Detail };
                break;
            case MachineSnapshotTaken t when machines.TryGetValue(t.MachineId, out var m):
                machines[t.MachineId] = m with { SnapshotId = t.SnapshotId, SnapshotNode = t.Node };
                break;
            case MachineRemoved r:
                machines.Remove(r.MachineId);
                break;
            case MachineTakenOver t:
                machines.Remove(t.MachineId);
                break;
            case DamagedEvent { MachineId: { } id } d:
                machines[id] = machines.TryGetValue(id, out var known)
                    ? known with { Damage = d.Reason }
                    : new MachineRecord(id, [], RestartPolicy.Never, "FAILED", "", "", null, null) { Damage = d.Reason };
                break;
            case DamagedEvent d:
                problems.Add(d.Reason);
                break;
        }
    }
}
