using Emulator.Cli;
using Emulator.Cli.Bench;

// A hand-rolled dispatcher for now; the QEMU-style command line arrives with the PC machine.
switch (args)
{
    case []:
        return CpuDemo.Run();
    case ["--version"]:
        Console.WriteLine($"emu {typeof(CpuDemo).Assembly.GetName().Version}");
        return 0;
    case ["--help"] or ["-h"]:
        Console.WriteLine("usage: emu                    run the CPU demo (CRC-32 of 1 MiB in guest code)");
        Console.WriteLine("       emu bench cpu [RUNS]   guest MIPS of the CPU core on compute kernels, beside QEMU");
        Console.WriteLine("       emu bench io           round trip of a port/MMIO access to a device actor");
        Console.WriteLine("       emu --version          print the version");
        return 0;
    case ["bench", "io"]:
        return IoBenchmark.Run();
    case ["bench", "cpu"]:
        return CpuBenchmark.Run(5);
    case ["bench", "cpu", var n] when int.TryParse(n, out int runs) && runs > 0:
        return CpuBenchmark.Run(runs);
    default:
        Console.Error.WriteLine($"emu: unknown arguments '{string.Join(' ', args)}' (try --help)");
        return 2;
}
