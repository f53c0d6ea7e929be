using System.Diagnostics;

namespace Emulator.Cli;

/// <summary>The default guest: Debian's kernel and a busybox initramfs, built by images/build-guest.sh on first use.</summary>
internal static class GuestImage
{
    public const string DefaultAppend = "console=ttyS0 panic=-1";

    /// <summary>Returns the directory of a complete default guest image, building it if needed; null with a message on failure.</summary>
    public static string? Ensure(TextWriter log)
    {
        string root = Environment.GetEnvironmentVariable("EMU_IMAGE_DIR")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "emu", "images");
        string current = Path.Combine(root, "current");
        if (IsComplete(current))
        {
            return current;
        }

        string? script = FindScript();
        if (script is null)
        {
            log.WriteLine("emu: no default guest image and images/build-guest.sh not found (run emu from the repository, or pass -kernel)");
            return null;
        }

        log.WriteLine($"emu: building the default guest image with {script} (first use; it downloads Debian packages)");
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false };
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        if (p.ExitCode != 0 || !IsComplete(current))
        {
            log.WriteLine($"emu: building the guest image failed (exit code {p.ExitCode})");
            return null;
        }

        return current;
    }

    /// <summary>
    /// The kernel to boot: the uncompressed ELF vmlinux when the image has one (it skips the
    /// bzImage's self-decompression, about two thirds of the boot under emulation), else vmlinuz.
    /// </summary>
    public static string Kernel(string image) =>
        File.Exists(Path.Combine(image, "vmlinux")) ? Path.Combine(image, "vmlinux") : Path.Combine(image, "vmlinuz");

    private static bool IsComplete(string dir) =>
        File.Exists(Path.Combine(dir, "manifest.txt")) && File.Exists(Path.Combine(dir, "vmlinuz")) && File.Exists(Path.Combine(dir, "initramfs.cpio.gz"));

    private static string? FindScript()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "images", "build-guest.sh");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
