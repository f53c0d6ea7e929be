using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding.External;

namespace Emulator.Cluster;

/// <summary>
/// The cluster as the node's control plane asks it: which nodes are up and what room they have,
/// where a machine runs, and "this node runs it now". Every answer is bounded in time; a node
/// that does not answer in time is left out, never waited on.
/// </summary>
public sealed class MachineDirectory
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);
    private readonly ActorSystem system;
    private readonly IActorRef region;
    private readonly Func<NodeInfo> self;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Address, string> names = new();

    internal MachineDirectory(ActorSystem system, IActorRef region, string nodeName, Func<NodeInfo> self)
    {
        this.system = system;
        this.region = region;
        this.self = self;
        NodeName = nodeName;
    }

    public string NodeName { get; }

    private readonly TaskCompletionSource joined = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when this node is an Up member of the cluster (it answers for machines only then).</summary>
    public Task Joined => joined.Task;

    internal void MarkJoined() => joined.TrySetResult();

    private readonly TaskCompletionSource removed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completes when this node is no longer a member: it left, or the split-brain resolver downed
    /// it. Its actor system then stops, and the host with it (RATIONALE.md, Membership).
    /// </summary>
    public Task Removed => removed.Task;

    internal void MarkRemoved() => removed.TrySetResult();

    /// <summary>
    /// Called (on an actor's thread: do not block) when another member was removed: lost (downed
    /// after it became unreachable: a crash, SIGKILL, the losing side of a partition) or not (it
    /// left in order, its machines stopped by it). The argument is the node's name.
    /// </summary>
    public Action<string, bool> Removal { get; set; } = (_, _) => { };

    /// <summary>Called (on an actor's thread) when a member is up, by its name: a lost node that came back.</summary>
    public Action<string> Up { get; set; } = _ => { };

    internal void MemberRemoved(string name, bool lost) => Removal(name, lost);

    internal void MemberUp(string name) => Up(name);

    /// <summary>Whether the member named <paramref name="node"/> is in the cluster now (up, joining, or unreachable but not removed).</summary>
    public bool IsMember(string node) =>
        Akka.Cluster.Cluster.Get(system).State.Members.Any(m => MembershipWatcher.NameOf(m) == node && m.Status is MemberStatus.Up or MemberStatus.Joining or MemberStatus.WeaklyUp);

    /// <summary>
    /// Whether this node is the oldest Up member (reachable or not): the one that takes over the
    /// machines of a lost node. Exactly one member is oldest in a converged view; a member that is
    /// unreachable stays oldest until it is removed, and then the next one is.
    /// </summary>
    public bool IsOldest
    {
        get
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            var oldest = cluster.State.Members
                .Where(m => m.Status == MemberStatus.Up)
                .Aggregate((Member?)null, (best, m) => best is null || m.IsOlderThan(best) ? m : best);
            return oldest is not null && oldest.Address == cluster.SelfAddress;
        }
    }

    /// <summary>This node as the others see it.</summary>
    public NodeInfo Self => self();

    /// <summary>
    /// The members that are up, as they describe themselves (this node always, even before it is
    /// up), and the members that are not reachable or did not answer in time, by the name they
    /// last gave (or their address).
    /// </summary>
    public async Task<ClusterView> NodesAsync(CancellationToken cancel)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var state = cluster.State;
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        var asked = state.Members
            .Where(m => m.Status == MemberStatus.Up && m.Address != cluster.SelfAddress && !unreachable.Contains(m.Address))
            .Select(m => m.Address)
            .ToList();
        var answers = await Task.WhenAll(asked.Select(a => AskOrNull<NodeInfo>(Agent(a), GetNodeInfo.Instance, cancel))).ConfigureAwait(false);
        var silent = unreachable.Where(a => a != cluster.SelfAddress).ToList();
        for (int i = 0; i < asked.Count; i++)
        {
            if (answers[i] is { } info)
            {
                names[asked[i]] = info.Name;
            }
            else
            {
                silent.Add(asked[i]);
            }
        }

        return new ClusterView(
            [self(), .. answers.OfType<NodeInfo>().OrderBy(n => n.Name, StringComparer.Ordinal)],
            [.. silent.Select(a => names.TryGetValue(a, out string? name) ? name : a.ToString()).Order(StringComparer.Ordinal)]);
    }

    /// <summary>
    /// The node that runs the machine, or null when no node that answered runs it. Asks the
    /// machine's entity first; when the entity is not where the machine is (its shard not yet
    /// moved after a migration, or after its node left), asks every node.
    /// </summary>
    public async Task<NodeInfo?> OwnerAsync(string machineId, CancellationToken cancel) =>
        (await LookupAsync(machineId, cancel).ConfigureAwait(false)).Owner;

    /// <summary>
    /// Where the machine runs (<see cref="OwnerAsync"/>), and when no node that answered runs it:
    /// whether a node is bringing it back after its node was lost (what to tell the caller), and
    /// which members are unreachable (it may run there).
    /// </summary>
    public async Task<MachineLookup> LookupAsync(string machineId, CancellationToken cancel)
    {
        if (await AskOrNull<Located>(region, new Locate(machineId), cancel).ConfigureAwait(false) is { Owner: { } owner })
        {
            return new MachineLookup(owner, null, []);
        }

        var cluster = Akka.Cluster.Cluster.Get(system);
        var unreachable = cluster.State.Unreachable.Where(m => m.Address != cluster.SelfAddress).ToList();
        var addresses = unreachable.Select(m => m.Address).ToHashSet();
        var answers = await Task.WhenAll(cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && !addresses.Contains(m.Address))
            .Select(m => AskOrNull<HostsAnswer>(Agent(m.Address), new DoYouHost(machineId), cancel))).ConfigureAwait(false);
        return new MachineLookup(
            answers.FirstOrDefault(a => a is { Hosts: true })?.Node,
            answers.FirstOrDefault(a => a is { Pending: not null })?.Pending,
            [.. unreachable.Select(m => MembershipWatcher.NameOf(m) ?? m.Address.ToString()).Order(StringComparer.Ordinal)]);
    }

    /// <summary>This node runs the machine now: its entity's shard is placed here (moved here after a migration).</summary>
    public async Task ClaimAsync(string machineId, CancellationToken cancel)
    {
        var client = ExternalShardAllocation.Get(system).ClientFor(ClusterNode.MachineTypeName);
        await client.UpdateShardLocation(machineId, Akka.Cluster.Cluster.Get(system).SelfAddress).WaitAsync(AskTimeout, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Holds the id for this node, which is about to make a machine by it: null when granted, else
    /// the node that runs a machine by that id or holds it for one it is making. Throws
    /// <see cref="TimeoutException"/> when the id's entity does not answer in time.
    /// </summary>
    public async Task<string?> ReserveAsync(string machineId, CancellationToken cancel)
    {
        var answer = await AskOrNull<Reserved>(region, new Reserve(machineId, NodeName), cancel).ConfigureAwait(false)
            ?? throw new TimeoutException($"the cluster did not answer within {AskTimeout.TotalSeconds:0} s whether id '{machineId}' is free");
        return answer.Granted ? null : answer.Holder;
    }

    /// <summary>This node did not make the machine it reserved the id for: the id is free again.</summary>
    public void Release(string machineId) => region.Tell(new Release(machineId, NodeName));

    private ActorSelection Agent(Address node) => system.ActorSelection(new RootActorPath(node) / "user" / ClusterNode.AgentName);

    private static async Task<T?> AskOrNull<T>(ICanTell target, object message, CancellationToken cancel)
        where T : class
    {
        try
        {
            return target switch
            {
                ActorSelection s => await s.Ask<T>(message, AskTimeout, cancel).ConfigureAwait(false),
                IActorRef r => await r.Ask<T>(message, AskTimeout, cancel).ConfigureAwait(false),
                _ => null,
            };
        }
        catch (AskTimeoutException)
        {
            return null;
        }
        catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
        {
            return null;
        }
    }
}

/// <summary>Where a machine runs (null: no node that answered runs it), what a node bringing it back says, and the members that could not be asked.</summary>
public sealed record MachineLookup(NodeInfo? Owner, string? Pending, IReadOnlyList<string> Unreachable);

/// <summary>The cluster as one node sees it: the nodes that answered (itself first), and the names of those that did not.</summary>
public sealed record ClusterView(IReadOnlyList<NodeInfo> Nodes, IReadOnlyList<string> Unreachable);
