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
    public async Task<NodeInfo?> OwnerAsync(string machineId, CancellationToken cancel)
    {
        if (await AskOrNull<Located>(region, new Locate(machineId), cancel).ConfigureAwait(false) is { Owner: { } owner })
        {
            return owner;
        }

        var cluster = Akka.Cluster.Cluster.Get(system);
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        var answers = await Task.WhenAll(cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && !unreachable.Contains(m.Address))
            .Select(m => AskOrNull<HostsAnswer>(Agent(m.Address), new DoYouHost(machineId), cancel))).ConfigureAwait(false);
        return answers.FirstOrDefault(a => a is { Hosts: true })?.Node;
    }

    /// <summary>This node runs the machine now: its entity's shard is placed here (moved here after a migration).</summary>
    public async Task ClaimAsync(string machineId, CancellationToken cancel)
    {
        var client = ExternalShardAllocation.Get(system).ClientFor(ClusterNode.MachineTypeName);
        await client.UpdateShardLocation(machineId, Akka.Cluster.Cluster.Get(system).SelfAddress).WaitAsync(AskTimeout, cancel).ConfigureAwait(false);
    }

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

/// <summary>The cluster as one node sees it: the nodes that answered (itself first), and the names of those that did not.</summary>
public sealed record ClusterView(IReadOnlyList<NodeInfo> Nodes, IReadOnlyList<string> Unreachable);
