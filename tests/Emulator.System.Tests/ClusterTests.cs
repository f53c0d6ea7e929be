using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// Three `emu serve --cluster` nodes as separate processes on loopback, one token, driven by the
/// real gRPC client (cluster.py, Python grpcio): placement, calls and the console forwarded to
/// the node that runs the machine, live migration asked of a third node while the guest works,
/// bad input, and a node killed with SIGKILL.
/// </summary>
public sealed partial class ClusterTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Start = TimeSpan.FromMinutes(2);

    [PythonFact]
    public async Task Three_nodes_place_forward_migrate_refuse_and_outlive_a_killed_node()
    {
        const string token = "cluster-s3cret";
        var root = Directory.CreateTempSubdirectory("emu-cluster-");
        int seedPort = FreePort();
        var nodes = new List<ConsoleSession>();
        try
        {
            string[] addresses = new string[3];
            foreach (var (name, i) in new[] { "a", "b", "c" }.Select((n, i) => (n, i)))
            {
                var node = ConsoleSession.StartEmu(new Dictionary<string, string> { ["EMU_TOKEN"] = token },
                    "serve", "--listen", "127.0.0.1:0", "--allow", DefaultGuest.ImageDirectory,
                    "--snapshot-dir", Directory.CreateDirectory(Path.Combine(root.FullName, name)).FullName,
                    "--node-memory", name == "c" ? "256M" : "1G",
                    "--cluster", "--node-name", name,
                    "--cluster-listen", $"127.0.0.1:{(i == 0 ? seedPort : FreePort())}", "--seed", $"127.0.0.1:{seedPort}");
                nodes.Add(node);
                addresses[i] = new Uri(Address().Match(node.WaitFor(" (machines", Start)).Value).Authority;
            }

            string[] lines;
            try
            {
                lines = await PythonScripts.RunAsync("cluster.py", TimeSpan.FromMinutes(10),
                    [.. addresses, nodes[1].ProcessId.ToString(global::System.Globalization.CultureInfo.InvariantCulture), DefaultGuest.ImageDirectory, ConsoleSession.Prompt, token]);
            }
            catch
            {
                foreach (var (node, name) in nodes.Zip("abc"))
                {
                    log.WriteLine($"--- node {name}:\n{node.Transcript}");
                }

                throw;
            }

            foreach (string line in lines)
            {
                log.WriteLine(line);
            }

            Assert.Equal([
                "every node lists a,b,c",
                // a and b have the same room, and the node called wins a tie.
                "created through a on a CREATED",
                "the same id through c: ALREADY_EXISTS",
                "started through c: RUNNING on a",
                "console through c: 42",
                "migrated to b RUNNING",
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
                "after b was killed: a and c list a,c; ListMachines failed 0 times",
                "the machine of b: NOT_FOUND",
            ], lines);
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
