using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Emulator.Service.Client;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit;
using MachineInfo = Emulator.Service.V1.Machine;
using State = Emulator.Service.V1.MachineState;

namespace Emulator.System.Tests;

/// <summary>
/// The durable catalogue of `emu serve` (src/Emulator.Cluster/RATIONALE.md, "The catalogue"): the
/// server, a separate process, is killed (SIGKILL) or stopped (SIGTERM) and started again on the
/// same catalogue; its machines come back by their restart policy.
/// </summary>
public sealed partial class CatalogueTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Four machines: ALWAYS (run to its shell, a file written in the guest, snapshotted), NEVER and
    /// ON_FAILURE (started, not waited for), one only created, and one deleted. After the restart the
    /// list is intact but for the deleted one; the ALWAYS machine runs on from its snapshot (the file
    /// is there) and answers at its shell; NEVER is STOPPED and boots when started; ON_FAILURE comes
    /// back (booted from its spec: it has no snapshot) after SIGKILL only; the snapshot is still listed.
    /// </summary>
    [Theory]
    [InlineData("KILL")]
    [InlineData("TERM")]
    public async Task MachinesComeBackByTheirRestartPolicyWhenServeStartsAgain(string signal)
    {
        var snapshots = Directory.CreateTempSubdirectory("emu-catalogue-");
        try
        {
            using (var first = Serve(snapshots.FullName, out var client, out var channel))
            {
                using (channel)
                {
                    await client.CreateMachineAsync(Guest("always", RestartPolicy.Always));
                    await client.CreateMachineAsync(Guest("never", RestartPolicy.Never));
                    await client.CreateMachineAsync(Guest("onfail", RestartPolicy.OnFailure));
                    await client.CreateMachineAsync(Guest("idle", RestartPolicy.Always));
                    await client.CreateMachineAsync(Guest("gone", RestartPolicy.Always));
                    await client.DeleteMachineAsync(new MachineRef { Id = "gone" });
                    await client.StartMachineAsync(new MachineRef { Id = "always" });
                    await client.StartMachineAsync(new MachineRef { Id = "never" });
                    await client.StartMachineAsync(new MachineRef { Id = "onfail" });

                    using (var console = client.AttachConsole())
                    {
                        await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "always" });
                        var reader = new ConsoleReader(console.ResponseStream);
                        await reader.WaitFor(Regex.Escape(ConsoleSession.Prompt));
                        await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("\necho before-$((6*7)) > /tmp/kept; cat /tmp/kept\n") });
                        await reader.WaitFor("before-42");
                        // Snapshotted at rest, at the prompt, not while the guest writes its console.
                        await reader.WaitFor(Regex.Escape(ConsoleSession.Prompt));
                        await Task.Delay(1000);
                        await client.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "always", SnapshotId = "always-snap" });
                    }

                    Assert.Equal(RestartPolicy.Always, (await client.GetMachineAsync(new MachineRef { Id = "always" })).Spec.RestartPolicy);
                }

                Signal(first, signal);
                int exit = first.WaitForExit(Timeout);
                if (signal == "TERM")
                {
                    Assert.Equal(0, exit);
                }
            }

            using var second = Serve(snapshots.FullName, out var again, out var channel2);
            using (channel2)
            {
                var list = (await again.ListMachinesAsync(new ListMachinesRequest())).Machines.ToDictionary(m => m.Id);
                Assert.Equal(["always", "idle", "never", "onfail"], list.Keys.Order(StringComparer.Ordinal));

                Assert.Equal(State.Running, list["always"].State);
                Assert.Contains("always-snap", list["always"].Detail);
                Assert.Equal(RestartPolicy.Always, list["always"].Spec.RestartPolicy);
                Assert.Equal(State.Stopped, list["never"].State);
                Assert.Contains("NEVER", list["never"].Detail);
                Assert.Equal(RestartPolicy.Never, list["never"].Spec.RestartPolicy);
                Assert.Equal(State.Stopped, list["idle"].State); // ALWAYS, but never started: nothing to bring back
                Assert.Contains("CREATED", list["idle"].Detail);
                if (signal == "KILL")
                {
                    Assert.Equal(State.Running, list["onfail"].State);
                    Assert.Contains("booted from its spec", list["onfail"].Detail);
                    Assert.Contains("ended without stopping it", list["onfail"].Detail);
                    await again.StopMachineAsync(new MachineRef { Id = "onfail" }); // its boot is not what is tested: spare the CPU
                }
                else
                {
                    Assert.Equal(State.Stopped, list["onfail"].State);
                    Assert.Contains("stopped in order", list["onfail"].Detail);
                }

                Assert.Contains((await again.ListSnapshotsAsync(new ListSnapshotsRequest())).Snapshots, s => s.Id == "always-snap" && s.MachineId == "always");

                // The ALWAYS machine runs on where its snapshot was taken: the file is there, the shell answers.
                using (var console = again.AttachConsole())
                {
                    await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "always" });
                    var reader = new ConsoleReader(console.ResponseStream);
                    await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("\necho after-$((7*8)); cat /tmp/kept\n") });
                    await reader.WaitFor("after-56");
                    await reader.WaitFor("before-42");
                }

                // The NEVER machine has no VM until it is started: then it boots from its spec.
                Assert.Equal(State.Running, (await again.StartMachineAsync(new MachineRef { Id = "never" })).State);
                using (var console = again.AttachConsole())
                {
                    await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "never" });
                    var reader = new ConsoleReader(console.ResponseStream);
                    await reader.WaitFor(Regex.Escape(ConsoleSession.Prompt));
                    await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("\necho fresh-$((8*9)); cat /tmp/kept || echo no-$((1+1))file\n") });
                    await reader.WaitFor("fresh-72");
                    await reader.WaitFor("no-2file");
                }

                // A catalogue-only machine is deleted like any stopped one, and stays deleted.
                await again.DeleteMachineAsync(new MachineRef { Id = "idle" });
            }

            Signal(second, "TERM");
            Assert.Equal(0, second.WaitForExit(Timeout));
            using var third = Serve(snapshots.FullName, out var last, out var channel3);
            using (channel3)
            {
                var ids = (await last.ListMachinesAsync(new ListMachinesRequest())).Machines.Select(m => m.Id).Order(StringComparer.Ordinal);
                Assert.Equal(["always", "never", "onfail"], ids);
            }

            Signal(third, "TERM");
            Assert.Equal(0, third.WaitForExit(Timeout));
        }
        finally
        {
            snapshots.Delete(recursive: true);
        }
    }

    /// <summary>
    /// A record whose event cannot be read (its row damaged in the journal) does not keep the node
    /// down: the machine is listed FAILED with the reason, the others come back, and the log says
    /// which. A catalogue file that is not a database at all: the node serves without it, and says so.
    /// </summary>
    [Fact]
    public async Task ADamagedRecordIsFailedWithTheReasonAndADamagedFileIsServedWithout()
    {
        var snapshots = Directory.CreateTempSubdirectory("emu-catalogue-damaged-");
        try
        {
            using (var first = Serve(snapshots.FullName, out var client, out var channel))
            {
                using (channel)
                {
                    await client.CreateMachineAsync(Guest("whole", RestartPolicy.Never));
                    await client.CreateMachineAsync(Guest("broken", RestartPolicy.Always));
                }

                Signal(first, "TERM");
                Assert.Equal(0, first.WaitForExit(Timeout));
            }

            string database = Path.Combine(snapshots.FullName, "catalogue.db");
            using (var sqlite = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Pooling=False"))
            {
                sqlite.Open();
                using var damage = sqlite.CreateCommand();
                damage.CommandText = "UPDATE journal SET message = $bad WHERE manifest = 'machine-recorded.v1' AND CAST(message AS TEXT) LIKE '%\"broken\"%'";
                damage.Parameters.AddWithValue("$bad", Encoding.UTF8.GetBytes("{\"machine_id\":\"broken\",\"spec\":\"%%% not base64 %%%\"}"));
                Assert.Equal(1, damage.ExecuteNonQuery());
            }

            using (var second = Serve(snapshots.FullName, out var again, out var channel2))
            {
                using (channel2)
                {
                    var list = (await again.ListMachinesAsync(new ListMachinesRequest())).Machines.ToDictionary(m => m.Id);
                    Assert.Equal(State.Failed, list["broken"].State);
                    Assert.Contains("catalogue record is damaged", list["broken"].Detail);
                    Assert.Equal(State.Stopped, list["whole"].State);
                }

                Signal(second, "TERM");
                Assert.Equal(0, second.WaitForExit(Timeout));
                Assert.Contains("the record of machine 'broken' is damaged", second.Errors);
            }

            File.WriteAllBytes(database, Encoding.ASCII.GetBytes(new string('x', 4096)));
            using var third = ConsoleSession.StartEmu(null, "serve", "--listen", "127.0.0.1:0", "--snapshot-dir", snapshots.FullName);
            string line = third.WaitFor(" (machines", Timeout) + third.WaitFor("\n", Timeout);
            Assert.Contains("no catalogue", line);
            Signal(third, "TERM");
            Assert.Equal(0, third.WaitForExit(Timeout));
            Assert.Contains("is not a database", third.Errors);
        }
        finally
        {
            snapshots.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The catalogue in PostgreSQL (a server the test starts): a node stopped and started again on it
    /// lists its machines with their specs and policies, by the policy's rule for an orderly stop.
    /// </summary>
    [PostgresFact]
    public async Task APostgresCatalogueKeepsTheMachinesOverARestart()
    {
        using var postgres = PostgresServer.Start();
        var snapshots = Directory.CreateTempSubdirectory("emu-catalogue-pg-");
        try
        {
            using (var first = Serve(snapshots.FullName, out var client, out var channel, "--catalogue", postgres.Catalogue))
            {
                using (channel)
                {
                    await client.CreateMachineAsync(Guest("pg-onfail", RestartPolicy.OnFailure));
                    await client.CreateMachineAsync(Guest("pg-never", RestartPolicy.Never));
                    await client.CreateMachineAsync(Guest("pg-gone", RestartPolicy.Always));
                    await client.StartMachineAsync(new MachineRef { Id = "pg-onfail" });
                    await client.DeleteMachineAsync(new MachineRef { Id = "pg-gone" });
                }

                Signal(first, "TERM");
                Assert.Equal(0, first.WaitForExit(Timeout));
            }

            Assert.False(File.Exists(Path.Combine(snapshots.FullName, "catalogue.db")), "the catalogue went to SQLite, not PostgreSQL");
            using var second = Serve(snapshots.FullName, out var again, out var channel2, "--catalogue", postgres.Catalogue);
            using (channel2)
            {
                var list = (await again.ListMachinesAsync(new ListMachinesRequest())).Machines.ToDictionary(m => m.Id);
                Assert.Equal(["pg-never", "pg-onfail"], list.Keys.Order(StringComparer.Ordinal));
                Assert.Equal(State.Stopped, list["pg-onfail"].State);
                Assert.Contains("stopped in order", list["pg-onfail"].Detail);
                Assert.Equal(RestartPolicy.OnFailure, list["pg-onfail"].Spec.RestartPolicy);
                Assert.Equal(DefaultGuest.Kernel, list["pg-onfail"].Spec.Kernel);
                Assert.Equal(256UL, list["pg-onfail"].Spec.MemoryMib);
                Assert.Equal(State.Stopped, list["pg-never"].State);
                Assert.Equal(RestartPolicy.Never, list["pg-never"].Spec.RestartPolicy);
            }

            Signal(second, "TERM");
            Assert.Equal(0, second.WaitForExit(Timeout));
        }
        finally
        {
            snapshots.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("mysql:x", "must be sqlite:PATH or postgres:CONNECTION-STRING")]
    [InlineData("postgres:Port=5432", "the connection string needs Host=")]
    [InlineData("sqlite:", "must be sqlite:PATH")]
    public void ACatalogueItCannotUseIsRefusedWithTheReason(string catalogue, string reason)
    {
        string output = EmuProcess.Run(2, ["serve", "--listen", "127.0.0.1:0", "--catalogue", catalogue], Timeout);
        Assert.Contains(reason, output);
        Assert.DoesNotContain("serving on", output);
    }

    /// <summary>Starts `emu serve` on a free port with the catalogue in <paramref name="snapshots"/> (extra flags after).</summary>
    internal static ConsoleSession Serve(string snapshots, out Emulator.Service.V1.MachineService.MachineServiceClient client, out GrpcChannel channel, params string[] more)
    {
        var server = ConsoleSession.StartEmu(null, ["serve", "--listen", "127.0.0.1:0", "--allow", DefaultGuest.ImageDirectory, "--snapshot-dir", snapshots, .. more]);
        string banner = server.WaitFor(" (machines", Timeout);
        string address = Address().Match(banner).Value;
        Assert.False(string.IsNullOrEmpty(address), "emu serve printed no address");
        Assert.Contains("; catalogue ", server.WaitFor("\n", Timeout)); // the rest of the line: the catalogue it uses
        channel = ControlPlaneChannel.Open(address);
        client = new(channel);
        return server;
    }

    internal static CreateMachineRequest Guest(string id, RestartPolicy policy) => new()
    {
        Id = id,
        Vcpus = 1,
        MemoryMib = 256,
        Kernel = DefaultGuest.Kernel,
        Initrd = DefaultGuest.Initrd,
        CommandLine = "console=ttyS0 panic=-1",
        RestartPolicy = policy,
    };

    internal static void Signal(ConsoleSession server, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, server.ProcessId.ToString(global::System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Reads a console until a pattern matches what arrived since the last match.</summary>
    private sealed class ConsoleReader(Grpc.Core.IAsyncStreamReader<ConsoleOutput> output)
    {
        private readonly StringBuilder seen = new();
        private int from;

        public async Task WaitFor(string pattern)
        {
            using var timeout = new CancellationTokenSource(Boot);
            var regex = new Regex(pattern);
            while (true)
            {
                var m = regex.Match(seen.ToString(), from);
                if (m.Success)
                {
                    from = m.Index + m.Length;
                    return;
                }

                Assert.True(await output.MoveNext(timeout.Token), $"console ended before '{pattern}': {seen}");
                seen.Append(output.Current.Data.ToStringUtf8());
            }
        }
    }

    [GeneratedRegex(@"http://[0-9.]+:[0-9]+/?")]
    private static partial Regex Address();
}
