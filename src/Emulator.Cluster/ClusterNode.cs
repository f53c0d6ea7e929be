using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Sharding.External;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Emulator.Cluster.Discovery;

namespace Emulator.Cluster;

/// <summary>
/// Makes the node's actor system a member of the emu cluster (Akka.Hosting): Akka.Remote on the
/// node's cluster endpoint, Akka.Cluster with the seed nodes and the split-brain resolver
/// (keep-majority), the node's agent, and the region of machine entities whose shards are placed
/// by the nodes themselves (external allocation: a machine's entity lives where the machine runs).
/// RATIONALE.md says why the cluster layer is Akka's and the machine's insides are not.
/// </summary>
public static class ClusterNode
{
    /// <summary>The actor system's name; every node of a cluster uses it.</summary>
    public const string SystemName = "emu";

    /// <summary>The sharded entity type of machines.</summary>
    public const string MachineTypeName = "machine";

    public const string AgentName = "node-agent";

    /// <summary>Every member carries the role "node-NAME": a member removed after a crash is known by its name.</summary>
    internal const string NodeRolePrefix = "node-";

    /// <summary>
    /// Configures <paramref name="akka"/> for a cluster node; <paramref name="started"/> gets the
    /// node's <see cref="MachineDirectory"/> once the actor system runs (before the node serves).
    /// </summary>
    public static void Configure(AkkaConfigurationBuilder akka, ClusterOptions options, IMachineHost host, Func<string> controlPlaneAddress, Action<MachineDirectory> started)
    {
        if (options.Problem() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        string publicHost = options.PublicHostname ?? options.Hostname;
        string[] seeds = options.Discovery == ClusterDiscovery.Seeds
            ? [.. (options.Seeds.Count > 0 ? options.Seeds : [$"{publicHost}:{options.Port}"]).Select(SeedAddress)]
            : [];

        akka.AddHocon(ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.cluster.downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            akka.cluster.split-brain-resolver.active-strategy = keep-majority
            akka.cluster.split-brain-resolver.stable-after = {{(int)options.DowningStableAfter.TotalMilliseconds}}ms
            akka.cluster.sharding.rebalance-interval = 2s
            akka.cluster.sharding.passivate-idle-entity-after = off
            akka.coordinated-shutdown.exit-clr = off
            """), HoconAddMode.Prepend);
        if (options.Discovery == ClusterDiscovery.Kubernetes)
        {
            // Seeds from the pods the Kubernetes API lists (Discovery/RATIONALE.md); throws,
            // before anything starts, when this process is not in a pod.
            akka.AddKubernetesBootstrap(new KubernetesBootstrapSettings());
        }

        akka.WithRemoting(options.Hostname, options.Port, publicHost);
        akka.WithClustering(new Akka.Cluster.Hosting.ClusterOptions { SeedNodes = seeds, Roles = ["emu", NodeRolePrefix + options.NodeName] });
        akka.WithActors((system, registry) =>
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            Func<NodeInfo> self = () => host.Load() with { Name = options.NodeName, ControlPlaneAddress = controlPlaneAddress(), ClusterAddress = cluster.SelfAddress.ToString() };

            var agent = system.ActorOf(Props.Create(() => new NodeAgent(host, self)), AgentName);
            var region = ClusterSharding.Get(system).Start(
                MachineTypeName,
                _ => Props.Create(() => new MachineEntity(host, self)),
                ClusterShardingSettings.Create(system),
                new MachineIdExtractor(),
                new ExternalShardAllocationStrategy(system, MachineTypeName),
                PoisonPill.Instance);
            registry.Register<MachineEntity>(region);
            var directory = new MachineDirectory(system, region, options.NodeName, self);
            cluster.RegisterOnMemberUp(directory.MarkJoined);
            cluster.RegisterOnMemberRemoved(directory.MarkRemoved);
            system.ActorOf(Props.Create(() => new MembershipWatcher(directory)), "membership-watcher");
            started(directory);
        });
    }

    /// <summary>A seed HOST:PORT as the Akka address of that node's system.</summary>
    private static string SeedAddress(string endpoint)
    {
        ClusterOptions.TryParseEndpoint(endpoint, out string host, out int port);
        return $"akka.tcp://{SystemName}@{(host.Contains(':') ? $"[{host}]" : host)}:{port}";
    }

    /// <summary>One shard per machine, named by its id: placement moves machines one by one.</summary>
    private sealed class MachineIdExtractor : IMessageExtractor
    {
        public string? EntityId(object message) => MachineIdOf(message);

        public object? EntityMessage(object message) => message;

        public string? ShardId(object message) => MachineIdOf(message);

        private static string? MachineIdOf(object message) => message switch
        {
            Locate l => l.MachineId,
            Reserve r => r.MachineId,
            Release r => r.MachineId,
            _ => null,
        };

        public string ShardId(string entityId, object? messageHint = null) => entityId;
    }
}

/// <summary>A node's agent, at /user/node-agent on every node: what the node runs and can run.</summary>
internal sealed class NodeAgent : ReceiveActor
{
    public NodeAgent(IMachineHost host, Func<NodeInfo> self)
    {
        Receive<GetNodeInfo>(_ => Sender.Tell(self()));
        Receive<DoYouHost>(q => Sender.Tell(new HostsAnswer(q.MachineId, host.Hosts(q.MachineId), self()) { Pending = host.Pending(q.MachineId) }));
    }
}

/// <summary>
/// Tells the node's <see cref="MachineDirectory"/> when another member was removed (and whether it
/// was downed, i.e. lost, or left in order) and when a member came up.
/// </summary>
internal sealed class MembershipWatcher : ReceiveActor
{
    public MembershipWatcher(MachineDirectory directory)
    {
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        Receive<Akka.Cluster.ClusterEvent.MemberRemoved>(e =>
        {
            if (e.Member.Address != cluster.SelfAddress && NameOf(e.Member) is { } name)
            {
                directory.MemberRemoved(name, lost: e.PreviousStatus == Akka.Cluster.MemberStatus.Down);
            }
        });
        Receive<Akka.Cluster.ClusterEvent.MemberUp>(e =>
        {
            if (NameOf(e.Member) is { } name)
            {
                directory.MemberUp(name);
            }
        });
        Receive<Akka.Cluster.ClusterEvent.IMemberEvent>(_ => { });
        Receive<Akka.Cluster.ClusterEvent.CurrentClusterState>(_ => { });
        cluster.Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(Akka.Cluster.ClusterEvent.IMemberEvent));
    }

    internal static string? NameOf(Akka.Cluster.Member member) =>
        member.Roles.FirstOrDefault(r => r.StartsWith(ClusterNode.NodeRolePrefix, StringComparison.Ordinal)) is { } role ? role[ClusterNode.NodeRolePrefix.Length..] : null;

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
}

/// <summary>
/// A machine's sharded entity. Its shard is placed where the machine runs (the owner claims it,
/// <see cref="MachineDirectory.ClaimAsync"/>), so the entity answers for its node. One that finds
/// itself on a node without the machine (a stale placement, or an id nobody runs) says so and stops,
/// unless it holds the id for a node that is making the machine.
/// </summary>
/// <remarks>
/// The id is held (<see cref="Reserve"/>) for <see cref="ReservationTime"/>: long enough for a
/// create or a restore, whose node then runs the machine and claims the shard; the entity that
/// then answers on that node says "taken" because its node runs the machine. A create that fails
/// releases the id. The hold is in the entity's memory: it ends if the entity's node is lost
/// (RATIONALE.md, "One id, one machine").
/// </remarks>
internal sealed class MachineEntity : ReceiveActor
{
    internal static readonly TimeSpan ReservationTime = TimeSpan.FromMinutes(2);

    private string? holder;
    private string? heldId;
    private DateTime heldUntil;

    public MachineEntity(IMachineHost host, Func<NodeInfo> self)
    {
        Receive<Locate>(l =>
        {
            if (host.Hosts(l.MachineId))
            {
                Sender.Tell(new Located(l.MachineId, self()));
            }
            else
            {
                Sender.Tell(new Located(l.MachineId, null));
                StopUnlessHeld();
            }
        });
        Receive<Reserve>(r =>
        {
            if (host.Hosts(r.MachineId))
            {
                Sender.Tell(new Reserved(r.MachineId, false, self().Name));
            }
            else if (Held && holder != r.Node)
            {
                Sender.Tell(new Reserved(r.MachineId, false, holder!));
            }
            else
            {
                (holder, heldId, heldUntil) = (r.Node, r.MachineId, DateTime.UtcNow + ReservationTime);
                Context.SetReceiveTimeout(ReservationTime);
                Sender.Tell(new Reserved(r.MachineId, true, r.Node));
            }
        });
        Receive<Release>(r =>
        {
            if (holder == r.Node)
            {
                holder = null;
                StopUnlessHeld();
            }
        });
        Receive<ReceiveTimeout>(_ =>
        {
            if (!Held)
            {
                Context.SetReceiveTimeout(null);
                holder = null;
                if (heldId is not null && !host.Hosts(heldId))
                {
                    StopUnlessHeld();
                }
            }
        });
    }

    private bool Held => holder is not null && DateTime.UtcNow < heldUntil;

    private void StopUnlessHeld()
    {
        if (!Held)
        {
            Context.Parent.Tell(new Passivate(PoisonPill.Instance));
        }
    }
}
