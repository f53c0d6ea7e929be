using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.X86.Tests;

/// <summary>
/// A vCPU with 16 MiB of RAM running code assembled with Iced, for instruction tests. Code is
/// placed at <see cref="CodeAddress"/>, the stack grows down from <see cref="StackTop"/>, and
/// <see cref="DataAddress"/> is free memory for operands.
/// </summary>
public sealed class TestMachine : IDisposable
{
    public const ulong CodeAddress = 0x10000;
    public const ulong DataAddress = 0x200000;
    public const ulong StackTop = 0x800000;

    public TestMachine(int bitness = 64)
    {
        Bitness = bitness;
        (Memory, Cache) = MachineCode.Create(16 << 20, MachineCode.FromEnvironment());
        Cpu = new Cpu(Memory);
        Engine = new ExecutionEngine(Cpu, Cache);
        CpuSetup.EnterFlat(Cpu, bitness, CodeAddress, StackTop);
    }

    public int Bitness { get; }

    public GuestMemory Memory { get; }

    public Cpu Cpu { get; }

    public TranslationCache Cache { get; }

    public ExecutionEngine Engine { get; }

    public ref ulong this[Gpr r] => ref Cpu.Reg(r);

    /// <summary>Assembles <paramref name="build"/> plus a final HLT at <see cref="CodeAddress"/>.</summary>
    public TestMachine Load(Action<Assembler> build, ulong address = CodeAddress)
    {
        var a = new Assembler(Bitness);
        build(a);
        a.hlt();
        LoadBytes(Assemble(a, address), address);
        Cpu.S.Rip = address;
        return this;
    }

    public static byte[] Assemble(Assembler a, ulong address)
    {
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), address);
        return ms.ToArray();
    }

    public void LoadBytes(ReadOnlySpan<byte> bytes, ulong address) => bytes.CopyTo(Memory.Span(address, bytes.Length));

    /// <summary>Runs until HLT; fails the test on a guest exception or a runaway.</summary>
    public TestMachine Run(long maxInstructions = 1_000_000)
    {
        var reason = Engine.Run(maxInstructions);
        if (reason != StopReason.Halted)
        {
            throw new Xunit.Sdk.XunitException(
                $"guest stopped with {reason} at rip=0x{Cpu.S.Rip:x} (exception vector {Cpu.S.ExceptionVector}); " +
                $"unimplemented so far: {string.Join(", ", Emulator.X86.Frontend.Translator.Unimplemented)}");
        }

        if (Cache.TierUp is not null && Engine.Tier1Runs == 0)
        {
            throw new Xunit.Sdk.XunitException("tier 1 is forced on (EMU_TIER1) but no block ran on it");
        }

        Cpu.S.Halted = 0;
        return this;
    }

    /// <summary>Runs expecting a guest exception; returns its vector.</summary>
    public int RunToException(long maxInstructions = 1_000_000)
    {
        var reason = Engine.Run(maxInstructions);
        if (reason != StopReason.Exception)
        {
            throw new Xunit.Sdk.XunitException($"expected a guest exception, stopped with {reason} at rip=0x{Cpu.S.Rip:x}");
        }

        return Cpu.S.ExceptionVector;
    }

    public ulong Rflags => Cpu.Rflags;

    public bool Flag(RFlags f) => (Cpu.Rflags & (ulong)f) != 0;

    public ulong ReadMem(ulong address, int size)
    {
        ulong v = 0;
        var span = Memory.Span(address, size);
        for (int i = size - 1; i >= 0; i--)
        {
            v = (v << 8) | span[i];
        }

        return v;
    }

    public void WriteMem(ulong address, ulong value, int size)
    {
        var span = Memory.Span(address, size);
        for (int i = 0; i < size; i++)
        {
            span[i] = (byte)(value >> (8 * i));
        }
    }

    public void Dispose()
    {
        Cpu.Dispose();
        Cache.Dispose();
        Memory.Dispose();
    }
}
