using System.Diagnostics;
using System.Text;

namespace Emulator.System.Tests;

/// <summary>
/// Small static test programs for the guest: compiled with the host's gcc, packed into a newc
/// cpio archive appended to the default initramfs (Linux unpacks concatenated archives), so the
/// guest finds them under /bin without changing the image.
/// </summary>
public static class GuestPrograms
{
    /// <summary>Extra gcc flags a program asks for on its first line, as <c>/* cflags: -march=x86-64-v2 */</c>.</summary>
    public static string[] CompilerFlags(string source)
    {
        string first = File.ReadLines(source).FirstOrDefault() ?? "";
        const string Prefix = "/* cflags:";
        return first.StartsWith(Prefix, StringComparison.Ordinal)
            ? first[Prefix.Length..].Replace("*/", "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            : [];
    }

    /// <summary>Builds the programs in Guest/*.c and returns an initrd that is the default one plus them; null (with why) if gcc is missing.</summary>
    public static string? InitrdWithPrograms(string defaultInitrd, out string? why)
    {
        why = null;
        // A directory of its own per call: tests that run at once each remove theirs (one per
        // process was shared, and the first test to finish removed it under the other).
        string dir = Directory.CreateTempSubdirectory("emu-guest-programs-").FullName;
        var files = new List<(string Name, byte[] Bytes)>();
        foreach (string source in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Guest"), "*.c"))
        {
            string output = Path.Combine(dir, Path.GetFileNameWithoutExtension(source));
            var psi = new ProcessStartInfo("gcc") { RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in CompilerFlags(source).Concat(["-static", "-O2", "-o", output, source]))
            {
                psi.ArgumentList.Add(a);
            }

            try
            {
                using var p = Process.Start(psi)!;
                string errors = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0)
                {
                    why = $"gcc failed on {source}: {errors}";
                    Directory.Delete(dir, recursive: true);
                    return null;
                }
            }
            catch (global::System.ComponentModel.Win32Exception)
            {
                why = "gcc is not installed (apt-get install gcc libc6-dev)";
                Directory.Delete(dir, recursive: true);
                return null;
            }

            files.Add(("bin/" + Path.GetFileName(output), File.ReadAllBytes(output)));
        }

        string initrd = Path.Combine(dir, "initramfs-with-tests");
        using (var o = File.Create(initrd))
        {
            using (var i = File.OpenRead(defaultInitrd))
            {
                i.CopyTo(o);
            }

            // The kernel looks for the next archive at a 4-byte boundary.
            while (o.Length % 4 != 0)
            {
                o.WriteByte(0);
            }

            foreach (var (name, bytes) in files)
            {
                WriteEntry(o, name, 0x81ed, bytes); // regular file, 0755
            }

            WriteEntry(o, "TRAILER!!!", 0, []);
        }

        return initrd;
    }

    public static void Remove(string initrd) => Directory.Delete(Path.GetDirectoryName(initrd)!, recursive: true);

    /// <summary>One newc entry: "070701", 13 eight-digit hex fields, the name with its NUL, data, each padded to 4 bytes.</summary>
    private static void WriteEntry(Stream o, string name, int mode, byte[] data)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        int[] fields = [0, mode, 0, 0, 1, 0, data.Length, 0, 0, 0, 0, nameBytes.Length, 0];
        var header = new StringBuilder("070701");
        foreach (int f in fields)
        {
            header.Append(f.ToString("x8"));
        }

        o.Write(Encoding.ASCII.GetBytes(header.ToString()));
        o.Write(nameBytes);
        Pad(o);
        o.Write(data);
        Pad(o);
    }

    private static void Pad(Stream o)
    {
        while (o.Position % 4 != 0)
        {
            o.WriteByte(0);
        }
    }
}
