using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Emulator.Cluster;
using Emulator.Service.V1;
using Grpc.Core;
using OpenTelemetry.Trace;
using StatusCode = Grpc.Core.StatusCode;

namespace Emulator.Service.Tests;

/// <summary>
/// Two cluster nodes in one process (each its own control plane and actor system, on loopback):
/// calls about a machine asked of the node that does not run it are answered by the one that
/// does, streams included, and one trace holds both nodes' spans.
/// </summary>
public sealed class ClusterCallTests
{
    [Fact]
    public async Task Calls_asked_of_the_other_node_are_forwarded_and_one_trace_shows_both_nodes()
    {
        var spans = new List<Activity>();
        int seed = FreePort();
        Func<Hosting.ControlPlaneOptions, Hosting.ControlPlaneOptions> Node(string name, int port) => o => o with
        {
            Cluster = new ClusterOptions { NodeName = name, Port = port, Seeds = [$"127.0.0.1:{seed}"] },
            ConfigureTracing = t => t.AddInMemoryExporter(spans),
        };

        // n1 has room for the machine, n2 has not: placement puts it on n1 whichever is asked.
        var n1 = await TestServer.StartAsync(Node("n1", seed), m => m with { NodeName = "n1" });
        var n2 = await TestServer.StartAsync(Node("n2", FreePort()), m => m with { NodeName = "n2", MaxMemoryMibPerNode = 32 });
        try
        {
            await CallThroughTheOtherNode(n1, n2);
        }
        finally
        {
            // Stopping flushes the exporters; only then is the list of spans still.
            await n2.DisposeAsync();
            await n1.DisposeAsync();
        }

        // Both nodes' tracer providers listen in this one process: each span is exported twice.
        var all = spans.DistinctBy(a => a.SpanId).ToArray();

        // n2's forward of GetMachine and n1's GetMachine are one trace: n1's server span descends from n2's forward span.
        var forward = all.Last(a => a.DisplayName == "MachineService/Forward GetMachine" && (string?)a.GetTagItem("machine.id") == "fwd");
        Assert.Equal("n2", forward.GetTagItem("emu.node"));
        Assert.Equal("n1", forward.GetTagItem("emu.node.target"));
        var answered = all.Where(a => a.DisplayName == "MachineService/GetMachine" && a.TraceId == forward.TraceId).ToList();
        Assert.Single(answered);
        var serverSpan = all.Single(a => a.SpanId == answered[0].ParentSpanId);
        Assert.Equal(ActivityKind.Server, serverSpan.Kind);
        Assert.Equal(forward.TraceId, serverSpan.TraceId);
    }

