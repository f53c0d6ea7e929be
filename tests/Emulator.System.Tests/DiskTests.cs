using System.Diagnostics;
using Emulator.Cli.Terminal;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// virtio-blk end to end: the guest writes files to an ext4 image that is its root filesystem,
/// syncs and powers off; on the host, e2fsck -fn finds the filesystem clean and debugfs reads the
/// files back exactly. A second, read-only disk refuses writes in the guest.
/// </summary>
public sealed class DiskTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Command = TimeSpan.FromMinutes(2);

    [Fact]
    public void GuestWritesToAnExt4RootThatTheHostFindsCleanAndReadOnlyDisksRefuseWrites()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"emu-disk-test-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        string root = Path.Combine(dir, "root.ext4"), spare = Path.Combine(dir, "spare.img");
        try
        {
            File.Copy(DefaultGuest.RootFs, root);
            File.WriteAllBytes(spare, new byte[1 << 20]);

            using (var guest = ConsoleSession.StartEmu(
                null,
                "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd,
                "-append", "console=ttyS0 panic=-1 root=/dev/vda rw", "-m", "512", "-no-reboot",
                "-drive", $"file={root},format=raw,if=virtio",
                "-drive", $"file={spare},format=raw,if=virtio,readonly=on"))
            {
                guest.WaitFor(ConsoleSession.Prompt, Boot);
                guest.Type("\n");
                guest.WaitFor(ConsoleSession.Prompt, Command);
                guest.Run("stty cols 250; dmesg -n 1", Command); // wide lines; kernel messages (a loaded host makes "hrtimer: interrupt took" likely) stay off the console
                Assert.Contains("/dev/vda on / type ext4 (rw", guest.Run("mount", Command));

                guest.Run("echo written-by-the-guest > /root/note.txt", Command);
                guest.Run("seq 1 50000 > /root/numbers.txt", Command);

                // The read-only disk: writing to the block device fails.
                string refused = guest.Run("dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>&1; echo status=$?", Command);
                log.WriteLine(refused);
                Assert.DoesNotContain("status=0", refused);

                guest.Run("sync", Command);
                guest.Run("mount -o remount,ro /", Command);
                guest.Type("poweroff -f\n");
                Assert.Equal(0, guest.WaitForExit(Command));
            }

            var (fsckCode, fsck) = Host("e2fsck", "-fn", root);
            log.WriteLine(fsck);
            Assert.Equal(0, fsckCode);
            Assert.DoesNotContain("Fix?", fsck);

            Assert.Equal("written-by-the-guest\n", Host("debugfs", "-R", "cat /root/note.txt", root).Output);
            string numbers = Host("debugfs", "-R", "cat /root/numbers.txt", root).Output;
            Assert.Equal(string.Join("\n", Enumerable.Range(1, 50000)) + "\n", numbers);
            Assert.All(File.ReadAllBytes(spare), b => Assert.Equal(0, b));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void KillingEmuDuringGuestWritesLeavesAFilesystemJournalReplayMakesConsistent()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"emu-crash-test-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        string root = Path.Combine(dir, "root.ext4");
        try
        {
            File.Copy(DefaultGuest.RootFs, root);
            using (var guest = ConsoleSession.StartEmu(
                null,
                "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd,
                "-append", "console=ttyS0 panic=-1 root=/dev/vda rw", "-m", "512", "-no-reboot",
                "-drive", $"file={root},format=raw,if=virtio"))
            {
                guest.WaitFor(ConsoleSession.Prompt, Boot);
                guest.Type("\n");
                guest.WaitFor(ConsoleSession.Prompt, Command);

                // Keep writing and syncing files, then pull the plug in the middle of it.
                guest.Type("i=0; while true; do seq 1 20000 > /root/f$i; sync; i=$((i+1)); done\n");
                Thread.Sleep(TimeSpan.FromSeconds(6));
            }

            // The process was killed (Dispose kills it). Replaying the journal must leave a consistent filesystem.
            var (replayCode, replay) = Host("e2fsck", "-fy", root);
            log.WriteLine(replay);
            Assert.True(replayCode is 0 or 1, $"e2fsck -fy exit code {replayCode}: {replay}");
            var (checkCode, check) = Host("e2fsck", "-fn", root);
            log.WriteLine(check);
            Assert.Equal(0, checkCode);
            Assert.DoesNotContain("Fix?", check);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (int Code, string Output) Host(string tool, params string[] args)
    {
        string path = new[] { "/usr/sbin", "/sbin", "/usr/bin" }.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException($"{tool} not found (apt-get install e2fsprogs)");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}
