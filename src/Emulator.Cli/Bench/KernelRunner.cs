using System.Diagnostics;
using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.Cli.Bench;

/// <summary>The outcome of one kernel run on the CPU core.</summary>
/// <param name="ThreadCpu">CPU time of the vCPU thread during the run: on a busy host, where the wall time also counts waiting for a core, this one does not.</param>
internal readonly record struct KernelResult(ulong Guest, ulong Host, ulong Instructions, TimeSpan Elapsed, TimeSpan ThreadCpu, StopReason Reason, int Vector, long Translations, long Tier1Blocks)
{
    public bool Correct => Reason == StopReason.Halted && Guest == Host;

    public double Mips => Instructions / Elapsed.TotalSeconds / 1e6;
}

/// <summary>Runs a guest kernel on a fresh vCPU with its own memory, the CPU core alone.</summary>
internal static class KernelRunner
{
    /// <param name="tier1">The tier-1 engine ("cil", "wasmtime") or "off" for the interpreter alone.</param>
    public static KernelResult Run(GuestKernel kernel, string tier1 = "off", int seed = 1)
    {
        var options = tier1 == "off" ? null : new Tier1Options(Tier1Options.CreateEngine(tier1));
        var (memory, cache) = MachineCode.Create(4 << 20, options);
        using var disposeMemory = memory;
        using var disposeCache = cache;
        using var cpu = new Cpu(memory);
        var data = memory.Span(GuestKernels.DataAddress, GuestKernels.DataLength);
        Data(seed).CopyTo(data);
        ulong host = kernel.Host(data.ToArray());

        var a = new Assembler(64);
        kernel.Build(a, GuestKernels.DataAddress);
        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), GuestKernels.CodeAddress);
        ms.ToArray().CopyTo(memory.Span(GuestKernels.CodeAddress, (int)ms.Length));

        CpuSetup.EnterFlat(cpu, 64, GuestKernels.CodeAddress, 0x80000);
        var engine = new ExecutionEngine(cpu, cache);
        var cpuBefore = ThreadCpuTime();
        var sw = Stopwatch.StartNew();
        var reason = engine.Run(long.MaxValue);
        sw.Stop();
        var threadCpu = ThreadCpuTime() - cpuBefore;
        return new KernelResult(cpu.Reg(Gpr.Rax), host, cpu.S.InstructionCount, sw.Elapsed, threadCpu, reason, cpu.S.ExceptionVector, engine.Cache.Translations, engine.Tier1Runs);
    }

    /// <summary>The kernels' input: <see cref="GuestKernels.DataLength"/> random bytes from <paramref name="seed"/>.</summary>
    public static byte[] Data(int seed = 1)
    {
        var bytes = new byte[GuestKernels.DataLength];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The calling thread's CPU time (clock_gettime with CLOCK_THREAD_CPUTIME_ID).</summary>
    private static TimeSpan ThreadCpuTime()
    {
        const int ClockThreadCpuTimeId = 3;
        return ClockGetTime(ClockThreadCpuTimeId, out var t) == 0 ? TimeSpan.FromTicks(t.Seconds * TimeSpan.TicksPerSecond + t.Nanoseconds / 100) : TimeSpan.Zero;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static ulong Host(this GuestKernel k, byte[] data) => k.HostResult(data);
}
