using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// Three `emu serve --cluster` nodes as separate processes on loopback, one token, one PostgreSQL
/// catalogue (a server the test starts) and one snapshot directory shared by all three, driven by
/// the real gRPC client (cluster.py, Python grpcio): placement, calls and the console forwarded to
/// the node that runs the machine, live migration asked of a third node while the guest works,
/// bad input, a node killed with SIGKILL whose machines the others take over, then started
/// again under its name, and the whole cluster stopped and started again.
/// </summary>
public sealed partial class ClusterTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Start = TimeSpan.FromMinutes(2);

    [PythonPostgresFact]
    public async Task Three_nodes_place_forward_migrate_refuse_and_take_over_a_killed_node()
    {
        const string token = "cluster-s3cret";
        using var postgres = PostgresServer.Start();
        var root = Directory.CreateTempSubdirectory("emu-cluster-");
        string snapshots = Directory.CreateDirectory(Path.Combine(root.FullName, "snapshots")).FullName;
        int seedPort = FreePort();
        var nodes = new List<ConsoleSession>();
        string[] addresses = new string[3];

        ConsoleSession Node(string name, int i)
        {
            var node = ConsoleSession.StartEmu(new Dictionary<string, string> { ["EMU_TOKEN"] = token },
                "serve", "--listen", "127.0.0.1:0", "--allow", DefaultGuest.ImageDirectory,
                "--snapshot-dir", snapshots, "--catalogue", postgres.Catalogue,
                "--node-memory", name == "c" ? "256M" : "1G",
                "--cluster", "--node-name", name,
                "--cluster-listen", $"127.0.0.1:{(i == 0 ? seedPort : FreePort())}", "--seed", $"127.0.0.1:{seedPort}");
            addresses[i] = new Uri(Address().Match(node.WaitFor(" (machines", Start)).Value).Authority;
            return node;
        }

        async Task<string[]> Script(params string[] arguments)
        {
            try
            {
                return await PythonScripts.RunAsync("cluster.py", TimeSpan.FromMinutes(10), arguments);
            }
            catch
            {
                foreach (var (node, name) in nodes.Zip("abc"))
                {
                    log.WriteLine($"--- node {name}:\n{node.Transcript}");
                }

                throw;
            }
        }

        try
        {
            foreach (var (name, i) in new[] { "a", "b", "c" }.Select((n, i) => (n, i)))
            {
                nodes.Add(Node(name, i));
            }

            string[] lines = await Script([.. addresses, nodes[1].ProcessId.ToString(global::System.Globalization.CultureInfo.InvariantCulture), DefaultGuest.ImageDirectory, ConsoleSession.Prompt, token]);
            foreach (string line in lines)
            {
                log.WriteLine(line);
            }

            Assert.Equal([
                "every node lists a,b,c",
                "never machine on b",
                // a has more room than b (b runs the NEVER machine), so the machine goes to a.
                "created through a on a CREATED",
                "the same id through c: ALREADY_EXISTS",
                "started through c: RUNNING on a",
                "console through c: 42",
                "migrated to b RUNNING RESTART_POLICY_ALWAYS",
                "listed through a on b",
                "console ended on the source: OK",
                "hashes during the migration: distinct 1 right: True",
                "console through c after: 56",
                "migrate to an unknown node: NOT_FOUND",
                "migrate to the node that runs it: INVALID_ARGUMENT",
                "migrate to a node without room: RESOURCE_EXHAUSTED",
                "create where no node has room: RESOURCE_EXHAUSTED",
                "machine after the refusals: RUNNING",
                "console after the refusals: 72",
                "snapshot taken on b",
                "after b was killed: a and c list a,c; ListMachines failed 0 times",
                // a, the oldest member, takes b's machines over; only a has room for 512 MiB.
                "the machine of b: RUNNING on a RESTART_POLICY_ALWAYS",
                "the NEVER machine of b: LOST on a because its restart policy is NEVER: True",
                "a and c list the same: True and cl-never a LOST, cl-vm a RUNNING",
                "console through c after the take-over: kept-25 64",
            ], lines);

            // b starts again under its name, on the same catalogue: it brings back nothing that was taken over.
            nodes[1].Dispose();
            nodes.RemoveAt(1);
            nodes.Insert(1, Node("b", 1));
            string[] after = await Script(["--after-restart", .. addresses, DefaultGuest.ImageDirectory, ConsoleSession.Prompt, token]);
            foreach (string line in after)
            {
                log.WriteLine(line);
            }

            Assert.Equal([
                "b is back: every node lists a,b,c",
                "after b's restart every node lists the same: True",
                "machines: cl-never a LOST, cl-vm a RUNNING",
                "console through b: 81",
            ], after);

            // The whole cluster stops in an orderly way (SIGTERM to every node at once) and starts
            // again on the same catalogue: the machines are listed as before, and the ALWAYS one
            // comes back from its latest snapshot (the file written in its guest is there).
            foreach (var node in nodes)
            {
                CatalogueTests.Signal(node, "TERM");
            }

            foreach (var (node, name) in nodes.Zip("abc"))
            {
                Assert.True(node.WaitForExit(Start) == 0, $"node {name} did not stop cleanly:\n{node.Transcript}");
                node.Dispose();
            }

            nodes.Clear();
            foreach (var (name, i) in new[] { "a", "b", "c" }.Select((n, i) => (n, i)))
            {
                nodes.Add(Node(name, i));
            }

            string[] again = await Script(["--after-cluster-restart", .. addresses, DefaultGuest.ImageDirectory, ConsoleSession.Prompt, token]);
            foreach (string line in again)
            {
                log.WriteLine(line);
            }

            Assert.Equal([
                "after the whole cluster restarted every node lists a,b,c",
                "every node lists the same: True and cl-never a LOST, cl-vm a RUNNING",
                "the ALWAYS machine: RUNNING on a RESTART_POLICY_ALWAYS",
                "console through c: kept-25 63",
            ], again);
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Dispose();
            }

            root.Delete(recursive: true);
        }
    }

    /// <summary>A TCP port nothing listens on now (the node binds it a moment later).</summary>
    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"http://[0-9.]+:[0-9]+/?")]
    private static partial Regex Address();
}

/// <summary>A test that needs both Python's grpcio and PostgreSQL's server: skipped without them, failed under CI.</summary>
public sealed class PythonPostgresFactAttribute() : DependencyFactAttribute(PythonGrpcRunner.Available ? PostgresServer.Missing : PythonGrpcRunner.MissingMessage);
