using System.Collections.Concurrent;
using Emulator.Cluster;
using Emulator.Cluster.Catalogue;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Emulator.Service.Machines;

/// <summary>
/// Node failure (src/Emulator.Cluster/RATIONALE.md, "Node failure"): when the cluster removes a
/// member it had downed (a crash, SIGKILL, a partition it lost), the oldest Up member reads the lost
/// node's catalogue from the shared journal and takes each of its RUNNING or PAUSED machines over:
/// restored from its latest snapshot on the surviving node with the most room (this one or
/// another, through that node's RestoreSnapshot), or listed LOST here with the reason. Each is
/// first marked in the lost node's journal (<see cref="MachineTakenOver"/>), a write that fails if
/// anyone else wrote there since the read: the node come back, or another survivor.
/// </summary>
public sealed partial class MachineService
{
    /// <summary>On a RestoreSnapshot from another node: the spec (protobuf) of a machine it takes over, restored here under the same id.</summary>
    internal const string TakeOverSpecHeader = "emu-takeover-spec-bin";

    /// <summary>On the same call: the lost node the machine comes from.</summary>
    internal const string TakeOverFromHeader = "emu-takeover-from";

    /// <summary>On the same call: "running" when the machine was running (it is resumed), else "paused".</summary>
    internal const string TakeOverStateHeader = "emu-takeover-state";

    /// <summary>On the same call: the node that took the snapshot (recorded as the machine's latest snapshot).</summary>
    internal const string TakeOverSnapshotNodeHeader = "emu-takeover-snapshot-node";

    /// <summary>How many times a take-over that another writer overtook is read again and retried.</summary>
    private const int TakeOverAttempts = 3;

    /// <summary>Lost nodes whose take-over this node has not seen finished (it retries them when it becomes the oldest member).</summary>
    private readonly HashSet<string> lostNodes = new(StringComparer.Ordinal);

    /// <summary>Machines being brought back here after their node was lost, with what a caller is told meanwhile.</summary>
    private readonly ConcurrentDictionary<string, string> takingOver = new(StringComparer.Ordinal);

    private readonly SemaphoreSlim takeOverGate = new(1, 1);

    /// <summary>The lost node whose catalogue is being read (its machines are not known yet), or null.</summary>
    private volatile string? readingLostNode;

    /// <summary>Finishes when the take-overs asked so far are over.</summary>
    internal Task TakeOvers { get; private set; } = Task.CompletedTask;

    /// <summary>Runs before the take-over of a machine is marked in the lost node's journal, with its id. Nothing by default; a test holds a take-over here.</summary>
    internal Func<string, Task> BeforeTakeOverMark { get; set; } = _ => Task.CompletedTask;

    /// <summary>Whether this node may (still) take over: a member, and the oldest one.</summary>
    private static bool Taker(MachineDirectory cluster) => !cluster.Removed.IsCompleted && cluster.IsOldest;

    string? IMachineHost.Pending(string machineId) =>
        takingOver.TryGetValue(machineId, out string? why) ? why
        : readingLostNode is { } node && !machines.ContainsKey(machineId) ? $"node {Cluster?.NodeName} is reading the catalogue of node {node}, which was lost: '{machineId}' may be one of its machines; try again"
        : null;

