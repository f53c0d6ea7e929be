using Emulator.Cli.Terminal;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// Boots the default guest (Debian's kernel and busybox, <see cref="DefaultGuest"/>) with `emu`, runs
/// commands in it over the serial console, and checks them against the same busybox run
/// natively on the host; then powers off and expects exit code 0.
/// </summary>
public sealed class BootTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Command = TimeSpan.FromMinutes(2);

    /// <summary>Commands whose guest output must equal the host's.</summary>
    public static readonly string[] Compared =
    [
        "head -c 8388608 /dev/zero | sha256sum",
        "awk 'BEGIN { s = 0; for (i = 1; i <= 200000; i++) s += 1 / (i * i); printf \"%.12f\\n\", s }'",
        "seq 1 60000 | gzip -c | gunzip -c | md5sum",
        "seq 1 60000 | gzip -c | wc -c",
        "seq 1 20000 | awk '{ print ($1 * 7919) % 20011 }' | sort -n | md5sum",
    ];

    [Fact]
    public void DefaultGuestBootsRunsCommandsLikeTheHostAndPowersOff()
    {
        // emu finds the default image itself (no -kernel); the fixture has made sure it is there.
        string manifest = File.ReadAllText(DefaultGuest.Manifest);
        using var guest = ConsoleSession.StartEmu(null, "-m", "512", "-no-reboot");
        var started = DateTime.UtcNow;
        guest.WaitFor(ConsoleSession.Prompt, Boot);
        log.WriteLine($"shell prompt after {(DateTime.UtcNow - started).TotalSeconds:F1} s");

        // busybox's line editor queries the cursor position (ESC[6n) before its first read; with no
        // terminal to answer it, give it one empty line to settle before typing commands.
        guest.Type("\n");
        guest.WaitFor(ConsoleSession.Prompt, Command);

        // A serial line reports no width, so the line editor assumes 80 columns and wraps long
        // commands; make it wide enough for the longest one.
        guest.Run("stty cols 250; dmesg -n 1", Command); // wide lines; kernel messages (a loaded host makes "hrtimer: interrupt took" likely) stay off the console

        string release = guest.Run("uname -r", Command);
        Assert.Contains(release, manifest);
        Assert.Equal("1", guest.Run("grep -c processor /proc/cpuinfo", Command));

        string busybox = HostBusybox.Extract();
        try
        {
            foreach (var command in Compared)
            {
                string inGuest = guest.Run(command, Command);
                string onHost = HostBusybox.Run(busybox, command);
                log.WriteLine($"{command}\n  guest: {inGuest}\n  host:  {onHost}");
                Assert.Equal(onHost, inGuest);
            }
        }
        finally
        {
            HostBusybox.Remove(busybox);
        }

        guest.Type("poweroff -f\n");
        Assert.Equal(0, guest.WaitForExit(Command));
        log.WriteLine($"total {(DateTime.UtcNow - started).TotalSeconds:F1} s");
    }

    [Fact]
    public void DefaultGuestRebootsItselfAndBootsAgainToThePrompt()
    {
        // Without -no-reboot a guest reboot resets the machine: the kernel boots a second time.
        using var guest = ConsoleSession.StartEmu(null, "-m", "512");
        guest.WaitFor(ConsoleSession.Prompt, Boot);
        guest.Type("\n");
        guest.WaitFor(ConsoleSession.Prompt, Command);
        guest.Run("echo first > /tmp/boot-marker; cat /tmp/boot-marker", Command);
        guest.Type("reboot -f\n");
        string between = guest.WaitFor("Linux version", Boot); // the kernel's first message, again
        log.WriteLine($"before the second boot: {between[Math.Max(0, between.Length - 400)..]}");
        guest.WaitFor(ConsoleSession.Prompt, Boot);
        guest.Type("\n");
        guest.WaitFor(ConsoleSession.Prompt, Command);
        guest.Run("stty cols 250; dmesg -n 1", Command);

        // A fresh boot: the initramfs is unpacked again, so the marker of the first boot is gone.
        Assert.Equal("gone", guest.Run("cat /tmp/boot-marker 2>/dev/null || echo gone", Command));
        Assert.Equal(2, CountOccurrences(guest.Transcript, "Linux version"));
        guest.Type("poweroff -f\n");
        Assert.Equal(0, guest.WaitForExit(Command));
    }

    private static int CountOccurrences(string text, string what)
    {
        int n = 0;
        for (int at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void SmpGuestSeesEveryCpuAndRunsWorkInParallel(int cpus)
    {
        string? initrd = GuestPrograms.InitrdWithPrograms(DefaultGuest.Initrd, out string? why);
        Assert.True(initrd is not null, why);
        try
        {
            RunSmpChecks(DefaultGuest.Kernel, initrd, cpus);
        }
        finally
        {
            GuestPrograms.Remove(initrd);
        }
    }

    private static void RunSmpChecks(string kernel, string initrd, int cpus)
    {
        using var guest = ConsoleSession.StartEmu(null, "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1", "-smp", $"{cpus}", "-m", "512", "-no-reboot");
        guest.WaitFor(ConsoleSession.Prompt, Boot);
        guest.Type("\n");
        guest.WaitFor(ConsoleSession.Prompt, Command);
        guest.Run("stty cols 250; dmesg -n 1", Command); // wide lines; kernel messages (a loaded host makes "hrtimer: interrupt took" likely) stay off the console

        Assert.Equal($"{cpus}", guest.Run("grep -c processor /proc/cpuinfo", Command));
        Assert.Equal($"{cpus}", guest.Run("nproc", Command));

        // Two hashing jobs at once (the scheduler puts them on different vCPUs); both results must be right.
        string both = guest.Run("(head -c 4194304 /dev/zero | sha256sum > /tmp/a &); head -c 4194304 /dev/zero | md5sum > /dev/null; head -c 4194304 /dev/zero | sha256sum; wait; sleep 1; cat /tmp/a", Command);
        const string expected = "bb9f8df61474d25e71fa00722318cd387396ca1736605e1248821cc0de3d3af8  -";
        // Kernel messages may interleave on the console; they start with a "[ time]" stamp.
        var lines = both.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('[')).ToArray();
        Assert.Equal([expected, expected], lines);

        // Four processes, 200,000 LOCK XADDs each on one shared counter: none may be lost.
        string count = guest.Run("/bin/atomic-counter 4 200000", Command);
        Assert.Equal("800000", count.Split('\n').Last(l => !l.StartsWith('[')));

        guest.Type("poweroff -f\n");
        Assert.Equal(0, guest.WaitForExit(Command));
    }
}
