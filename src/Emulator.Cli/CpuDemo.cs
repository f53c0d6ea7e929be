using System.Diagnostics;
using Emulator.Execution;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Cli;

/// <summary>
/// Until the PC machine exists (it boots Linux in the next milestone), `emu` runs a CPU-level
/// demo: guest machine code (a CRC-32 over 1 MiB of guest memory) on the x86 core alone, and
/// prints its result beside the same CRC computed by the host.
/// </summary>
internal static class CpuDemo
{
    public static int Run(string[] args)
    {
        if (args.Contains("--version"))
        {
            Console.WriteLine($"emu {typeof(CpuDemo).Assembly.GetName().Version}");
            return 0;
        }

        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine("usage: emu            run the CPU demo (CRC-32 of 1 MiB in guest code)");
            Console.WriteLine("       emu --version  print the version");
            return 0;
        }

        const ulong data = 0x100000;
        const int length = 1 << 20;
        using var memory = new GuestMemory(4 << 20);
        using var cpu = new Cpu(memory);
        var rng = new Random(1);
        rng.NextBytes(memory.Span(data, length));

        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var inner = a.CreateLabel();
        var noXor = a.CreateLabel();
        a.mov(rsi, data);
        a.mov(rcx, (ulong)length);
        a.mov(eax, 0xffffffff);
        a.Label(ref outer);
        a.movzx(edx, __byte_ptr[rsi]);
        a.xor(eax, edx);
        a.mov(edi, 8);
        a.Label(ref inner);
        a.shr(eax, 1);
        a.jnc(noXor);
        a.xor(eax, 0xedb88320);
        a.Label(ref noXor);
        a.dec(edi);
        a.jnz(inner);
        a.inc(rsi);
        a.dec(rcx);
        a.jnz(outer);
        a.not(eax);
        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x1000);
        ms.ToArray().CopyTo(memory.Span(0x1000, (int)ms.Length));

        CpuSetup.EnterFlat(cpu, 64, 0x1000, 0x80000);
        var engine = new ExecutionEngine(cpu);
        var sw = Stopwatch.StartNew();
        var reason = engine.Run(long.MaxValue);
        sw.Stop();
        if (reason != StopReason.Halted)
        {
            Console.Error.WriteLine($"emu: guest stopped with {reason} (vector {cpu.S.ExceptionVector}) at rip=0x{cpu.S.Rip:x}");
            return 1;
        }

        uint guest = (uint)cpu.Reg(Gpr.Rax);
        uint host = HostCrc32(memory.Span(data, length));
        double mips = cpu.S.InstructionCount / sw.Elapsed.TotalSeconds / 1e6;
        Console.WriteLine($"guest CRC-32 0x{guest:x8}, host 0x{host:x8}: {(guest == host ? "match" : "MISMATCH")}");
        Console.WriteLine($"{cpu.S.InstructionCount:N0} guest instructions in {sw.Elapsed.TotalMilliseconds:F0} ms: {mips:F1} MIPS (tier 0 interpreter)");
        return guest == host ? 0 : 1;
    }

    private static uint HostCrc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xffffffff;
        foreach (byte x in bytes)
        {
            crc ^= x;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xedb88320 : crc >> 1;
            }
        }

        return ~crc;
    }
}

