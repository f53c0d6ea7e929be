using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Emulator.Service.Client;
using Emulator.Service.V1;
using Grpc.Health.V1;
using Xunit;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Deploy.Tests;

/// <summary>
/// deploy/local/emu-cluster against the emu built beside these tests (emu.dll): it starts nodes
/// as processes of their own on 127.0.0.1, lists them, and stops them all. Health is checked here
/// with this repository's gRPC client, not only the launcher's word, and so is the cluster the
/// nodes form (ListNodes on every node).
/// </summary>
public sealed class LauncherTests
{
    private static readonly string Launcher = Path.Combine(Tools.Deploy, "local", "emu-cluster");
    private static readonly string Emu = Path.Combine(AppContext.BaseDirectory, "emu.dll");
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    [PythonFact]
    public async Task StartsAThreeNodeClusterWhoseNodesAllListTheThreeAndStopLeavesNoProcess()
    {
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        List<Node> nodes = [];
        try
        {
            int grpcBase = FreePorts(6), clusterBase = grpcBase + 3;
            nodes = await StartAndCheckThreeAsync(dir.FullName, grpcBase, clusterBase, cluster: true);
            Assert.Equal(Enumerable.Range(clusterBase, 3).Select(p => $"127.0.0.1:{p}"), nodes.Select(n => n.Cluster));
            foreach (var node in nodes)
            {
                // Each node is a member of one cluster of the three, and advertises its own control plane.
                using var channel = ControlPlaneChannel.Open(node.Grpc);
                var view = await new MachineService.MachineServiceClient(channel).ListNodesAsync(new ListNodesRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
                Assert.True(view.Clustered);
                Assert.Empty(view.UnreachableNodes);
                Assert.Equal(nodes.Select(n => (n.Name, n.Grpc)).Order(), view.Nodes.Select(n => (n.Name, n.Address)).Order());
                Assert.Equal(node.Name, view.Nodes[0].Name);
            }

            string line = await StatusLineAsync(dir.FullName, "node-2", expectedExit: 0);
            Assert.EndsWith("node-1,node-2,node-3", line);

            // A node that dies is shown as exited and fails status; stop still stops the others.
            global::System.Diagnostics.Process.GetProcessById(nodes[2].Pid).Kill();
            await WaitUntilAsync(() => !Alive(nodes[2].Pid));
            Assert.Contains("exited", await StatusLineAsync(dir.FullName, "node-3", expectedExit: 1));
            await StopAndCheckAsync(dir.FullName, nodes, stopped: 2);
        }
        finally
        {
            Cleanup(nodes, dir);
        }
    }

    [PythonFact]
    public async Task StartsThreePlainNodesThatAnswerHealthListsThemAndStopLeavesNoProcess()
    {
        // --no-cluster: emu serve without --cluster and its flags (nodes that run alone).
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        List<Node> nodes = [];
        try
        {
            int grpcBase = FreePorts(3);
            nodes = await StartAndCheckThreeAsync(dir.FullName, grpcBase, 4053, cluster: false);
            Assert.All(nodes, n => Assert.Null(n.Cluster));
            await StopAndCheckAsync(dir.FullName, nodes, stopped: 3);
        }
        finally
        {
            Cleanup(nodes, dir);
        }
    }

    private static async Task<List<Node>> StartAndCheckThreeAsync(string dir, int grpcBase, int clusterBase, bool cluster)
    {
        string[] arguments = ["start", "3", "--dir", dir, "--emu", Emu, "--grpc-port-base", $"{grpcBase}", "--cluster-port-base", $"{clusterBase}"];
        (int exit, string output, string error) = await RunAsync(cluster ? arguments : [.. arguments, "--no-cluster"]);
        List<Node> nodes = File.Exists(Path.Combine(dir, "nodes.json")) ? ReadNodes(dir) : [];
        try
        {
            Assert.True(exit == 0, $"start exited {exit}:\n{output}\n{error}");
            Assert.Contains(cluster ? "3 nodes serving as one cluster" : "3 nodes serving;", output);
            CheckThree(dir, nodes, grpcBase);
        }
        catch
        {
            Cleanup(nodes, null);
            throw;
        }

        foreach (var node in nodes)
        {
            Assert.Equal(ServingStatus.Serving, await HealthAsync(node.Grpc));

            // emu prints the line just after its server starts, which may answer health first.
            await WaitUntilAsync(() => File.ReadAllText(node.Log).Contains($"serving on http://{node.Grpc}", StringComparison.Ordinal));
        }

        (exit, output, error) = await RunAsync("status", "--dir", dir);
        Assert.True(exit == 0, $"status exited {exit}:\n{output}\n{error}");
        foreach (var node in nodes)
        {
            string line = Assert.Single(output.Split('\n'), l => l.StartsWith(node.Name + " ", StringComparison.Ordinal));
            Assert.Contains($" {node.Pid} ", line);
            Assert.Contains("running", line);
            Assert.Contains("SERVING", line);
            Assert.Contains(node.Grpc, line);
        }

        return nodes;
    }

    private static void CheckThree(string dir, List<Node> nodes, int grpcBase)
    {
        Assert.Equal(["node-1", "node-2", "node-3"], nodes.Select(n => n.Name));
        Assert.Equal(Enumerable.Range(grpcBase, 3).Select(p => $"127.0.0.1:{p}"), nodes.Select(n => n.Grpc));
        Assert.Equal(3, nodes.Select(n => n.Pid).Distinct().Count());
        foreach (var node in nodes)
        {
            Assert.True(Alive(node.Pid), $"{node.Name} (pid {node.Pid}) is not running");
            Assert.Equal(Path.Combine(dir, node.Name, "snapshots"), node.Snapshots);
            Assert.True(Directory.Exists(node.Snapshots));
            Assert.Equal($"{node.Pid}", File.ReadAllText(Path.Combine(dir, node.Name, "emu.pid")).Trim());
        }
    }

    private static async Task StopAndCheckAsync(string dir, List<Node> nodes, int stopped)
    {
        // A generous bound between SIGTERM and SIGKILL: the graceful stop is asserted, not its speed.
        (int exit, string output, string error) = await RunAsync("stop", "--dir", dir, "--timeout", "120");
        Assert.True(exit == 0, $"stop exited {exit}:\n{output}\n{error}");
        Assert.Contains($"stopped {stopped} node", output);
        Assert.All(nodes, n => Assert.False(Alive(n.Pid), $"{n.Name} (pid {n.Pid}) still runs after stop"));
        Assert.Equal(stopped, nodes.Count(n => File.ReadAllText(n.Log).Contains("emu: stopped", StringComparison.Ordinal)));
        Assert.False(File.Exists(Path.Combine(dir, "nodes.json")));
    }

    private static async Task<string> StatusLineAsync(string dir, string name, int expectedExit)
    {
        (int exit, string output, string error) = await RunAsync("status", "--dir", dir);
        Assert.True(exit == expectedExit, $"status exited {exit}, not {expectedExit}:\n{output}\n{error}");
        return Assert.Single(output.Split('\n'), l => l.StartsWith(name + " ", StringComparison.Ordinal)).TrimEnd();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        // Bounds only how long a failing test takes.
        for (var waited = global::System.Diagnostics.Stopwatch.StartNew(); !condition(); await Task.Delay(50))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "the condition did not come true within 30 s");
        }
    }

    [PythonFact]
    public async Task ANodeThatCannotStartFailsTheStartWithItsLogAndLeavesNoProcess()
    {
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        List<Node> nodes = [];
        try
        {
            (int exit, string output, string error) = await RunAsync("start", "2", "--dir", dir.FullName, "--emu", Emu,
                "--grpc-port-base", $"{FreePorts(2)}", "--no-cluster", "--", "--drain-seconds", "-1");
            nodes = ReadNodes(dir.FullName);
            Assert.NotEqual(0, exit);
            Assert.Contains("exited before it served", error);
            Assert.Contains("emu: --drain-seconds must be 0 or more", error);
            Assert.Equal(2, nodes.Count);
            Assert.All(nodes, n => Assert.False(Alive(n.Pid), $"{n.Name} (pid {n.Pid}) still runs after a failed start"));
        }
        finally
        {
            Cleanup(nodes, dir);
        }
    }

    [PythonFact]
    public async Task TheTokenInTheEnvironmentReachesTheNodesAndTheHealthChecks()
    {
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        List<Node> nodes = [];
        try
        {
            var token = new Dictionary<string, string?> { ["EMU_TOKEN"] = "deploy-test-token", ["EMU_CLUSTER_SEEDS"] = null };
            (int exit, string output, string error) = await Tools.RunAsync(Launcher,
                ["start", "1", "--dir", dir.FullName, "--emu", Emu, "--grpc-port-base", $"{FreePorts(1)}", "--no-cluster"], Timeout, environment: token);
            nodes = ReadNodes(dir.FullName);
            Assert.True(exit == 0, $"start exited {exit}:\n{output}\n{error}");

            // The node requires the token (so it got it), and the launcher's checks sent it.
            using var channel = ControlPlaneChannel.Open(nodes[0].Grpc);
            var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
                await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30)));
            Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, refused.StatusCode);
            (exit, output, _) = await Tools.RunAsync(Launcher, ["status", "--dir", dir.FullName], Timeout, environment: token);
            Assert.Equal(0, exit);
            Assert.Contains("SERVING", output);
            (exit, output, _) = await RunAsync("status", "--dir", dir.FullName);
            Assert.Equal(1, exit);
            Assert.Contains("UNAUTHENTICATED", output);
            await StopAndCheckAsync(dir.FullName, nodes, stopped: 1);
        }
        finally
        {
            Cleanup(nodes, dir);
        }
    }

    [PythonFact]
    public async Task ABusyPortIsRefusedBeforeAnyNodeStarts()
    {
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        try
        {
            using var busy = new TcpListener(IPAddress.Loopback, 0);
            busy.Start();
            int port = ((IPEndPoint)busy.LocalEndpoint).Port;
            (int exit, _, string error) = await RunAsync("start", "1", "--dir", dir.FullName, "--emu", Emu, "--grpc-port-base", $"{port}", "--no-cluster");
            Assert.NotEqual(0, exit);
            Assert.Contains($"ports in use on 127.0.0.1: {port}", error);
            Assert.False(Directory.Exists(Path.Combine(dir.FullName, "node-1")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task StatusAndStopWithoutAStartedClusterSaySo()
    {
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        try
        {
            foreach (string command in new[] { "status", "stop" })
            {
                (int exit, _, string error) = await RunAsync(command, "--dir", dir.FullName);
                Assert.Equal(1, exit);
                Assert.Contains("no cluster was started with --dir", error);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private sealed record Node(string Name, string Grpc, string? Cluster, int Pid, string Log, string Snapshots);

    private static List<Node> ReadNodes(string dir)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "nodes.json")));
        return json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => new Node(
            n.GetProperty("name").GetString()!, n.GetProperty("grpc").GetString()!, n.GetProperty("cluster").GetString(),
            n.GetProperty("pid").GetInt32(), n.GetProperty("log").GetString()!, n.GetProperty("snapshots").GetString()!)).ToList();
    }

    private static Task<(int Exit, string Output, string Error)> RunAsync(params string[] arguments) =>
        Tools.RunAsync(Launcher, arguments, Timeout, environment: new Dictionary<string, string?> { ["EMU_TOKEN"] = null, ["EMU_CLUSTER_SEEDS"] = null });

    private static async Task<ServingStatus> HealthAsync(string address)
    {
        using var channel = ControlPlaneChannel.Open(address);
        var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
        return reply.Status;
    }

    /// <summary>Running, not ended (a zombie waiting for whoever inherited it has ended).</summary>
    private static bool Alive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The first of <paramref name="count"/> consecutive ports free on 127.0.0.1, from a random start (other tests use the usual ones).</summary>
    private static int FreePorts(int count)
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int first = Random.Shared.Next(20000, 60000);
            if (Enumerable.Range(first, count).All(Free))
            {
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports on 127.0.0.1");

        static bool Free(int port)
        {
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }

    private static void Cleanup(List<Node> nodes, DirectoryInfo? dir)
    {
        // Only if an assertion failed midway: the nodes this test started, by their pids.
        foreach (var node in nodes.Where(n => Alive(n.Pid)))
        {
            try
            {
                global::System.Diagnostics.Process.GetProcessById(node.Pid).Kill();
            }
            catch (ArgumentException)
            {
                // ended meanwhile
            }
        }

        dir?.Delete(recursive: true);
    }
}
