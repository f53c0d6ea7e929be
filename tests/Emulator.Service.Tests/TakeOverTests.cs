using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Akka.Actor;
using Emulator.Cluster;
using Emulator.Cluster.Catalogue;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Microsoft.Extensions.DependencyInjection;
using State = Emulator.Service.V1.MachineState;

namespace Emulator.Service.Tests;

/// <summary>
/// Node failure in-process (src/Emulator.Cluster/RATIONALE.md, "Node failure"): two cluster nodes
/// share one catalogue journal (a SQLite file both open) and one snapshot directory; n2 is downed
/// as the split-brain resolver downs a crashed node, and n1, the oldest member, takes its machines
/// over by their policy, snapshot and room, and marks each in n2's journal. And the decisions and
/// the journal's fence alone.
/// </summary>
public sealed class TakeOverTests : IAsyncLifetime
{
    private readonly DirectoryInfo shared = Directory.CreateTempSubdirectory("emu-takeover-");

    private string Snapshots => Path.Combine(shared.FullName, "snapshots");

    private string Journal => Path.Combine(shared.FullName, "catalogue.db");

    private string Allowed => Path.Combine(shared.FullName, "allowed");

    private string Kernel => Path.Combine(Allowed, "vmlinux");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Allowed);
        await File.WriteAllBytesAsync(Kernel, TinyKernel.Bytes());
    }

    public Task DisposeAsync()
    {
        shared.Delete(recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_oldest_survivor_restores_or_marks_lost_each_machine_of_a_downed_node_and_its_journal_says_so()
    {
        int seed = FreePort();
        Func<ControlPlaneOptions, ControlPlaneOptions> Node(string name, int port) => o => o with
        {
            Cluster = new ClusterOptions { NodeName = name, Port = port, Seeds = [$"127.0.0.1:{seed}"] },
            Catalogue = CatalogueOptions.Sqlite(Journal),
        };

        // n1 is the oldest member, the taker; n2 has the most room, so every machine is placed there;
        // after n2, n3 has the most room (200 MiB), then n1 (160 MiB).
        var n1 = await TestServer.StartAsync(Node("n1", seed), m => m with { NodeName = "n1", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], MaxMemoryMibPerNode = 160 });
        TestServer? n2 = await TestServer.StartAsync(Node("n2", FreePort()), m => m with { NodeName = "n2", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], MaxMemoryMibPerNode = 1024 });
        var n3 = await TestServer.StartAsync(Node("n3", FreePort()), m => m with { NodeName = "n3", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], MaxMemoryMibPerNode = 200 });
        try
        {
            using var c1 = n1.Channel();
            var one = TestServer.Machines(c1);
            using (var c2 = n2.Channel())
            {
                var two = TestServer.Machines(c2);
                await WaitForNodesAsync(two, 3);
                CreateMachineRequest Spec(string id, V1.RestartPolicy policy, ulong mib = 64) =>
                    new() { Id = id, Vcpus = 1, MemoryMib = mib, Kernel = Kernel, CommandLine = "console=ttyS0", RestartPolicy = policy };

                foreach (var spec in new[]
                {
                    Spec("a-always", V1.RestartPolicy.Always), Spec("b-paused", V1.RestartPolicy.OnFailure), Spec("c-never", V1.RestartPolicy.Never),
                    Spec("d-nosnap", V1.RestartPolicy.Always), Spec("e-roomless", V1.RestartPolicy.OnFailure, 160), Spec("f-stopped", V1.RestartPolicy.Always),
                    Spec("g-unreadable", V1.RestartPolicy.Always),
                })
                {
                    Assert.Equal("n2", (await two.CreateMachineAsync(spec)).Node);
                    await two.StartMachineAsync(new MachineRef { Id = spec.Id });
                }

                foreach (string id in new[] { "a-always", "b-paused", "c-never", "e-roomless", "g-unreadable" })
                {
                    await two.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = id, SnapshotId = id + "-snap" });
                }

                await two.PauseMachineAsync(new MachineRef { Id = "b-paused" });
                await two.StopMachineAsync(new MachineRef { Id = "f-stopped" });
                File.Delete(Path.Combine(Snapshots, "g-unreadable-snap.emusnap")); // as if it were on n2's own disk

                // A shared snapshot directory: n1 lists n2's snapshots as n2's.
                var listed = (await one.ListSnapshotsAsync(new ListSnapshotsRequest())).Snapshots;
                Assert.Equal("n2", listed.Single(s => s.Id == "a-always-snap").Node);
            }

            // The first restore of the take-over (a-always, on n3) is held before it is kept, so that calls made meanwhile can be seen.
            var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            n3.Host.Machines.BeforeCommit = async (call, _) =>
            {
                if (call == "RestoreSnapshot" && holding.TrySetResult())
                {
                    await release.Task;
                }
            };

            // Downed, as the split-brain resolver downs an unreachable node: removed as lost.
            var system = n1.Host.Services.GetRequiredService<ActorSystem>();
            Akka.Cluster.Cluster.Get(system).Down(Address.Parse(n2.Host.Machines.Cluster!.Self.ClusterAddress));
            await n2.Host.ClusterRemoved!.WaitAsync(TimeSpan.FromMinutes(1));

            // While a-always is being restored: calls about it are UNAVAILABLE with why, on the taker
            // and on the node it is restored on (which asks the taker); the list answers.
            await holding.Task.WaitAsync(TimeSpan.FromMinutes(1));
            using var c3 = n3.Channel();
            var three = TestServer.Machines(c3);
            foreach (var client in new[] { one, three })
            {
                var restoring = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => client.GetMachineAsync(new MachineRef { Id = "a-always" }).ResponseAsync);
                Assert.Equal(Grpc.Core.StatusCode.Unavailable, restoring.StatusCode);
                Assert.Equal("machine 'a-always' is being restored on node n3 after node n2 was lost", restoring.Status.Detail);
            }

            Assert.DoesNotContain("a-always", (await one.ListMachinesAsync(new ListMachinesRequest(), deadline: DateTime.UtcNow.AddSeconds(30))).Machines.Select(m => m.Id));
            release.SetResult();

            var list = await WaitForMachinesAsync(one, 6);
            Assert.Equal("n3", list["a-always"].Node); // the most room
            Assert.All(list.Values.Where(m => m.Id != "a-always"), m => Assert.Equal("n1", m.Node));
            Assert.Equal(State.Running, list["a-always"].State);
            Assert.Contains("taken over after node n2 was lost: restored from snapshot a-always-snap", list["a-always"].Detail);
            Assert.Equal(V1.RestartPolicy.Always, list["a-always"].Spec.RestartPolicy);
            Assert.Equal(State.Paused, list["b-paused"].State);
            Assert.Equal(V1.RestartPolicy.OnFailure, list["b-paused"].Spec.RestartPolicy);
            Assert.Equal(State.Lost, list["c-never"].State);
            Assert.Contains("its restart policy is NEVER", list["c-never"].Detail);
            Assert.Equal(State.Lost, list["d-nosnap"].State);
            Assert.Contains("it has no snapshot", list["d-nosnap"].Detail);
            Assert.Equal(State.Lost, list["e-roomless"].State);
            Assert.Contains("no surviving node has room for 1 vCPUs and 160 MiB", list["e-roomless"].Detail);
            Assert.Equal(State.Lost, list["g-unreadable"].State);
            Assert.Contains("its snapshot g-unreadable-snap (taken on node n2) is not in the snapshot directory", list["g-unreadable"].Detail);
            Assert.DoesNotContain("f-stopped", list.Keys); // not live: it stays in n2's catalogue

            // n2's journal: one mark per live machine, in the order they were taken.
            var marks = TakenOverMarks("catalogue-n2");
            Assert.Equal(
                [("a-always", "restore"), ("b-paused", "restore"), ("c-never", "lost"), ("d-nosnap", "lost"), ("e-roomless", "lost"), ("g-unreadable", "lost")],
                marks.Select(m => (m.Machine, m.Outcome)));
            Assert.All(marks, m => Assert.Equal("n1", m.By));
            Assert.Equal(["n3", "n1", "n1", "n1", "n1", "n1"], marks.Select(m => m.To));

            // LOST: deleted for good, or booted from its spec by StartMachine on the node that lists it.
            await one.DeleteMachineAsync(new MachineRef { Id = "d-nosnap" });
            Assert.Equal(State.Running, (await one.StartMachineAsync(new MachineRef { Id = "c-never" })).State);

            // n2 starts again under its name (here alone, on the same journal): only its stopped machine is its own.
            await n2.DisposeAsync();
            n2 = null;
            await using var again = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
            {
                Catalogue = CatalogueOptions.Sqlite(Journal),
                Machines = new MachineServiceOptions { NodeName = "n2", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], Tier1 = null, MaxMemoryMibPerMachine = 256 },
            });
            using var cAgain = ControlPlaneChannel.Open(again.Address);
            var back = (await TestServer.Machines(cAgain).ListMachinesAsync(new ListMachinesRequest())).Machines;
            Assert.Equal(["f-stopped"], back.Select(m => m.Id));
            Assert.Equal(State.Stopped, back[0].State);
        }
        finally
        {
            if (n2 is not null)
            {
                await n2.DisposeAsync();
            }

            await n3.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    /// <summary>
    /// The taker is lost too, before it marked anything: the member that is the oldest then (n3)
    /// takes the first lost node's machines over, and the first taker, removed, marks nothing.
    /// </summary>
    [Fact]
    public async Task When_the_taker_is_lost_before_it_marks_a_machine_the_next_oldest_takes_the_machines_over()
    {
        int seed = FreePort();
        Func<ControlPlaneOptions, ControlPlaneOptions> Node(string name, int port) => o => o with
        {
            Cluster = new ClusterOptions { NodeName = name, Port = port, Seeds = [$"127.0.0.1:{seed}"] },
            Catalogue = CatalogueOptions.Sqlite(Journal),
        };

        var n1 = await TestServer.StartAsync(Node("n1", seed), m => m with { NodeName = "n1", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], MaxMemoryMibPerNode = 256 });
        var n2 = await TestServer.StartAsync(Node("n2", FreePort()), m => m with { NodeName = "n2", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], MaxMemoryMibPerNode = 1024 });
        var n3 = await TestServer.StartAsync(Node("n3", FreePort()), m => m with { NodeName = "n3", SnapshotDirectory = Snapshots, AllowedDirectories = [Allowed], MaxMemoryMibPerNode = 256 });
        try
        {
            using (var c2 = n2.Channel())
            {
                var two = TestServer.Machines(c2);
                await WaitForNodesAsync(two, 3);
                foreach (var (id, policy) in new[] { ("a-always", V1.RestartPolicy.Always), ("b-never", V1.RestartPolicy.Never) })
                {
                    Assert.Equal("n2", (await two.CreateMachineAsync(new CreateMachineRequest { Id = id, Vcpus = 1, MemoryMib = 64, Kernel = Kernel, CommandLine = "console=ttyS0", RestartPolicy = policy })).Node);
                    await two.StartMachineAsync(new MachineRef { Id = id });
                }

                await two.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "a-always", SnapshotId = "a-snap" });
            }

            var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            n1.Host.Machines.BeforeTakeOverMark = async _ =>
            {
                holding.TrySetResult();
                await release.Task;
            };

            Akka.Cluster.Cluster.Get(n1.Host.Services.GetRequiredService<ActorSystem>()).Down(Address.Parse(n2.Host.Machines.Cluster!.Self.ClusterAddress));
            await holding.Task.WaitAsync(TimeSpan.FromMinutes(1)); // n1, the oldest, began

            Akka.Cluster.Cluster.Get(n3.Host.Services.GetRequiredService<ActorSystem>()).Down(Address.Parse(n1.Host.Machines.Cluster!.Self.ClusterAddress));
            await n1.Host.ClusterRemoved!.WaitAsync(TimeSpan.FromMinutes(1));
            release.SetResult();

            using var c3 = n3.Channel();
            var list = await WaitForMachinesAsync(TestServer.Machines(c3), 2);
            Assert.Equal(("n3", State.Running), (list["a-always"].Node, list["a-always"].State));
            Assert.Equal(("n3", State.Lost), (list["b-never"].Node, list["b-never"].State));
            Assert.Equal([("a-always", "n3"), ("b-never", "n3")], TakenOverMarks("catalogue-n2").Select(m => (m.Machine, m.By)));
        }
        finally
        {
            await n3.DisposeAsync();
            await n2.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    [Fact]
    public void A_live_machine_is_restored_only_by_a_policy_for_failures_from_a_snapshot_the_node_can_read()
    {
        static MachineRecord Record(string? snapshot) => new("m", [], Emulator.Cluster.Catalogue.RestartPolicy.Always, "RUNNING", "", "dead", snapshot, "dead");
        static CreateMachineRequest Spec(V1.RestartPolicy policy) => new() { Id = "m", Vcpus = 1, MemoryMib = 64, RestartPolicy = policy };

        Assert.Null(Machines.MachineService.LostReason(Record("s"), Spec(V1.RestartPolicy.Always), _ => true));
        Assert.Null(Machines.MachineService.LostReason(Record("s"), Spec(V1.RestartPolicy.OnFailure), _ => true));
        Assert.Equal("its restart policy is NEVER", Machines.MachineService.LostReason(Record("s"), Spec(V1.RestartPolicy.Never), _ => true));
        Assert.Equal("it has no snapshot to come back from", Machines.MachineService.LostReason(Record(null), Spec(V1.RestartPolicy.Always), _ => true));
        Assert.StartsWith("its snapshot s (taken on node dead) is not in the snapshot directory", Machines.MachineService.LostReason(Record("s"), Spec(V1.RestartPolicy.Always), _ => false));

        NodeInfo Node(string name, ulong used, ulong capacity) => new(name, "", "", 0, 16, 0, 8, used, capacity);
        var spec = Spec(V1.RestartPolicy.Always);
        Assert.Equal("b", Machines.MachineService.ChooseTakeOverNode([Node("a", 900, 1024), Node("b", 0, 1024)], spec, "a")!.Name);
        Assert.Equal("a", Machines.MachineService.ChooseTakeOverNode([Node("b", 0, 1024), Node("a", 0, 1024)], spec, "a")!.Name); // a tie: the taker
        Assert.Null(Machines.MachineService.ChooseTakeOverNode([Node("a", 1000, 1024), Node("b", 990, 1024)], spec, "a"));
    }

    /// <summary>
    /// The fence a take-over relies on: two writers that read the same catalogue cannot both write
    /// after it; the second's write is refused, and what it read must be read again.
    /// </summary>
    [Fact]
    public async Task Of_two_writers_that_read_a_catalogue_only_the_first_can_write_after_it()
    {
        await using var host = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            Catalogue = CatalogueOptions.Sqlite(Journal),
            Machines = new MachineServiceOptions { NodeName = "fence", SnapshotDirectory = Snapshots, Tier1 = null },
        });
        var catalogue = host.Machines.Catalogue!;
        using (var first = catalogue.Open("ghost"))
        {
            await first.LoadAsync(CancellationToken.None);
            Assert.True(await first.TryWriteAsync(new MachineRecorded("vm", [], Emulator.Cluster.Catalogue.RestartPolicy.Always, "ghost")));
        }

        using var a = catalogue.Open("ghost");
        using var b = catalogue.Open("ghost");
        Assert.Equal(1, (await a.LoadAsync(CancellationToken.None)).Events);
        Assert.Equal(1, (await b.LoadAsync(CancellationToken.None)).Events);
        Assert.True(await a.TryWriteAsync(new MachineTakenOver("vm", "a", "a", "restore", "")));
        Assert.False(await b.TryWriteAsync(new MachineTakenOver("vm", "b", "b", "restore", "")));

        using var reader = catalogue.Open("ghost");
        var contents = await reader.LoadAsync(CancellationToken.None);
        Assert.Equal(2, contents.Events);
        Assert.Empty(contents.Machines);
        Assert.Equal([("vm", "a")], TakenOverMarks("catalogue-ghost").Select(m => (m.Machine, m.By)));
    }

    /// <summary>The MachineTakenOver events of a journal, as they are stored (the catalogue's JSON).</summary>
    private List<(string Machine, string By, string Outcome, string To)> TakenOverMarks(string persistenceId)
    {
        using var sqlite = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Journal};Pooling=False");
        sqlite.Open();
        using var query = sqlite.CreateCommand();
        query.CommandText = "SELECT message FROM journal WHERE persistence_id = $id AND manifest = 'machine-taken-over.v1' ORDER BY sequence_number";
        query.Parameters.AddWithValue("$id", persistenceId);
        var marks = new List<(string, string, string, string)>();
        using var rows = query.ExecuteReader();
        while (rows.Read())
        {
            using var json = JsonDocument.Parse((byte[])rows[0]);
            var e = json.RootElement;
            marks.Add((e.GetProperty("machine_id").GetString()!, e.GetProperty("by").GetString()!, e.GetProperty("outcome").GetString()!, e.GetProperty("to").GetString()!));
        }

        return marks;
    }

    private static async Task<Dictionary<string, V1.Machine>> WaitForMachinesAsync(V1.MachineService.MachineServiceClient client, int count)
    {
        // The take-over runs after the removal spreads: bounded by a count of tries, not by time measured.
        for (int attempt = 0; ; attempt++)
        {
            var list = (await client.ListMachinesAsync(new ListMachinesRequest())).Machines;
            if (list.Count == count || attempt == 300)
            {
                return list.ToDictionary(m => m.Id);
            }

            await Task.Delay(200);
        }
    }

    private static async Task WaitForNodesAsync(V1.MachineService.MachineServiceClient client, int count)
    {
        for (int attempt = 0; attempt < 100 && (await client.ListNodesAsync(new ListNodesRequest())).Nodes.Count != count; attempt++)
        {
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