    /// <summary>Hooks the node to the cluster's membership: a lost member's machines are taken over; a lost node that is up again is not.</summary>
    private void WatchMembership(MachineDirectory cluster)
    {
        cluster.Removal = (node, lost) =>
        {
            lock (lostNodes)
            {
                if (lost)
                {
                    lostNodes.Add(node);
                }

                // Any removal may make this node the oldest (the taker before it died): it looks again.
                TakeOvers = TakeOvers.ContinueWith(_ => TakeOverLostNodesAsync(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            }
        };
        cluster.Up = node =>
        {
            lock (lostNodes)
            {
                lostNodes.Remove(node);
            }
        };
    }

    /// <summary>Takes over every lost node this node knows of, if it is the oldest member (one take-over at a time).</summary>
    private async Task TakeOverLostNodesAsync()
    {
        if (Cluster is not { } cluster || !Taker(cluster))
        {
            return;
        }

        await takeOverGate.WaitAsync().ConfigureAwait(false);
        try
        {
            string[] nodes;
            lock (lostNodes)
            {
                nodes = [.. lostNodes.Order(StringComparer.Ordinal)];
            }

            foreach (string node in nodes)
            {
                if (Catalogue is not { } catalogue || catalogueClosed)
                {
                    Log($"node {node} was lost; this node keeps no catalogue, so it cannot read that node's: its machines are not taken over");
                    continue;
                }

                bool done = false;
                for (int attempt = 1; attempt <= TakeOverAttempts && !done && !cluster.IsMember(node) && Taker(cluster); attempt++)
                {
                    try
                    {
                        done = await TakeOverAsync(cluster, catalogue, node).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        Log($"take-over of node {node}: {e.Message}");
                    }
                }

                if (done || cluster.IsMember(node))
                {
                    lock (lostNodes)
                    {
                        lostNodes.Remove(node);
                    }
                }
            }
        }
        finally
        {
            readingLostNode = null;
            takeOverGate.Release();
        }
    }

    /// <summary>
    /// One take-over of the lost node <paramref name="dead"/>: true when every live machine of its
    /// catalogue was dealt with; false when another writer overtook this node in that catalogue
    /// (it is read again and retried by the caller) or the node is a member again.
    /// </summary>
    private async Task<bool> TakeOverAsync(MachineDirectory cluster, MachineCatalogue catalogue, string dead)
    {
        readingLostNode = dead;
        using var foreign = catalogue.Open(dead);
        CatalogueContents contents;
        try
        {
            contents = await foreign.LoadAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (CatalogueUnavailableException e)
        {
            Log($"node {dead} was lost: {e.Message}; its machines are not taken over");
            return true;
        }

        if (contents.Events == 0)
        {
            Log($"node {dead} was lost; its catalogue is not in {catalogue.Options.Description} (each node keeps its own: a cluster's nodes must share one PostgreSQL catalogue), so its machines cannot be taken over");
            return true;
        }

        var live = contents.Machines.Where(m => m.State is "RUNNING" or "PAUSED" && m.Damage is null).ToList();
        if (live.Count > 0)
        {
            Log($"node {dead} was lost; taking over its machines {string.Join(", ", live.Select(m => m.Id))}");
        }

        // Every machine to take over is known now: each answers "being taken over" until its turn.
        foreach (var record in live.Where(r => !machines.ContainsKey(r.Id)))
        {
            takingOver[record.Id] = $"machine '{record.Id}' is being taken over by node {cluster.NodeName} after node {dead} was lost";
        }

        readingLostNode = null;
        try
        {
            foreach (var record in live)
            {
                if (cluster.IsMember(dead))
                {
                    Log($"node {dead} is a member again: the take-over of its machines stops");
                    return false;
                }

                if (!await TakeOverAsync(cluster, foreign, record, dead).ConfigureAwait(false))
                {
                    return false;
                }
            }

            return true;
        }
        finally
        {
            foreach (var record in live)
            {
                takingOver.TryRemove(record.Id, out _);
            }
        }
    }

    /// <summary>One machine of the lost node: marked taken over in its journal, then restored on the chosen node or listed LOST here. False when the mark was refused.</summary>
    private async Task<bool> TakeOverAsync(MachineDirectory cluster, ForeignCatalogue foreign, MachineRecord record, string dead)
    {
        CreateMachineRequest spec;
        try
        {
            spec = CreateMachineRequest.Parser.ParseFrom(record.Spec);
        }
        catch (InvalidProtocolBufferException e)
        {
            spec = new CreateMachineRequest();
            record = record with { Damage = e.Message };
        }

        spec.Id = record.Id;
        string? lost = record.Damage is { } damage ? $"its catalogue record cannot be read ({damage})" : LostReason(record, spec, SnapshotReadable);
        NodeInfo? target = null;
        if (lost is null)
        {
            var nodes = (await cluster.NodesAsync(CancellationToken.None).ConfigureAwait(false)).Nodes;
            target = ChooseTakeOverNode(nodes, spec, cluster.NodeName);
            if (target is null)
            {
                lost = $"no surviving node has room for {spec.Vcpus} vCPUs and {spec.MemoryMib} MiB ({string.Join("; ", nodes.Select(n => n.Room))})";
            }
        }

        await BeforeTakeOverMark(record.Id).ConfigureAwait(false);
        if (!Taker(cluster))
        {
            // Removed meanwhile (downed, this node may be the one cut off), or no longer the oldest:
            // the member that is the oldest now takes over what is left.
            Log($"take-over of node {dead}: this node is no longer the oldest member; it stops before machine '{record.Id}'");
            return false;
        }

        string self = cluster.NodeName;
        takingOver[record.Id] = $"machine '{record.Id}' is being restored on node {target?.Name ?? self} after node {dead} was lost";
        try
        {
            if (machines.ContainsKey(record.Id))
            {
                // An id this node runs already (created here while its node was unreachable): the
                // lost node's machine cannot come back under it; it stays in that node's catalogue.
                Log($"take-over of node {dead}: machine '{record.Id}' exists on this node; the lost one is left in node {dead}'s catalogue");
                return true;
            }

            var mark = new MachineTakenOver(record.Id, self, target?.Name ?? self, lost is null ? "restore" : "lost", lost ?? $"from snapshot {record.SnapshotId}");
            if (!await foreign.TryWriteAsync(mark).ConfigureAwait(false))
            {
                Log($"take-over of node {dead}: its catalogue changed since this node read it (the node came back, or another node took over): read again");
                return false;
            }

            if (lost is null)
            {
                lost = await RestoreTakenOverAsync(target!, record, spec, dead).ConfigureAwait(false);
            }

            if (lost is not null)
            {
                string detail = $"node {dead} was lost and the machine could not be brought back: {lost}; StartMachine boots it from its spec on this node, DeleteMachine removes it";
                Log($"take-over of node {dead}: machine '{record.Id}' is LOST: {lost}");
                if (!machines.ContainsKey(record.Id))
                {
                    AddWithoutVm(spec, Service.V1.MachineState.Lost, detail, record: true);
                    await CatalogueSyncAsync().ConfigureAwait(false);
                }
            }

            return true;
        }
        finally
        {
            takingOver.TryRemove(record.Id, out _);
        }
    }

    /// <summary>
    /// Why a live machine of a lost node cannot be restored elsewhere, before room is looked at;
    /// null when it can: its restart policy brings it back after a failure (ALWAYS, ON_FAILURE)
    /// and its latest snapshot is a file this node can read.
    /// </summary>
    internal static string? LostReason(MachineRecord record, CreateMachineRequest spec, Func<string, bool> snapshotReadable)
    {
        if (spec.RestartPolicy is not (V1.RestartPolicy.Always or V1.RestartPolicy.OnFailure))
        {
            return $"its restart policy is {RestartPolicyName(spec.RestartPolicy)}";
        }

        if (record.SnapshotId is not { } snapshot)
        {
            return "it has no snapshot to come back from";
        }

        if (!snapshotReadable(snapshot))
        {
            return $"its snapshot {snapshot} (taken on node {record.SnapshotNode}) is not in the snapshot directory of this node: snapshots must be on storage the nodes share (--snapshot-dir)";
        }

        return null;
    }

    /// <summary>The surviving node a taken-over machine goes to: the most free memory among those it fits, this node on a tie; null when none has room.</summary>
    internal static NodeInfo? ChooseTakeOverNode(IReadOnlyList<NodeInfo> nodes, CreateMachineRequest spec, string self) =>
        nodes.Where(n => n.Fits((int)spec.Vcpus, spec.MemoryMib))
            .OrderByDescending(n => n.MemoryMibCapacity - n.MemoryMibUsed)
            .ThenBy(n => n.Name == self ? 0 : 1)
            .FirstOrDefault();

    private bool SnapshotReadable(string snapshot)
    {
        try
        {
            CheckId(snapshot, "snapshot id");
            return File.Exists(SnapshotPath(snapshot));
        }
        catch (RpcException)
        {
            return false;
        }
    }

    /// <summary>Restores the machine on <paramref name="target"/> (here, or through its RestoreSnapshot); null when it runs there, else why it could not.</summary>
    private async Task<string?> RestoreTakenOverAsync(NodeInfo target, MachineRecord record, CreateMachineRequest spec, string dead)
    {
        bool running = record.State == "RUNNING";
        try
        {
            if (target.Name == Cluster?.NodeName)
            {
                await AdoptAsync(record.Id, record.SnapshotId!, record.SnapshotNode ?? "", spec, running, dead, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                var headers = new Metadata
                {
                    { ForwardedHeader, options.NodeName },
                    { TakeOverSpecHeader, spec.ToByteArray() },
                    { TakeOverFromHeader, dead },
                    { TakeOverStateHeader, running ? "running" : "paused" },
                    { TakeOverSnapshotNodeHeader, record.SnapshotNode ?? "" },
                };
                using var span = ForwardSpan("RestoreSnapshot", record.Id, target);
                await Peer(target).RestoreSnapshotAsync(
                    new RestoreSnapshotRequest { SnapshotId = record.SnapshotId, MachineId = record.Id },
                    new CallOptions(headers, DateTime.UtcNow.AddMinutes(5))).ResponseAsync.ConfigureAwait(false);
            }

            Log($"take-over of node {dead}: machine '{record.Id}' restored on node {target.Name} from snapshot {record.SnapshotId}");
            return null;
        }
        catch (RpcException e)
        {
            return $"restoring it on node {target.Name} from snapshot {record.SnapshotId} failed: {e.Status.Detail}";
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return $"restoring it on node {target.Name} from snapshot {record.SnapshotId} failed: {e.Message}";
        }
    }

    /// <summary>
    /// Restores a machine of a lost node here (RestoreSnapshot's own path, under the same id), with
    /// the spec and policy of the lost node's catalogue; records its snapshot as its latest, and
    /// resumes it if it was running.
    /// </summary>
    private async Task<Service.V1.Machine> AdoptAsync(string id, string snapshot, string snapshotNode, CreateMachineRequest spec, bool running, string dead, CancellationToken cancel)
    {
        await RestoreSnapshot(new RestoreSnapshotRequest { SnapshotId = snapshot, MachineId = id }, cancel, spec).ConfigureAwait(false);
        var m = Find(id);
        Catalogue?.Record(new MachineSnapshotTaken(id, snapshot, snapshotNode.Length > 0 ? snapshotNode : options.NodeName));
        if (running)
        {
            m.Vm.Resume();
        }

        m.Publish(running ? Service.V1.MachineState.Running : Service.V1.MachineState.Paused,
            $"taken over after node {dead} was lost: restored from snapshot {snapshot} (restart policy {RestartPolicyName(spec.RestartPolicy)})");
        await CatalogueSyncAsync().ConfigureAwait(false);
        return m.Describe(options.NodeName);
    }

    /// <summary>RestoreSnapshot asked by a node that takes a lost node's machine over (its headers say so): restored with that machine's spec.</summary>
    private Task<Service.V1.Machine>? TakeOverRestore(RestoreSnapshotRequest r, ServerCallContext context)
    {
        if (!IsForwarded(context) || context.RequestHeaders.GetValueBytes(TakeOverSpecHeader) is not { } bytes)
        {
            return null;
        }

        CreateMachineRequest spec;
        try
        {
            spec = CreateMachineRequest.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw Failure(StatusCode.InvalidArgument, $"{TakeOverSpecHeader}: not a machine spec: {e.Message}");
        }

        CheckId(r.MachineId, "machine_id");
        spec.Id = r.MachineId;
        string dead = context.RequestHeaders.GetValue(TakeOverFromHeader) ?? "?";
        bool running = context.RequestHeaders.GetValue(TakeOverStateHeader) == "running";
        string snapshotNode = context.RequestHeaders.GetValue(TakeOverSnapshotNodeHeader) ?? "";
        return AdoptAsync(r.MachineId, r.SnapshotId, snapshotNode, spec, running, dead, context.CancellationToken);
    }
}
