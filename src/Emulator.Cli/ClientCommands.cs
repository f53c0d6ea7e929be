using System.CommandLine;
using Emulator.Cli.Terminal;
using Emulator.Machine.Block;
using Emulator.Service.Client;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Spectre.Console;
using MachineInfo = Emulator.Service.V1.Machine;
using MachineClient = Emulator.Service.V1.MachineService.MachineServiceClient;

namespace Emulator.Cli;

/// <summary>
/// `emu machine ...`, `emu snapshot ...` and `emu console ID`: the control plane's client (Grpc.Net.Client).
/// The server address comes from --server (default 127.0.0.1:50051; https://HOST:PORT for TLS,
/// unix:PATH for a Unix socket), the bearer token from EMU_TOKEN. Errors print the gRPC status and
/// message and exit non-zero.
/// </summary>
internal static class ClientCommands
{
    public static void AddTo(RootCommand root)
    {
        var server = new Option<string>("--server") { Description = "control plane address", DefaultValueFactory = _ => "127.0.0.1:50051", Recursive = true };
        var machine = new Command("machine", "manage machines on an emu serve node");
        machine.Add(server);

        var create = new Command("create", "create a machine (it starts in CREATED)");
        var id = new Argument<string>("id");
        var kernel = new Option<string>("--kernel") { Required = true, Description = "kernel path on the server" };
        var initrd = new Option<string?>("--initrd");
        var append = new Option<string>("--append") { DefaultValueFactory = _ => "console=ttyS0" };
        var memory = new Option<ulong>("--memory-mib") { DefaultValueFactory = _ => 512 };
        var vcpus = new Option<uint>("--vcpus") { DefaultValueFactory = _ => 1 };
        var drives = new Option<string[]>("--drive") { Description = "a disk on the server, as QEMU's: file=PATH[,format=raw|emucow][,readonly=on] (repeatable; raw by default)", AllowMultipleArgumentsPerToken = false };
        var nics = new Option<string[]>("--nic") { Description = "a network interface on a TAP of the server, as QEMU's -nic: tap,ifname=TAP[,mac=MAC] (repeatable)", AllowMultipleArgumentsPerToken = false };
        create.Add(id);
        create.Add(drives);
        create.Add(nics);
        create.Add(kernel);
        create.Add(initrd);
        create.Add(append);
        create.Add(memory);
        create.Add(vcpus);
        create.SetAction(p =>
        {
            var request = new CreateMachineRequest
            {
                Id = p.GetValue(id)!,
                Kernel = Path.GetFullPath(p.GetValue(kernel)!),
                Initrd = p.GetValue(initrd) is { } i ? Path.GetFullPath(i) : "",
                CommandLine = p.GetValue(append)!,
                MemoryMib = p.GetValue(memory),
                Vcpus = p.GetValue(vcpus),
            };
            foreach (string drive in p.GetValue(drives) ?? [])
            {
                if (MachineOptions.ParseDrive(drive, out var disk) is { } error)
                {
                    Console.Error.WriteLine($"emu: --drive {drive}: {error}");
                    return 2;
                }

                request.Disks.Add(new Disk { Path = Path.GetFullPath(disk.Path), ReadOnly = disk.ReadOnly, Format = disk.Format.Name() });
            }

            var net = new NetOptions();
            foreach (string nic in p.GetValue(nics) ?? [])
            {
                if ((net.ParseNic(nic) ?? net.Resolve(out _)) is { } error)
                {
                    Console.Error.WriteLine($"emu: --nic {nic}: {error}");
                    return 2;
                }
            }

            net.Resolve(out var interfaces);
            request.NetworkInterfaces.Add(interfaces.Select(n => new NetworkInterface { Tap = n.Tap, Mac = n.Mac?.ToString() ?? "" }));
            return Run(p.GetValue(server)!, async c => Show(await c.CreateMachineAsync(request)));
        });
        machine.Add(create);

        foreach (var (name, method, help) in new[]
                 {
                     ("start", (Func<MachineClient, MachineRef, AsyncUnaryCall<MachineInfo>>)((c, r) => c.StartMachineAsync(r)), "boot a CREATED machine"),
                     ("pause", (c, r) => c.PauseMachineAsync(r), "pause a RUNNING machine (guest time stops)"),
                     ("resume", (c, r) => c.ResumeMachineAsync(r), "resume a PAUSED machine"),
                     ("reset", (c, r) => c.ResetMachineAsync(r), "reset a RUNNING or PAUSED machine to power-on; it boots again"),
                     ("stop", (c, r) => c.StopMachineAsync(r), "stop a machine for good"),
                     ("show", (c, r) => c.GetMachineAsync(r), "show one machine"),
                 })
        {
            var cmd = new Command(name, help);
            var target = new Argument<string>("id");
            cmd.Add(target);
            cmd.SetAction(p => Run(p.GetValue(server)!, async c => Show(await method(c, new MachineRef { Id = p.GetValue(target)! }))));
            machine.Add(cmd);
        }

        var rm = new Command("rm", "delete a CREATED, STOPPED or FAILED machine");
        var rmId = new Argument<string>("id");
        rm.Add(rmId);
        rm.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            await c.DeleteMachineAsync(new MachineRef { Id = p.GetValue(rmId)! });
            Console.WriteLine($"deleted {p.GetValue(rmId)}");
        }));
        machine.Add(rm);

        var migrate = new Command("migrate", "move a RUNNING or PAUSED machine to another emu serve node while it runs, printing each round");
        var migrateId = new Argument<string>("id");
        var to = new Option<string>("--to") { Required = true, Description = "the receiving node's address, as --server takes it" };
        var budget = new Option<uint>("--downtime-ms") { Description = "the guest downtime the pre-copy aims for", DefaultValueFactory = _ => 100 };
        migrate.Add(migrateId);
        migrate.Add(to);
        migrate.Add(budget);
        migrate.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            using var call = c.MigrateMachine(new MigrateMachineRequest { Id = p.GetValue(migrateId)!, Target = p.GetValue(to)!, DowntimeBudgetMs = p.GetValue(budget) });
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var e = call.ResponseStream.Current;
                if (e.Machine is { } moved)
                {
                    Console.WriteLine($"migrated in {e.TotalNanos / 1e6:F0} ms: {e.Round} rounds, {e.PagesSent} pages, {e.BytesSent >> 20} MiB; guest stopped {e.DowntimeNanos / 1e6:F1} ms on the source");
                    Show(moved);
                }
                else
                {
                    Console.WriteLine($"round {e.Round}: {e.PagesSent} pages sent, {e.DirtyPages} dirtied meanwhile ({e.DirtyPagesPerSecond:F0}/s), expected downtime {e.ExpectedDowntimeNanos / 1e6:F1} ms{(e.Final ? "; pausing the guest" : "")}");
                }
            }
        }));
        machine.Add(migrate);

        var ls = new Command("ls", "list machines");
        ls.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            var list = await c.ListMachinesAsync(new ListMachinesRequest());
            var table = new Table().AddColumns("ID", "STATE", "VCPUS", "MEMORY", "NODE", "DETAIL");
            foreach (var m in list.Machines)
            {
                table.AddRow(Markup.Escape(m.Id), m.State.ToString(), m.Spec?.Vcpus.ToString() ?? "", $"{m.Spec?.MemoryMib} MiB", Markup.Escape(m.Node), Markup.Escape(m.Detail));
            }

            AnsiConsole.Write(table);
            Unreachable(list.UnreachableNodes);
        }));
        machine.Add(ls);
        root.Add(machine);

        var node = new Command("node", "the nodes of an emu cluster");
        node.Add(server);
        var nodes = new Command("ls", "list the nodes that answer, with what they run and can run");
        nodes.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            var list = await c.ListNodesAsync(new ListNodesRequest());
            var table = new Table().AddColumns("NODE", "ADDRESS", "MACHINES", "VCPUS", "MEMORY");
            foreach (var n in list.Nodes)
            {
                table.AddRow(Markup.Escape(n.Name), Markup.Escape(n.Address), $"{n.Machines}/{n.MaxMachines}", $"{n.VcpusUsed}/{n.VcpuCapacity}", $"{n.MemoryMibUsed}/{n.MemoryMibCapacity} MiB");
            }

            AnsiConsole.Write(table);
            Unreachable(list.UnreachableNodes);
            if (!list.Clustered)
            {
                Console.WriteLine("this node runs alone (emu serve without --cluster)");
            }
        }));
        node.Add(nodes);
        root.Add(node);

        root.Add(SnapshotCommands(server));

        var console = new Command("console", "attach to a machine's serial console (Ctrl-A x detaches)");
        var consoleId = new Argument<string>("id");
        console.Add(consoleId);
        console.Add(server);
        console.SetAction(p => Run(p.GetValue(server)!, c => Attach(c, p.GetValue(consoleId)!)));
        root.Add(console);
    }

    /// <summary>`emu snapshot create|restore|ls|rm`.</summary>
    /// <summary>Says which nodes did not answer, so that a list without their machines is not mistaken for the whole.</summary>
    private static void Unreachable(IReadOnlyCollection<string> nodes)
    {
        if (nodes.Count > 0)
        {
            Console.Error.WriteLine($"emu: not answering: {string.Join(", ", nodes)} (their machines are not listed)");
        }
    }

    private static Command SnapshotCommands(Option<string> server)
    {
        var snapshot = new Command("snapshot", "save machines to snapshot files on the server and restore them");
        snapshot.Add(server);

        var create = new Command("create", "snapshot a RUNNING or PAUSED machine (a running one runs on)");
        var machineId = new Argument<string>("machine");
        var snapshotId = new Option<string>("--id") { Description = "snapshot id (default: chosen by the server)", DefaultValueFactory = _ => "" };
        create.Add(machineId);
        create.Add(snapshotId);
        create.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            var request = new CreateSnapshotRequest { MachineId = p.GetValue(machineId)!, SnapshotId = p.GetValue(snapshotId)! };
            var s = await WithProgress($"snapshotting {request.MachineId}", () => c.CreateSnapshotAsync(request).ResponseAsync);
            Console.WriteLine($"{s.Id}: {Size(s.SizeBytes)} in {s.DurationNanos / 1e9:F2} s (guest stopped {s.DowntimeNanos / 1e6:F0} ms; " +
                $"{s.MemoryPagesSaved} of {s.MemoryPages} RAM pages saved, the rest zero)");
        }));
        snapshot.Add(create);

        var restore = new Command("restore", "make a new PAUSED machine from a snapshot (emu machine resume runs it)");
        var fromId = new Argument<string>("snapshot");
        var newId = new Option<string>("--id") { Description = "id of the new machine (default: chosen by the server)", DefaultValueFactory = _ => "" };
        restore.Add(fromId);
        restore.Add(newId);
        restore.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            var request = new RestoreSnapshotRequest { SnapshotId = p.GetValue(fromId)!, MachineId = p.GetValue(newId)! };
            Show(await WithProgress($"restoring {request.SnapshotId}", () => c.RestoreSnapshotAsync(request).ResponseAsync));
        }));
        snapshot.Add(restore);

        var ls = new Command("ls", "list snapshots, newest first");
        var of = new Option<string>("--machine") { Description = "only snapshots of this machine", DefaultValueFactory = _ => "" };
        ls.Add(of);
        ls.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            var list = await c.ListSnapshotsAsync(new ListSnapshotsRequest { MachineId = p.GetValue(of)! });
            var table = new Table().AddColumns("ID", "MACHINE", "CREATED (UTC)", "SIZE", "VCPUS", "MEMORY", "NODE");
            foreach (var s in list.Snapshots)
            {
                var created = DateTimeOffset.UnixEpoch.AddTicks(s.CreatedUnixNanos / 100);
                table.AddRow(Markup.Escape(s.Id), Markup.Escape(s.MachineId), created.ToString("yyyy-MM-dd HH:mm:ss"), Size(s.SizeBytes), s.Vcpus.ToString(), $"{s.MemoryMib} MiB", Markup.Escape(s.Node));
            }

            AnsiConsole.Write(table);
        }));
        snapshot.Add(ls);

        var rm = new Command("rm", "delete a snapshot file");
        var rmId = new Argument<string>("snapshot");
        rm.Add(rmId);
        rm.SetAction(p => Run(p.GetValue(server)!, async c =>
        {
            await c.DeleteSnapshotAsync(new SnapshotRef { Id = p.GetValue(rmId)! });
            Console.WriteLine($"deleted {p.GetValue(rmId)}");
        }));
        snapshot.Add(rm);
        return snapshot;
    }

    /// <summary>Shows a spinner with the elapsed time while a long call runs (on a terminal; plain otherwise).</summary>
    private static async Task<T> WithProgress<T>(string what, Func<Task<T>> call)
    {
        if (Console.IsErrorRedirected || Console.IsOutputRedirected)
        {
            return await call();
        }

        return await AnsiConsole.Status().Spinner(Spinner.Known.Dots).StartAsync($"{Markup.Escape(what)}...", async ctx =>
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var task = call();
            while (await Task.WhenAny(task, Task.Delay(100)) != task)
            {
                ctx.Status($"{Markup.Escape(what)}... {started.Elapsed.TotalSeconds:F1} s");
            }

            return await task;
        });
    }

    private static string Size(ulong bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):F1} MiB" : $"{bytes / 1024.0:F1} KiB";

    private static void Show(MachineInfo m) =>
        Console.WriteLine($"{m.Id}: {m.State} ({m.Spec?.Vcpus} vCPU, {m.Spec?.MemoryMib} MiB){(m.Detail.Length > 0 ? " " + m.Detail : "")}");

    private static async Task Attach(MachineClient client, string machineId)
    {
        using var call = client.AttachConsole();
        await call.RequestStream.WriteAsync(new ConsoleInput { MachineId = machineId });
        using var terminal = new SerialConsole();
        terminal.Open();
        using var cancel = new CancellationTokenSource();
        var input = Task.Run(() =>
        {
            terminal.Pump(bytes => call.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFrom(bytes) }).GetAwaiter().GetResult(), cancel.Token);
            call.RequestStream.CompleteAsync().GetAwaiter().GetResult();
        });
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            if (chunk.DroppedBytes > 0)
            {
                // The server dropped the oldest output while this client fell behind (machine.proto).
                terminal.Write(System.Text.Encoding.ASCII.GetBytes($"\r\n[emu: {chunk.DroppedBytes} bytes of console output dropped]\r\n"));
            }

            terminal.Write(chunk.Data.Span);
        }

        cancel.Cancel();
    }

    /// <summary>Connects, runs one client action, and maps gRPC errors to a message and exit code 1.</summary>
    private static int Run(string address, Func<MachineClient, Task> action)
    {
        string? token = Environment.GetEnvironmentVariable("EMU_TOKEN");
        if (token is { Length: 0 })
        {
            Console.Error.WriteLine("emu: EMU_TOKEN is set but empty: set it to the server's token, or unset it");
            return 2;
        }

        using var channel = ControlPlaneChannel.Open(address, token);
        try
        {
            action(new MachineClient(channel)).GetAwaiter().GetResult();
            return 0;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            Console.Error.WriteLine($"emu: {e.StatusCode}: cannot reach the control plane at {address}: {e.Status.Detail}");
            return 1;
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"emu: {e.StatusCode}: {e.Status.Detail}");
            return 1;
        }
    }
}