    [Fact]
    public async Task Two_nodes_making_one_id_at_the_same_moment_make_one_machine()
    {
        int seed = FreePort();
        Func<Hosting.ControlPlaneOptions, Hosting.ControlPlaneOptions> Node(string name, int port) => o => o with
        {
            Cluster = new ClusterOptions { NodeName = name, Port = port, Seeds = [$"127.0.0.1:{seed}"] },
        };

        // Both nodes have room, so each makes the machine it is asked for itself.
        var n1 = await TestServer.StartAsync(Node("n1", seed), m => m with { NodeName = "n1" });
        var n2 = await TestServer.StartAsync(Node("n2", FreePort()), m => m with { NodeName = "n2" });
        try
        {
            using var c1 = n1.Channel();
            using var c2 = n2.Channel();
            var (one, two) = (TestServer.Machines(c1), TestServer.Machines(c2));
            await WaitForNodesAsync(two, 2);

            // n1's create is held after its machine is built and before it is kept: the moment
            // at which n1 runs nothing by that id yet, which every check of who runs it sees.
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            n1.Host.Machines.BeforeCommit = async (call, _) =>
            {
                if (call == "CreateMachine")
                {
                    reached.TrySetResult();
                    await release.Task;
                }
            };
            var first = one.CreateMachineAsync(n1.Tiny("twin")).ResponseAsync;
            await reached.Task;

            var refused = await Assert.ThrowsAsync<RpcException>(() => two.CreateMachineAsync(n2.Tiny("twin")).ResponseAsync);
            Assert.Equal(StatusCode.AlreadyExists, refused.StatusCode);
            Assert.Contains("n1", refused.Status.Detail);

            release.SetResult();
            Assert.Equal("n1", (await first).Node);
            var listed = await two.ListMachinesAsync(new ListMachinesRequest());
            Assert.Equal("n1", listed.Machines.Single(m => m.Id == "twin").Node);

            // An id whose create failed is free again at once. With equal room again, each node
            // makes what it is asked: n2 is refused a machine of 1 MiB, then n1 makes that id.
            await one.DeleteMachineAsync(new MachineRef { Id = "twin" });
            var bad = n2.Tiny("freed");
            bad.MemoryMib = 1;
            Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => two.CreateMachineAsync(bad).ResponseAsync)).StatusCode);
            Assert.Equal("n1", (await one.CreateMachineAsync(n1.Tiny("freed"))).Node);
        }
        finally
        {
            await n2.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    private static async Task CallThroughTheOtherNode(TestServer n1, TestServer n2)
    {
        Assert.True(n1.Host.ClusterJoined!.IsCompleted && n2.Host.ClusterJoined!.IsCompleted, "both nodes joined before serving");
        using var c1 = n1.Channel();
        using var c2 = n2.Channel();
        var (one, two) = (TestServer.Machines(c1), TestServer.Machines(c2));

        var nodes = await WaitForNodesAsync(two, 2);
        Assert.Equal(["n2", "n1"], nodes.Nodes.Select(n => n.Name));
        Assert.Equal(32UL, nodes.Nodes[0].MemoryMibCapacity);

        var created = await two.CreateMachineAsync(n1.Tiny("fwd"));
        Assert.Equal("n1", created.Node);
        Assert.Equal(StatusCode.AlreadyExists, (await Assert.ThrowsAsync<RpcException>(() => two.CreateMachineAsync(n1.Tiny("fwd")).ResponseAsync)).StatusCode);

        using var watch = two.WatchMachine(new MachineRef { Id = "fwd" });
        Assert.True(await watch.ResponseStream.MoveNext());
        Assert.Equal(MachineState.Created, watch.ResponseStream.Current.State);

        Assert.Equal(MachineState.Running, (await two.StartMachineAsync(new MachineRef { Id = "fwd" })).State);
        Assert.True(await watch.ResponseStream.MoveNext());
        Assert.Equal(MachineState.Running, watch.ResponseStream.Current.State);
        Assert.Equal(MachineState.Paused, (await two.PauseMachineAsync(new MachineRef { Id = "fwd" })).State);
        Assert.Equal(MachineState.Paused, (await one.GetMachineAsync(new MachineRef { Id = "fwd" })).State);

        var listed = await two.ListMachinesAsync(new ListMachinesRequest());
        Assert.Equal("n1", listed.Machines.Single(m => m.Id == "fwd").Node);
        Assert.Empty(listed.UnreachableNodes);

        var traced = await two.GetMachineAsync(new MachineRef { Id = "fwd" });
        Assert.Equal("n1", traced.Node);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => two.GetMachineAsync(new MachineRef { Id = "nobody" }).ResponseAsync)).StatusCode);

        await two.StopMachineAsync(new MachineRef { Id = "fwd" });
        await two.DeleteMachineAsync(new MachineRef { Id = "fwd" });
        Assert.Empty((await one.ListMachinesAsync(new ListMachinesRequest())).Machines);
    }

    private static async Task<ListNodesResponse> WaitForNodesAsync(V1.MachineService.MachineServiceClient client, int count)
    {
        // Membership spreads by gossip: bounded by a count of tries, not by time measured.
        for (int attempt = 0; ; attempt++)
        {
            var nodes = await client.ListNodesAsync(new ListNodesRequest());
            if (nodes.Nodes.Count == count || attempt == 100)
            {
                Assert.True(nodes.Clustered);
                return nodes;
            }

            await Task.Delay(200);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
