using Emulator.Cli.Terminal;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// Host folders over virtio-9p end to end, in one boot of the default guest with two shares: a
/// writable one and a read-only one. The guest mounts both (`mount -t 9p -o trans=virtio TAG DIR`),
/// reads what the host wrote, writes what the host then reads, lists, renames and deletes; its
/// attempts to leave the share (`..`, a symbolic link to /etc, an absolute link to a host file, a
/// rename racing lookups) find nothing of the host's, and the host's files beside the share stay
/// as they were; the read-only share refuses every write.
/// </summary>
public sealed class SharedFolderTests(ITestOutputHelper log)
{
    private const string Secret = "the-host-secret-7f3a";
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Command = TimeSpan.FromMinutes(2);

    [Fact]
    public void TheGuestUsesAHostFolderAndCannotLeaveIt()
    {
        string outside = Path.Combine(Path.GetTempPath(), $"emu-9p-system-{Environment.ProcessId}");
        string share = Path.Combine(outside, "share"), readOnly = Path.Combine(outside, "readonly");
        string secretFile = Path.Combine(outside, "secret.txt");
        Directory.CreateDirectory(share);
        Directory.CreateDirectory(readOnly);
        try
        {
            File.WriteAllText(secretFile, Secret);
            File.WriteAllText(Path.Combine(share, "from-host.txt"), "written by the host\n");
            File.WriteAllText(Path.Combine(readOnly, "keep.txt"), "read-only content\n");
            File.CreateSymbolicLink(Path.Combine(share, "etc-link"), "/etc");
            File.CreateSymbolicLink(Path.Combine(share, "abs-link"), secretFile);
            File.CreateSymbolicLink(Path.Combine(share, "up-link"), "../..");
            var before = Snapshot(outside, share);

            using var guest = ConsoleSession.StartEmu(
                null,
                "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd,
                "-append", "console=ttyS0 panic=-1", "-m", "512", "-no-reboot",
                "-virtfs", $"local,path={share},mount_tag=host0,security_model=none",
                "-virtfs", $"local,path={readOnly},mount_tag=host1,security_model=none,readonly=on");
            guest.WaitFor(ConsoleSession.Prompt, Boot);
            guest.Type("\n");
            guest.WaitFor(ConsoleSession.Prompt, Command);
            guest.Run("stty cols 250; dmesg -n 1", Command);
            string Run(string command)
            {
                string output = guest.Run(command, Command);
                log.WriteLine($"# {command}\n{output}");
                return output;
            }

            // The modules load on demand (virtio_mmio is loaded at boot only for a disk root).
            Run("modprobe virtio_mmio; modprobe 9pnet_virtio; modprobe 9p; mkdir -p /mnt/rw /mnt/ro");
            Assert.Contains("mounted=0", Run("mount -t 9p -o trans=virtio host0 /mnt/rw; echo mounted=$?"));
            // Mounted read-write in the guest: the refusals below come from the share, not the guest's VFS.
            Assert.Contains("mounted=0", Run("mount -t 9p -o trans=virtio host1 /mnt/ro; echo mounted=$?"));
            Assert.Contains("host0 on /mnt/rw type 9p", Run("mount"));

            // Read what the host wrote; write what the host reads.
            Assert.Contains("written by the host", Run("cat /mnt/rw/from-host.txt"));
            Run("echo written-by-the-guest > /mnt/rw/from-guest.txt; seq 1 20000 > /mnt/rw/numbers.txt");
            Assert.Equal("written-by-the-guest\n", File.ReadAllText(Path.Combine(share, "from-guest.txt")));
            Assert.Equal(string.Join("\n", Enumerable.Range(1, 20000)) + "\n", File.ReadAllText(Path.Combine(share, "numbers.txt")));

            // List, make a directory, rename, delete.
            string listing = Run("ls /mnt/rw");
            Assert.Contains("from-host.txt", listing);
            Assert.Contains("from-guest.txt", listing);
            Run("mkdir /mnt/rw/sub && mv /mnt/rw/from-guest.txt /mnt/rw/sub/renamed.txt && rm /mnt/rw/numbers.txt");
            Assert.Equal("written-by-the-guest\n", File.ReadAllText(Path.Combine(share, "sub", "renamed.txt")));
            Assert.False(File.Exists(Path.Combine(share, "from-guest.txt")));
            Assert.False(File.Exists(Path.Combine(share, "numbers.txt")));

            // Escapes. The links are shown to the guest as links (readlink) and resolved by the
            // guest, in the guest's own tree; nothing of the host's beside the share is reachable.
            Assert.Contains("/etc", Run("readlink /mnt/rw/etc-link"));
            Assert.Contains(secretFile, Run("readlink /mnt/rw/abs-link"));
            var attempts = new[]
            {
                "cat /mnt/rw/../secret.txt",
                "cat /mnt/rw/../../secret.txt",
                "cat /mnt/rw/abs-link",
                $"cat /mnt/rw/up-link/{Path.GetFileName(outside)}/secret.txt",
                "cat /mnt/rw/etc-link/../secret.txt",
                "(cd /mnt/rw/sub && cat ../../secret.txt ../../../secret.txt)",
                "ln -s ../../.. /mnt/rw/guest-up; cat /mnt/rw/guest-up/secret.txt",
                "ln -s / /mnt/rw/guest-root; ls /mnt/rw/guest-root/ > /dev/null; echo pwned > /mnt/rw/abs-link",
                "ls -la /mnt/rw/etc-link/ | head -3",
            };
            foreach (string attempt in attempts)
            {
                Assert.DoesNotContain(Secret, Run(attempt));
            }

            // A rename racing lookups: one loop swaps a directory with a link out, the other reads through the name.
            Run("mkdir /mnt/rw/d && echo inside > /mnt/rw/d/secret.txt && ln -s " + outside + " /mnt/rw/swap");
            string raced = Run("(cd /mnt/rw; (for i in $(seq 300); do mv d a; mv swap d; mv d swap; mv a d; done) & for j in $(seq 300); do cat d/secret.txt; done 2>/dev/null; wait); echo raced");
            Assert.Contains("raced", raced);
            Assert.DoesNotContain(Secret, raced);
            Assert.Contains("inside", Run("cat /mnt/rw/d/secret.txt")); // every round put the directory back

            // The read-only share: reads work, every change fails.
            Assert.Contains("read-only content", Run("cat /mnt/ro/keep.txt"));
            foreach (string write in new[]
            {
                "echo x > /mnt/ro/new.txt", "echo x >> /mnt/ro/keep.txt", "rm /mnt/ro/keep.txt", "mkdir /mnt/ro/dir",
                "mv /mnt/ro/keep.txt /mnt/ro/moved.txt", "touch /mnt/ro/keep.txt", "ln -s x /mnt/ro/link", "chmod 777 /mnt/ro/keep.txt",
            })
            {
                Assert.Contains("status=1", Run($"{write} 2>/dev/null; [ $? -eq 0 ] && echo status=0 || echo status=1"));
            }

            Run("umount /mnt/rw; umount /mnt/ro");
            guest.Type("poweroff -f\n");
            Assert.Equal(0, guest.WaitForExit(Command));

            // The host's files beside the shares are as they were, and nothing was made outside them.
            Assert.Equal(Secret, File.ReadAllText(secretFile));
            Assert.Equal(before, Snapshot(outside, share));
            Assert.Equal("read-only content\n", File.ReadAllText(Path.Combine(readOnly, "keep.txt")));
            Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(readOnly).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    /// <summary>Every path under <paramref name="root"/> outside <paramref name="share"/>, with its contents for files; links are listed, never followed (the guest made some in the share).</summary>
    private static List<string> Snapshot(string root, string share)
    {
        var entries = new List<string>();
        void Walk(string dir)
        {
            foreach (string p in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
            {
                if (p == share)
                {
                    continue;
                }

                var info = new FileInfo(p);
                bool isDirectory = info.Attributes.HasFlag(FileAttributes.Directory);
                entries.Add(info.LinkTarget is { } target ? $"{p} -> {target}" : isDirectory ? p : $"{p}={File.ReadAllText(p)}");
                if (isDirectory && info.LinkTarget is null)
                {
                    Walk(p);
                }
            }
        }

        Walk(root);
        return entries;
    }
}
