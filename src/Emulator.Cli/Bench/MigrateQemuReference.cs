using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Emulator.Cli.Terminal;

namespace Emulator.Cli.Bench;

/// <summary>
/// QEMU's side of `emu bench migrate`: qemu-system-x86_64 -accel tcg boots the same kernel and
/// initramfs with the same memory, runs the same workload, and migrates over loopback TCP to a
/// second QEMU started with `-incoming tcp:...`; QEMU's `info migrate` (HMP, through the
/// -nographic multiplexer) gives its total time, downtime, bytes and dirty-sync rounds. Set as
/// emu runs: downtime-limit 100 ms (QEMU's default is 300), no bandwidth cap (QEMU's default is
/// 128 MiB/s), no compression or XBZRLE. A QEMU that has not converged after a minute is
/// cancelled and said so. Its guest-visible downtime is not measured: the console text has no
/// timestamps. A QEMU problem is printed, never thrown.
/// </summary>
internal static class MigrateQemuReference
{
    private const string SwitchConsole = "\u0001c"; // Ctrl-A c: serial console <-> monitor
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    public static void Run(string image)
    {
        string? qemu = QemuReference.FindQemu();
        if (qemu is null)
        {
            Console.WriteLine("  QEMU: qemu-system-x86_64 not found (apt-get install qemu-system-x86): no comparison");
            return;
        }

        try
        {
            Measure(qemu, image);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or Win32Exception or FormatException or SocketException)
        {
            Console.WriteLine($"  QEMU: no comparison: {e.Message.Split('\n')[0]}");
        }
    }

    private static void Measure(string qemu, string image)
    {
        string[] machine =
        [
            "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
            "-kernel", Path.Combine(image, "vmlinux"), "-initrd", Path.Combine(image, "initramfs.cpio.gz"), "-append", GuestImage.DefaultAppend,
        ];
        int port = FreePort();
        using var source = ConsoleSession.Start(qemu, null, machine);
        using var target = ConsoleSession.Start(qemu, null, [.. machine, "-incoming", $"tcp:127.0.0.1:{port}"]);
        source.WaitFor(ConsoleSession.Prompt, Boot);
        source.Type(MigrateBenchmark.Workload);
        source.WaitFor("....", Boot); // after the 32 MiB file is made
        Thread.Sleep(TimeSpan.FromSeconds(3));

        source.Type(SwitchConsole + "migrate_set_parameter downtime-limit 100\nmigrate_set_parameter max-bandwidth 100G\n");
        var sw = Stopwatch.StartNew();
        source.Type($"migrate -d tcp:127.0.0.1:{port}\n");
        string status;
        do
        {
            Thread.Sleep(50);
            source.Type("info migrate\n");
            source.WaitFor("Migration status: ", Answer);
            status = source.WaitFor("\n", Answer).Trim();
        }
        while (status is "setup" or "active" or "device" or "pre-switchover" or "wait-unplug" && sw.Elapsed < Converge);

        if (status != "completed")
        {
            source.Type("migrate_cancel\n");
            Console.WriteLine($"  QEMU: the migration was '{status}' after {sw.Elapsed.TotalSeconds:F0} s (it had not converged under the 100 ms limit); cancelled");
            source.Type("quit\n");
            return;
        }

        double totalMs = Number(source, "total time: ");
        double downtimeMs = Number(source, "downtime: ");
        double transferredKiB = Number(source, "transferred ram: ");
        double normalPages = Number(source, "normal: ");
        double syncs = Number(source, "dirty sync count: ");

        // The guest goes on on the target: its loop is interrupted and a command answered.
        target.Type("\u0003\necho $((6*7))-ok\n");
        target.WaitFor("42-ok", Answer);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  QEMU: total {totalMs:F0} ms, {syncs:F0} dirty-log syncs, {normalPages:N0} non-zero pages, {transferredKiB / 1024:F1} MiB of RAM sent; " +
            $"downtime by QEMU's measure {downtimeMs:F0} ms (qemu-system-x86_64 -accel tcg, tcp on loopback, downtime-limit 100 ms, no bandwidth cap, no compression)"));
        source.Type("quit\n");
        target.Type(SwitchConsole + "quit\n");
        source.WaitForExit(Answer);
        target.WaitForExit(Answer);
    }

    /// <summary>A number from `info migrate` ("515 ms", "1234 kbytes", "42 pages"): the fields come in this order.</summary>
    private static double Number(ConsoleSession q, string field)
    {
        q.WaitFor(field, Answer);
        return double.Parse(q.WaitFor("\n", Answer).Trim().Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
