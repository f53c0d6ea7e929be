using System.Diagnostics;
using Akka.Actor;
using Akka.Discovery;
using Akka.Event;
using Akka.Hosting;

namespace Emulator.Cluster.Discovery;

/// <summary>
/// Joins the cluster from what service discovery lists, as Cluster Bootstrap's "lowest address"
/// rule does, without its HTTP contact points: look the nodes up every
/// <see cref="KubernetesBootstrapSettings.LookupInterval"/>; once at least
/// <see cref="KubernetesBootstrapSettings.RequiredContactPoints"/> are listed and the list has not
/// changed for <see cref="KubernetesBootstrapSettings.StableMargin"/>, join them as seed nodes,
/// lowest address first. Akka.Cluster's seed-node process does the rest: a node that is first in
/// the list asks the others before it founds a cluster of its own, so it joins one that exists
/// (a restarted pod) and founds one only when nobody has (all pods starting together, all
/// seeing the same list, agree the lowest address founds it); every other node joins whichever
/// seed answers as a member.
/// </summary>
public static class DiscoverySeeding
{
    /// <summary>Starts the seeding with the actor system; <paramref name="discoveryMethod"/> names the akka.discovery method to look up with.</summary>
    public static AkkaConfigurationBuilder Add(AkkaConfigurationBuilder builder, KubernetesBootstrapSettings settings, string discoveryMethod)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (settings.Problem() is { } problem)
        {
            throw new InvalidOperationException($"--discovery kubernetes: {problem}");
        }

        builder.AddStartup((system, registry) => { _ = Task.Run(() => RunAsync(system, settings, discoveryMethod)); });
        return builder;
    }

    private static async Task RunAsync(ActorSystem system, KubernetesBootstrapSettings settings, string discoveryMethod)
    {
        var log = Logging.GetLogger(system, "emu.seed-discovery");
        try
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            var discovery = Akka.Discovery.Discovery.Get(system).LoadServiceDiscovery(discoveryMethod);
            var lookup = new Lookup(settings.ServiceName, settings.RemotingPortName, "tcp");
            string? lastProblem = null;
            List<Address> listed = [];
            var unchanged = Stopwatch.StartNew();
            while (!system.WhenTerminated.IsCompleted)
            {
                List<Address> now;
                try
                {
                    var resolved = await discovery.Lookup(lookup, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                    now = [.. resolved.Addresses
                        .Where(target => target.Port is not null)
                        .Select(target => new Address(cluster.SelfAddress.Protocol, system.Name, target.Host, target.Port))
                        .Distinct()
                        .OrderBy(address => address.ToString(), StringComparer.Ordinal)];
                    lastProblem = null;
                }
                catch (Exception e)
                {
                    // The library logs the detail (RBAC, API server); say once per cause why this node waits.
                    if (e.Message != lastProblem)
                    {
                        log.Warning("cannot list the nodes through {0} discovery yet: {1}", discoveryMethod, e.Message);
                        lastProblem = e.Message;
                    }

                    now = [];
                }

                if (!now.SequenceEqual(listed))
                {
                    log.Info("{0} discovery lists {1} node(s): {2}", discoveryMethod, now.Count, string.Join(", ", now));
                    listed = now;
                    unchanged.Restart();
                }

                if (listed.Count >= settings.RequiredContactPoints && unchanged.Elapsed >= settings.StableMargin)
                {
                    log.Info("joining the cluster with seed nodes {0}", string.Join(", ", listed));
                    cluster.JoinSeedNodes(listed);
                    return;
                }

                await Task.Delay(settings.LookupInterval).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            log.Error(e, "seed discovery stopped: this node will not join a cluster");
        }
    }
}
