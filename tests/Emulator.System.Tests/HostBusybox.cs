using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace Emulator.System.Tests;

/// <summary>
/// The guest's own busybox, run natively on the host: taken out of the default guest's
/// initramfs (a gzip'd newc cpio), so the guest and the host run the very same binary.
/// </summary>
public static class HostBusybox
{
    public static string Extract()
    {
        // busybox picks the applet from its name: keep it as "busybox", with its applet links
        // beside it, and run commands with that directory as PATH so every tool is busybox's.
        // One directory per call: tests that run at once (the boot test, the network test) each
        // remove their own when done.
        string dir = Directory.CreateTempSubdirectory("emu-host-busybox-").FullName;
        string target = Path.Combine(dir, "busybox");
        using var gz = new GZipStream(File.OpenRead(DefaultGuest.Initrd), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var cpio = ms.ToArray();

        // newc: "070701", 13 eight-digit hex fields, the name (NUL-terminated), data; each padded to 4 bytes.
        int at = 0;
        while (at + 110 <= cpio.Length)
        {
            string header = Encoding.ASCII.GetString(cpio, at, 110);
            int Field(int i) => Convert.ToInt32(header.Substring(6 + 8 * i, 8), 16);
            int size = Field(6), nameSize = Field(11);
            string name = Encoding.ASCII.GetString(cpio, at + 110, nameSize - 1);
            int data = (at + 110 + nameSize + 3) & ~3;
            if (name is "bin/busybox" or "./bin/busybox")
            {
                File.WriteAllBytes(target, cpio.AsSpan(data, size).ToArray());
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserExecute);
                }

                using var install = Process.Start(target, ["--install", "-s", dir]);
                install.WaitForExit();

                return target;
            }

            if (name == "TRAILER!!!")
            {
                break;
            }

            at = (data + size + 3) & ~3;
        }

        throw new InvalidOperationException("bin/busybox not found in the guest's initramfs");
    }

    /// <summary>Removes what <see cref="Extract"/> made.</summary>
    public static void Remove(string busybox) => Directory.Delete(Path.GetDirectoryName(busybox)!, recursive: true);

    /// <summary>Runs <paramref name="command"/> with busybox's sh on the host and returns its output.</summary>
    public static string Run(string busybox, string command)
    {
        var psi = new ProcessStartInfo(busybox) { RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment["PATH"] = Path.GetDirectoryName(busybox)!;
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var p = Process.Start(psi)!;
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return text.TrimEnd('\n');
    }
}
