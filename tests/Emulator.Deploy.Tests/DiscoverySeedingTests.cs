using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Emulator.Cluster.Discovery;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Emulator.Deploy.Tests;

/// <summary>
/// The seeding that --discovery kubernetes uses, on real actor systems on 127.0.0.1, with
/// Akka.Discovery's config method standing in for the Kubernetes API's pod list (the same
/// lookup, the same resolved targets): nodes that list each other form one cluster, founded at
/// the lowest address, and a node that comes later joins the cluster that exists even when its
/// address is the lowest. And the real kubernetes-api method loads and fails a lookup with the
/// API server it could not reach.
/// </summary>
public sealed class DiscoverySeedingTests
{
    private static readonly KubernetesBootstrapSettings Fast = new()
    {
        RequiredContactPoints = 3,
        StableMargin = TimeSpan.FromSeconds(1),
        LookupInterval = TimeSpan.FromMilliseconds(200),
    };

    [Fact]
    public async Task NodesThatListEachOtherFormOneClusterFoundedAtTheLowestAddress()
    {
        int[] ports = FreePorts(3);
        var nodes = new List<IHost>();
        try
        {
            foreach (int port in ports.Reverse())
            {
                nodes.Add(await StartNodeAsync(port, ports, Fast));
            }

            foreach (var node in nodes)
            {
                await WaitForUpMembersAsync(node, 3);
            }

            var members = ClusterOf(nodes[0]).State.Members;
            Assert.Equal(ports.Order().Select(p => $"127.0.0.1:{p}"), members.Select(m => $"{m.Address.Host}:{m.Address.Port}").Order());
            var founder = members.Aggregate((a, b) => a.IsOlderThan(b) ? a : b);
            Assert.Equal(ports.Min(), founder.Address.Port);
            Assert.All(nodes, n => Assert.Equal(members.Select(m => m.UniqueAddress), ClusterOf(n).State.Members.Select(m => m.UniqueAddress)));
        }
        finally
        {
            await StopAsync(nodes);
        }
    }

    [Fact]
    public async Task ANodeThatComesLaterJoinsTheClusterThatExistsThoughItsAddressIsLowest()
    {
        int[] ports = FreePorts(3).Order().ToArray();
        var nodes = new List<IHost>();
        try
        {
            // The two higher addresses form a cluster between them (each listing only the two).
            var two = Fast with { RequiredContactPoints = 2 };
            nodes.Add(await StartNodeAsync(ports[1], ports[1..], two));
            nodes.Add(await StartNodeAsync(ports[2], ports[1..], two));
            foreach (var node in nodes)
            {
                await WaitForUpMembersAsync(node, 2);
            }

            // The lowest comes later and lists all three: first in its seed list, it asks the
            // others before founding a cluster of its own, and joins theirs.
            nodes.Add(await StartNodeAsync(ports[0], ports, Fast));
            foreach (var node in nodes)
            {
                await WaitForUpMembersAsync(node, 3);
            }

            Assert.Equal(ports[1], ClusterOf(nodes[2]).State.Members.Aggregate((a, b) => a.IsOlderThan(b) ? a : b).Address.Port);
        }
        finally
        {
            await StopAsync(nodes);
        }
    }

    [Fact]
    public async Task TheKubernetesApiDiscoveryLoadsAndWithoutAnApiServerALookupFailsWithTheReason()
    {
        // The plugin and the Kubernetes client it calls load and run together (a package mismatch
        // fails here, as Akka.Management's did), and a lookup that cannot reach the API server
        // ends with an error instead of waiting. The API server's address comes from variables of
        // this test's own naming, pointing at a closed port.
        string host = "EMU_DEPLOY_TEST_API_HOST_" + Environment.ProcessId, port = "EMU_DEPLOY_TEST_API_PORT_" + Environment.ProcessId;
        Environment.SetEnvironmentVariable(host, "127.0.0.1");
        int closed = FreePorts(1)[0];
        Environment.SetEnvironmentVariable(port, $"{closed}");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("emu", akka =>
        {
            akka.WithRemoting("127.0.0.1", 0);
            akka.WithClustering(new ClusterOptions { Roles = ["emu"] });
            akka.AddKubernetesBootstrap(new KubernetesBootstrapSettings { PodNamespace = "emu-test" },
                name => name is KubernetesBootstrap.ApiHostVariable or KubernetesBootstrap.ApiPortVariable ? "set" : null,
                path => path == KubernetesBootstrap.ServiceAccountTokenPath);
            akka.AddHocon($$"""
                akka.discovery.kubernetes-api {
                  api-service-host-env-name = {{host}}
                  api-service-port-env-name = {{port}}
                  api-token-path = {{Path.Combine(AppContext.BaseDirectory, "no-such-token")}}
                }
                """, HoconAddMode.Prepend);
        });
        using var node = builder.Build();
        await node.StartAsync();
        try
        {
            var system = node.Services.GetRequiredService<ActorSystem>();
            var discovery = Akka.Discovery.Discovery.Get(system).LoadServiceDiscovery(KubernetesBootstrap.KubernetesDiscoveryMethod);
            Assert.Contains("KubernetesApiServiceDiscovery", discovery.GetType().Name);
            var lookup = discovery.Lookup(new Akka.Discovery.Lookup("emu", "remoting", "tcp"), TimeSpan.FromSeconds(30));
            var failure = await Assert.ThrowsAnyAsync<Exception>(() => lookup);
            Assert.Contains($"127.0.0.1:{closed}", failure.Message);
        }
        finally
        {
            await node.StopAsync();
            Environment.SetEnvironmentVariable(host, null);
            Environment.SetEnvironmentVariable(port, null);
        }
    }

    private static async Task<IHost> StartNodeAsync(int port, IEnumerable<int> listed, KubernetesBootstrapSettings settings)
    {
        string endpoints = string.Join(", ", listed.Select(p => $"\"127.0.0.1:{p}\""));
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("emu", akka =>
        {
            akka.AddHocon($"akka.discovery.config.services.{settings.ServiceName}.endpoints = [{endpoints}]", HoconAddMode.Prepend);
            akka.WithRemoting("127.0.0.1", port);
            akka.WithClustering(new ClusterOptions { Roles = ["emu"] });
            DiscoverySeeding.Add(akka, settings, "config");
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static Akka.Cluster.Cluster ClusterOf(IHost host) => Akka.Cluster.Cluster.Get(host.Services.GetRequiredService<ActorSystem>());

    private static async Task WaitForUpMembersAsync(IHost host, int count)
    {
        // Bounds only how long a failing test takes.
        var cluster = ClusterOf(host);
        for (var waited = global::System.Diagnostics.Stopwatch.StartNew(); cluster.State.Members.Count(m => m.Status == MemberStatus.Up) < count; await Task.Delay(100))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(90),
                $"{cluster.SelfAddress} sees {string.Join(", ", cluster.State.Members)} after 90 s, not {count} members up");
        }
    }

    private static async Task StopAsync(List<IHost> nodes)
    {
        foreach (var node in nodes)
        {
            await node.StopAsync();
            node.Dispose();
        }
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        listeners.ForEach(l => l.Start());
        int[] ports = [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        listeners.ForEach(l => l.Stop());
        return ports;
    }
}
