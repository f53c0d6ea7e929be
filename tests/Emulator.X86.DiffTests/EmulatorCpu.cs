using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.X86.DiffTests;

/// <summary>
/// The emulator side of a case: a 64-bit flat vCPU with 16 MiB of RAM, the data buffer at the
/// host's fixed address, and the case's code followed by HLT at <see cref="CodeAddress"/>.
/// Uses the emulator only through its public API, like tests/Emulator.X86.Tests/TestMachine.
/// </summary>
public sealed class EmulatorCpu : IDisposable
{
    public const ulong CodeAddress = 0x10000;
    public const ulong StackTop = 0xf00000;
    private const ulong RamSize = 16 << 20;

    /// <param name="tier1">Tier 1 as chosen; when null, EMU_TIER1's (so the host differential runs through tier 1 too when it is set) unless <paramref name="interpreterOnly"/>.</param>
    public EmulatorCpu(Tier1Options? tier1 = null, bool interpreterOnly = false)
    {
        (Memory, Cache) = MachineCode.Create(RamSize, tier1 ?? (interpreterOnly ? null : MachineCode.FromEnvironment()));
        Cpu = new Cpu(Memory);
        Engine = new ExecutionEngine(Cpu, Cache);
        CpuSetup.EnterFlat(Cpu, 64, CodeAddress, StackTop);
    }

    public GuestMemory Memory { get; }

    public TranslationCache Cache { get; }

    public Cpu Cpu { get; }

    public ExecutionEngine Engine { get; }

    /// <summary>Runs <paramref name="code"/> (which must end with HLT) from <paramref name="input"/>; returns why it stopped.</summary>
    public StopReason Run(ReadOnlySpan<byte> code, MachineState input, MachineState output, long maxInstructions = 1_000_000)
    {
        ref var s = ref Cpu.S;
        code.CopyTo(Memory.Span(CodeAddress, code.Length));

        // The code was written behind the translation cache's back (not through a guest store), so drop stale blocks.
        Engine.Cache.Flush();
        for (int i = 0; i < 16; i++)
        {
            Cpu.Reg((Gpr)i) = input.Gpr[i];
        }

        Cpu.Reg(Gpr.Rsp) = StackTop;
        Cpu.Rflags = input.Rflags;
        unsafe
        {
            for (int i = 0; i < 32; i++)
            {
                s.Xmm[i] = input.Xmm[i];
            }
        }

        s.Mxcsr = input.Mxcsr;
        s.Rip = CodeAddress;
        s.Halted = 0;
        s.ExceptionVector = -1;
        var reason = Engine.Run(maxInstructions);

        for (int i = 0; i < 16; i++)
        {
            output.Gpr[i] = Cpu.Reg((Gpr)i);
        }

        output.Rflags = Cpu.Rflags;
        unsafe
        {
            for (int i = 0; i < 32; i++)
            {
                output.Xmm[i] = s.Xmm[i];
            }
        }

        output.Mxcsr = s.Mxcsr;
        return reason;
    }

    public void Dispose()
    {
        Engine.Dispose();
        Cpu.Dispose();
        Cache.Dispose();
        Memory.Dispose();
    }
}
