using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Emulator.Cli.Terminal;

namespace Emulator.Cli.Bench;

/// <summary>The emu side of the snapshot comparison: medians over the runs of `emu bench control`.</summary>
internal readonly record struct EmuSnapshotFigures(double SnapshotMs, double ServerMs, double SizeBytes, double RestoreToAnswerMs);

/// <summary>
/// QEMU's figures for what `emu bench control` measures of snapshots, in the same run:
/// qemu-system-x86_64 -accel tcg boots the same kernel and initramfs to the shell prompt, is
/// stopped, and migrates to a file (QEMU 7.2 has no `file:` transport; `exec:cat > FILE` does the
/// same); a second QEMU started with `-incoming exec:cat FILE` loads it, is continued (the stream
/// records that the source was stopped, so the destination stays paused, as emu's restored
/// machine does until ResumeMachine), and answers a command on its serial console.
/// The monitor is reached through the -nographic multiplexer: Ctrl-A c switches between the
/// serial console and the monitor. A QEMU problem is printed, never thrown.
/// </summary>
internal static class QemuSnapshotReference
{
    private const int Runs = 3;
    private const string SwitchConsole = "\u0001c"; // Ctrl-A c: serial console <-> monitor
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(60);

    public static void Compare(string image, EmuSnapshotFigures emu)
    {
        string? qemu = QemuReference.FindQemu();
        if (qemu is null)
        {
            Console.WriteLine("  QEMU: qemu-system-x86_64 not found (apt-get install qemu-system-x86): no comparison");
            return;
        }

        var files = Directory.CreateTempSubdirectory("emu-bench-qemu-snapshots-");
        try
        {
            var snapshots = new List<MigrationFigures>();
            var restores = new List<RestoreFigures>();
            for (int run = 1; run <= Runs; run++)
            {
                snapshots.Add(Snapshot(qemu, image, Path.Combine(files.FullName, $"qemu-{run}.vmstate")));
            }

            for (int run = 1; run <= Runs; run++)
            {
                restores.Add(Restore(qemu, image, Path.Combine(files.FullName, $"qemu-{run}.vmstate")));
            }

            var snap = new MigrationFigures(
                Median(snapshots.Select(s => s.WallMs)), Median(snapshots.Select(s => s.ReportedMs)),
                Median(snapshots.Select(s => s.DowntimeMs)), Median(snapshots.Select(s => s.SizeBytes)));
            var restore = new RestoreFigures(Median(restores.Select(r => r.IncomingDoneMs)), Median(restores.Select(r => r.AnsweredMs)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  QEMU: snapshot (migrate to file, stopped) {snap.WallMs:F0} ms (QEMU's own total time {snap.ReportedMs:F0} ms, downtime {snap.DowntimeMs:F0} ms), " +
                $"{snap.SizeBytes / 1048576.0:F1} MiB file; restore: incoming migration done {restore.IncomingDoneMs:F0} ms, " +
                $"to a command answered {restore.AnsweredMs:F0} ms (medians of {Runs}, qemu-system-x86_64 -accel tcg)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  emu/QEMU: snapshot time {emu.SnapshotMs / snap.WallMs:F2} (emu server time / QEMU's own total time {emu.ServerMs / snap.ReportedMs:F2}), " +
                $"size {emu.SizeBytes / snap.SizeBytes:F2}, restore to answer {emu.RestoreToAnswerMs / restore.AnsweredMs:F2}"));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or Win32Exception or FormatException)
        {
            Console.WriteLine($"  QEMU: no comparison: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            files.Delete(recursive: true);
        }
    }

    private static string[] Arguments(string image) =>
    [
        "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
        "-kernel", Path.Combine(image, "vmlinux"), "-initrd", Path.Combine(image, "initramfs.cpio.gz"), "-append", GuestImage.DefaultAppend,
    ];

    /// <summary>Boots to the prompt, stops the VM and migrates it into <paramref name="file"/>.</summary>
    private static MigrationFigures Snapshot(string qemu, string image, string file)
    {
        using var q = ConsoleSession.Start(qemu, null, Arguments(image));
        q.WaitFor(ConsoleSession.Prompt, Boot);
        Thread.Sleep(TimeSpan.FromSeconds(2)); // let the guest settle into idle, as the emu side does
        q.Type(SwitchConsole + "stop\n");
        string state = Status(q);
        if (!state.StartsWith("paused", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"after 'stop' QEMU's VM status is '{state}'");
        }

        // -d: without it the monitor waits for the migration on a one-second timer, which would round the time up.
        var sw = Stopwatch.StartNew();
        q.Type($"migrate -d \"exec:cat > '{file}'\"\n");
        string migration;
        do
        {
            // The monitor runs commands in order, so `migrate` has started before this is read.
            Thread.Sleep(5);
            q.Type("info migrate\n");
            q.WaitFor("Migration status: ", Answer);
            migration = q.WaitFor("\n", Answer).Trim();
        }
        while (migration is "setup" or "active" or "device" or "pre-switchover" or "wait-unplug");

        double wallMs = sw.Elapsed.TotalMilliseconds;
        if (migration != "completed")
        {
            throw new InvalidOperationException($"QEMU's migration to a file ended '{migration}'");
        }

        q.WaitFor("total time: ", Answer);
        double reportedMs = Milliseconds(q.WaitFor("\n", Answer));
        q.WaitFor("downtime: ", Answer);
        double downtimeMs = Milliseconds(q.WaitFor("\n", Answer));
        q.Type("quit\n");
        q.WaitForExit(Answer); // the exec child (cat) has written the whole file once QEMU is gone
        return new MigrationFigures(wallMs, reportedMs, downtimeMs, new FileInfo(file).Length);
    }

    /// <summary>Starts QEMU on <paramref name="file"/>, continues it once loaded, and times a command answered on its console.</summary>
    private static RestoreFigures Restore(string qemu, string image, string file)
    {
        var sw = Stopwatch.StartNew();
        using var q = ConsoleSession.Start(qemu, null, [.. Arguments(image), "-incoming", $"exec:cat '{file}'"]);
        q.Type(SwitchConsole);
        string state;
        do
        {
            Thread.Sleep(5);
            state = Status(q);
        }
        while (state.Contains("inmigrate", StringComparison.Ordinal));

        double incomingMs = sw.Elapsed.TotalMilliseconds;
        if (state != "paused" && state != "running")
        {
            throw new InvalidOperationException($"after the incoming migration QEMU's VM status is '{state}'");
        }

        // Back to the serial console; a newline first, as busybox's line editor may swallow the first bytes.
        q.Type((state == "paused" ? "cont\n" : "") + SwitchConsole + "\necho $((6*7))-ok\n");
        q.WaitFor("42-ok", Answer);
        double answeredMs = sw.Elapsed.TotalMilliseconds;
        q.Type(SwitchConsole + "quit\n");
        q.WaitForExit(Answer);
        return new RestoreFigures(incomingMs, answeredMs);
    }

    /// <summary>Asks the monitor for the VM's run state ("running", "paused", "paused (inmigrate)", ...).</summary>
    private static string Status(ConsoleSession q)
    {
        q.Type("info status\n");
        q.WaitFor("VM status: ", Answer);
        return q.WaitFor("\n", Answer).Trim();
    }

    /// <summary>"515 ms" from `info migrate`.</summary>
    private static double Milliseconds(string field) =>
        double.Parse(field.Trim().Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>The middle value (the upper one of an even count); used for emu's figures too.</summary>
    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private readonly record struct MigrationFigures(double WallMs, double ReportedMs, double DowntimeMs, double SizeBytes);

    private readonly record struct RestoreFigures(double IncomingDoneMs, double AnsweredMs);
}
