using System.Diagnostics;
using Emulator.Cli.Terminal;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>
/// The default guest under `-cpu x86-64-v2`: Linux sees the v2 features (and no AVX), and a
/// static program built with gcc -march=x86-64-v2 (Guest/v2-level.c: SSE4.2 string compares,
/// CRC32, POPCNT, SSSE3 and SSE4.1; its C library picks its SSE4.2 string functions) prints
/// what the same binary prints on the host.
/// </summary>
public sealed class CpuLevelBootTests
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Command = TimeSpan.FromMinutes(2);

    [Fact]
    public void V2ProgramRunsInTheGuestWithTheNativeResult()
    {
        string? initrd = GuestPrograms.InitrdWithPrograms(DefaultGuest.Initrd, out string? why);
        Assert.True(initrd is not null, why);
        try
        {
            string program = Path.Combine(Path.GetDirectoryName(initrd)!, "v2-level");
            var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, UseShellExecute = false };
            using var native = Process.Start(psi)!;
            string expected = native.StandardOutput.ReadToEnd().Trim();
            native.WaitForExit();
            Assert.Equal(0, native.ExitCode);

            using var guest = ConsoleSession.StartEmu(null, "-kernel", DefaultGuest.Kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1", "-cpu", "x86-64-v2", "-m", "512", "-no-reboot");
            guest.WaitFor(ConsoleSession.Prompt, Boot);
            guest.Type("\n");
            guest.WaitFor(ConsoleSession.Prompt, Command);
            guest.Run("stty cols 250; dmesg -n 1", Command);

            var flags = guest.Run("grep -m1 '^flags' /proc/cpuinfo", Command).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (string f in new[] { "sse2", "pni", "ssse3", "cx16", "sse4_1", "sse4_2", "popcnt", "lahf_lm" })
            {
                Assert.Contains(f, flags);
            }

            Assert.DoesNotContain("avx", flags);
            Assert.DoesNotContain("bmi1", flags);

            string output = guest.Run("/bin/v2-level", Command);
            Assert.Equal(expected, output.Split('\n').Last(l => !l.StartsWith('[')).Trim());

            guest.Type("poweroff -f\n");
            Assert.Equal(0, guest.WaitForExit(Command));
        }
        finally
        {
            GuestPrograms.Remove(initrd);
        }
    }
}
