using System.Diagnostics;
using System.Text;

namespace Emulator.Testing;

/// <summary>
/// The default guest image: Debian's kernel (vmlinuz, and the ELF vmlinux taken out of it), the
/// busybox initramfs and the ext4 root that images/build-guest.sh writes to the image cache
/// (<c>$EMU_IMAGE_DIR</c>, by default ~/.cache/emu/images; <c>current</c> points at the newest
/// build). Every test that needs it asks here, and the first one to ask builds it if it is not
/// there yet, before any of them uses a file of it; the others wait for that build. tests/run.sh
/// builds it before the tests start, so this mostly finds it ready.
/// </summary>
/// <remarks>
/// dotnet test runs the test projects as separate processes at once, so two processes can find
/// the image missing together: the build runs under an exclusive lock on a file in the cache
/// (FileShare.None, an flock on Linux), and whoever gets the lock second finds the image complete.
/// A failed build is remembered: every test that needs the image fails with the script's message.
/// </remarks>
public static class DefaultGuest
{
    /// <summary>The script writes these, then manifest.txt last, so a manifest means a complete build.</summary>
    private static readonly string[] Outputs = ["vmlinuz", "vmlinux", "initramfs.cpio.gz", "rootfs.ext4", "manifest.txt"];

    private static readonly TimeSpan LockWait = TimeSpan.FromMinutes(30);

    private static readonly Lazy<string> directory = new(Ensure, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The image directory (the cache's <c>current</c>), built first if needed.</summary>
    public static string ImageDirectory => directory.Value;

    /// <summary>The uncompressed ELF kernel (boots faster under emulation than the bzImage).</summary>
    public static string Kernel => Path.Combine(ImageDirectory, "vmlinux");

    /// <summary>The bzImage as Debian ships it.</summary>
    public static string BzImage => Path.Combine(ImageDirectory, "vmlinuz");

    public static string Initrd => Path.Combine(ImageDirectory, "initramfs.cpio.gz");

    /// <summary>The ext4 root filesystem image (boot with root=/dev/vda); copy it before writing to it.</summary>
    public static string RootFs => Path.Combine(ImageDirectory, "rootfs.ext4");

    public static string Manifest => Path.Combine(ImageDirectory, "manifest.txt");

    /// <summary>Where images/build-guest.sh puts its builds.</summary>
    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("EMU_IMAGE_DIR") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "emu", "images");

    private static string Current => Path.Combine(CacheRoot, "current");

    private static bool IsComplete(string dir) => Outputs.All(f => File.Exists(Path.Combine(dir, f)));

    private static string Ensure()
    {
        if (IsComplete(Current))
        {
            return Current;
        }

        Directory.CreateDirectory(CacheRoot);
        using (AcquireBuildLock(Path.Combine(CacheRoot, ".test-build.lock")))
        {
            // Another test process may have built it while this one waited for the lock.
            if (!IsComplete(Current))
            {
                Build();
            }
        }

        return Current;
    }

    private static FileStream AcquireBuildLock(string path)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < LockWait)
            {
                // Another process holds the lock: it is building the image.
                Thread.Sleep(500);
            }
        }
    }

    private static void Build()
    {
        string script = Path.Combine(Repository.Root, "images", "build-guest.sh");
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add("--quiet");
        using var build = Process.Start(start)!;
        Task<string> output = build.StandardOutput.ReadToEndAsync();
        Task<string> errors = build.StandardError.ReadToEndAsync();
        build.WaitForExit();
        if (build.ExitCode != 0 || !IsComplete(Current))
        {
            throw new InvalidOperationException(
                $"the default guest image is missing and {script} could not build it (exit code {build.ExitCode}; it needs apt-get, " +
                $"dpkg-deb, cpio and e2fsprogs, and root or fresh package lists):\n{errors.Result}{output.Result}");
        }
    }
}
