using Emulator.Cli.Bench;

namespace Emulator.Cli;

/// <summary>
/// Until the PC machine exists (it boots Linux in the next milestone), `emu` runs a CPU-level
/// demo: a CRC-32 over 1 MiB of guest memory in guest machine code on the x86 core alone,
/// printed beside the CRC the host computes.
/// </summary>
internal static class CpuDemo
{
    public static int Run()
    {
        var r = KernelRunner.Run(GuestKernels.Crc32);
        if (r.Reason != Emulator.Execution.StopReason.Halted)
        {
            Console.Error.WriteLine($"emu: guest stopped with {r.Reason} (exception vector {r.Vector})");
            return 1;
        }

        Console.WriteLine($"guest CRC-32 0x{r.Guest:x8}, host 0x{r.Host:x8}: {(r.Correct ? "match" : "MISMATCH")}");
        Console.WriteLine($"{r.Instructions:N0} guest instructions in {r.Elapsed.TotalMilliseconds:F0} ms: {r.Mips:F1} MIPS (tier 0 interpreter)");
        return r.Correct ? 0 : 1;
    }
}
