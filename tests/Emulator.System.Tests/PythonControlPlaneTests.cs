using System.Globalization;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// The control plane end to end through the real gRPC client (Python grpcio, stubs generated
/// from protos/ at test time) against an in-process server, with the default guest booted to
/// its shell. The Python side is control_plane.py; it prints one line per checked fact.
/// </summary>
public sealed class PythonControlPlaneTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    private async Task<string[]> RunScenario(string scenario, string? token)
    {
        var snapshots = Directory.CreateTempSubdirectory("emu-py-snapshots-");
        // A file in the catalogue that is not a sound snapshot: restoring it is DATA_LOSS.
        await File.WriteAllBytesAsync(Path.Combine(snapshots.FullName, "damaged.emusnap"), "EMUSNAP\0 but nothing else"u8.ToArray());
        // The machine's disk: a copy of the default guest's ext4 image, in a directory the node allows.
        var disks = Directory.CreateTempSubdirectory("emu-py-disks-");
        File.Copy(DefaultGuest.RootFs, Path.Combine(disks.FullName, "disk.raw"));
        var server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            BearerToken = token,
            Machines = new MachineServiceOptions
            {
                AllowedDirectories = [DefaultGuest.ImageDirectory, disks.FullName],
                SnapshotDirectory = snapshots.FullName,
            },
        });
        try
        {
            string[] lines = await PythonScripts.RunAsync("control_plane.py", Limit,
                new Uri(server.Address).Authority, scenario, DefaultGuest.ImageDirectory, ConsoleSession.Prompt, Path.Combine(disks.FullName, "disk.raw"), token ?? "");
            foreach (string line in lines)
            {
                log.WriteLine(line);
            }

            // The disk image was frozen by the snapshot: it holds what the guest wrote before it, not after.
            byte[] start = new byte[11];
            using (var disk = File.OpenRead(Path.Combine(disks.FullName, "disk.raw")))
            {
                disk.ReadExactly(start);
            }

            string layers = Path.Combine(snapshots.FullName, "layers");
            string marker = global::System.Text.Encoding.ASCII.GetString(start).Replace('\0', '.');
            return scenario != "lifecycle" ? lines : [.. lines, $"host: disk starts with {marker}",
                $"host: overlays left {(Directory.Exists(layers) ? Directory.GetFiles(layers).Length : 0)}"];
        }
        finally
        {
            await server.DisposeAsync();
            snapshots.Delete(recursive: true);
            disks.Delete(recursive: true);
        }
    }

    [PythonFact]
    public async Task Lifecycle_console_paused_clock_and_a_snapshot_taken_while_working_restored_into_a_new_machine()
    {
        string[] lines = await RunScenario("lifecycle", token: null);

        var clock = lines.Select(l => Regex.Match(l, @"^clock guest_seconds=([\d.]+) wall_seconds=([\d.]+)$")).Single(m => m.Success);
        double guest = double.Parse(clock.Groups[1].Value, CultureInfo.InvariantCulture);
        double wall = double.Parse(clock.Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.True(wall > 3.0, $"the pause lasted {wall} s of wall time");
        // Paused, the guest's clock stops: it advances at most the wall time outside the 3 s pause
        // (plus the moment between the guest reading its clock and the script seeing it). A clock
        // that ran on through the pause would advance about the whole wall time. (A fixed bound of
        // 1.5 s failed once on a loaded host, where the calls around the pause took 1.9 s.)
        Assert.True(guest < wall - 2.5, $"guest time advanced {guest} s over {wall} s of wall time, 3 s of it paused");

        Assert.Equal([
            "created py-vm CREATED 1 512",
            "watch CREATED",
            "started RUNNING",
            "prompt seen",
            "echo 42",
            "paused PAUSED",
            "resumed RUNNING",
            clock.Value,
            "workload running at the snapshot: True",
            "snapshot py-snap of py-vm vcpus 1 memory 512",
            "snapshot reports size and time: True",
            "machine after the snapshot: RUNNING",
            "listed: py-snap",
            "watch CREATED,RUNNING,PAUSED,RUNNING",
            "stopped STOPPED",
            "console ended OK",
            "deleted",
            "GetMachine after delete NOT_FOUND",
            "watch ended OK after CREATED,RUNNING,PAUSED,RUNNING,STOPPED",
            // The original machine is gone: the restored one runs from the snapshot alone.
            "restored py-restored PAUSED",
            "resumed restored RUNNING",
            "restored workload digest correct: True same as the original: True",
            "restored shell 72",
            "restored disk holds what was written before the snapshot: disk-before",
            "snapshot deleted; RestoreSnapshot now: NOT_FOUND",
            "host: disk starts with disk-before",
            "host: overlays left 0",
        ], lines);
    }

    [PythonFact]
    public async Task Bad_input_gets_the_documented_codes_and_the_running_guest_keeps_answering()
    {
        string[] lines = await RunScenario("bad_input", token: "py-s3cret");

        Assert.Equal([
            "created py-target CREATED 1 512",
            "started RUNNING",
            "prompt seen",
            "echo 42",
            // machine.proto CreateMachine: out of range or no kernel is INVALID_ARGUMENT;
            // MachineService confines paths to the allowed directories with PERMISSION_DENIED.
            "memory_mib 0: INVALID_ARGUMENT",
            "memory_mib 2^40: INVALID_ARGUMENT",
            "no kernel: INVALID_ARGUMENT",
            "kernel outside the allowed directories: PERMISSION_DENIED",
            "kernel that does not exist: INVALID_ARGUMENT",
            "GetMachine unknown id: NOT_FOUND",
            "StartMachine unknown id: NOT_FOUND",
            "WatchMachine unknown id: NOT_FOUND",
            "StartMachine running: FAILED_PRECONDITION",
            "ResumeMachine running: FAILED_PRECONDITION",
            "DeleteMachine running: FAILED_PRECONDITION",
            "second AttachConsole: RESOURCE_EXHAUSTED",
            // Service RATIONALE.md: a request that does not parse is INTERNAL.
            "malformed GetMachine body: INTERNAL",
            "malformed CreateMachine body: INTERNAL",
            "oversized CreateMachine (5 MiB): RESOURCE_EXHAUSTED",
            // machine.proto CreateSnapshot/RestoreSnapshot/DeleteSnapshot.
            "CreateSnapshot unknown machine: NOT_FOUND",
            "CreateSnapshot id with a path: INVALID_ARGUMENT",
            "RestoreSnapshot unknown id: NOT_FOUND",
            "RestoreSnapshot damaged file: DATA_LOSS",
            "DeleteSnapshot unknown id: NOT_FOUND",
            "no token: UNAUTHENTICATED",
            "wrong token: UNAUTHENTICATED",
            "right token: OK",
            "WatchMachine without token: UNAUTHENTICATED",
            "still answers: 56",
            "GetMachine: RUNNING",
            "health: SERVING",
            "machines left: 0",
        ], lines);
    }
}
