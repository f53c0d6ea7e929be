using Emulator.Backend.Wasm.Engines;
using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86;
using Emulator.X86.Memory;
using Iced.Intel;

namespace Emulator.Backend.Wasm.Tests;

/// <summary>
/// A vCPU with 16 MiB of RAM in flat 64-bit mode, on tier 0 alone or with every block on tier 1
/// (threshold 1, compiled at promotion), running code assembled with Iced.
/// </summary>
public sealed class Tier1Machine : IDisposable
{
    public const ulong CodeAddress = 0x10000;
    public const ulong DataAddress = 0x200000;
    public const ulong StackTop = 0x800000;

    public Tier1Machine(IWasmEngine? engine, Action<byte[]>? modules = null, int threshold = 1, int bitness = 64)
        : this(MachineCode.Create(16 << 20, engine is null ? null : new Tier1Options(engine) { Threshold = threshold, Synchronous = true, ModuleObserver = modules }), bitness)
    {
    }

    /// <summary>A machine over memory and a cache made by <see cref="MachineCode.Create"/> (the machine disposes them).</summary>
    public Tier1Machine(GuestMemory memory, TranslationCache cache, int bitness = 64)
        : this((memory, cache), bitness)
    {
    }

    private Tier1Machine((GuestMemory Memory, TranslationCache Cache) code, int bitness)
    {
        (Memory, Cache) = code;
        Cpu = new Cpu(Memory);
        Engine = new ExecutionEngine(Cpu, Cache);
        CpuSetup.EnterFlat(Cpu, bitness, CodeAddress, StackTop);
        Bitness = bitness;
    }

    public int Bitness { get; }

    public GuestMemory Memory { get; }

    public TranslationCache Cache { get; }

    public Cpu Cpu { get; }

    public ExecutionEngine Engine { get; }

    public Tier1Machine Load(Action<Assembler> build)
    {
        var a = new Assembler(Bitness);
        build(a);
        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), CodeAddress);
        ms.ToArray().CopyTo(Memory.Span(CodeAddress, (int)ms.Length));
        Cpu.S.Rip = CodeAddress;
        return this;
    }

    public StopReason Run(long maxInstructions = 10_000_000) => Engine.Run(maxInstructions);

    public void Dispose()
    {
        Engine.Dispose();
        Cpu.Dispose();
        Cache.Dispose();
        Memory.Dispose();
    }
}
