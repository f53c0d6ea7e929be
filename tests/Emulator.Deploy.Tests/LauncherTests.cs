using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Emulator.Service.Client;
using Grpc.Health.V1;
using Xunit;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Deploy.Tests;

/// <summary>
/// deploy/local/emu-cluster against the emu built beside these tests (emu.dll): it starts nodes
/// as processes of their own on 127.0.0.1, lists them, and stops them all. Health is checked here
/// with this repository's gRPC client, not only the launcher's word.
/// </summary>
public sealed class LauncherTests
{
    private static readonly string Launcher = Path.Combine(Tools.Deploy, "local", "emu-cluster");
    private static readonly string Emu = Path.Combine(AppContext.BaseDirectory, "emu.dll");
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    [PythonFact]
    public async Task StartsThreePlainNodesThatAnswerHealthListsThemAndStopLeavesNoProcess()
    {
        var dir = Directory.CreateTempSubdirectory("emu-cluster-");
        List<Node> nodes = [];
        try
        {
            int grpcBase = FreePorts(6), clusterBase = grpcBase + 3;
            (int exit, string output, string error) = await RunAsync("start", "3", "--dir", dir.FullName, "--emu", Emu,
                "--grpc-port-base", $"{grpcBase}", "--cluster-port-base", $"{clusterBase}", "--no-cluster");
            Assert.True(exit == 0, $"start exited {exit}:\n{output}\n{error}");
            Assert.Contains("3 nodes serving", output);

            nodes = ReadNodes(dir.FullName);
            Assert.Equal(["node-1", "node-2", "node-3"], nodes.Select(n => n.Name));
            Assert.Equal(Enumerable.Range(grpcBase, 3).Select(p => $"127.0.0.1:{p}"), nodes.Select(n => n.Grpc));
            Assert.Equal(3, nodes.Select(n => n.Pid).Distinct().Count());
            foreach (var node in nodes)
            {
                Assert.True(Alive(node.Pid), $"{node.Name} (pid {node.Pid}) is not running");
                Assert.Equal(ServingStatus.Serving, await HealthAsync(node.Grpc));
                Assert.Equal(Path.Combine(dir.FullName, node.Name, "snapshots"), node.Snapshots);
                Assert.True(Directory.Exists(node.Snapshots));
                Assert.Contains($"serving on http://{node.Grpc}", await File.ReadAllTextAsync(node.Log));
                Assert.Equal($"{node.Pid}", (await File.ReadAllTextAsync(Path.Combine(dir.FullName, node.Name, "emu.pid"))).Trim());
            }

            (exit, output, error) = await RunAsync("status", "--dir", dir.FullName);
            Assert.True(exit == 0, $"status exited {exit}:\n{output}\n{error}");
            foreach (var node in nodes)
            {
                string line = Assert.Single(output.Split('\n'), l => l.StartsWith(node.Name + " ", StringComparison.Ordinal));
                Assert.Contains($" {node.Pid} ", line);
                Assert.Contains("running", line);
                Assert.Contains("SERVING", line);
                Assert.Contains(node.Grpc, line);
            }

            (exit, output, error) = await RunAsync("stop", "--dir", dir.FullName);
            Assert.True(exit == 0, $"stop exited {exit}:\n{output}\n{error}");
            Assert.Contains("stopped 3 nodes", output);
            Assert.All(nodes, n => Assert.False(Alive(n.Pid), $"{n.Name} (pid {n.Pid}) still runs after stop"));
            Assert.All(nodes, n => Assert.Contains("emu: stopped", File.ReadAllText(n.Log)));
            Assert.False(File.Exists(Path.Combine(dir.FullName, "nodes.json")));
        }
        finally
        {
            Cleanup(nodes, dir);
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

    private static void Cleanup(List<Node> nodes, DirectoryInfo dir)
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

        dir.Delete(recursive: true);
    }
}
