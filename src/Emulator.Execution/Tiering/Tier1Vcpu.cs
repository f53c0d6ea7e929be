using Emulator.Backend.Wasm.Engines;
using Emulator.Backend.Wasm.Lowering;
using Emulator.Ir;
using Emulator.X86;
using Emulator.X86.Helpers;
using Emulator.X86.Memory;

namespace Emulator.Execution.Tiering;

/// <summary>
/// One vCPU's side of tier 1: its engine context (the host functions bound to this vCPU), the
/// instantiation of modules on first use, and the run loop over compiled blocks, which follows
/// direct jumps from block to block while the budget lasts.
/// </summary>
public sealed unsafe class Tier1Vcpu : IDisposable
{
    private readonly Cpu cpu;
    private readonly IWasmVcpu context;
    private readonly long stateAddress;

    public Tier1Vcpu(TierUp tierUp, Cpu cpu)
    {
        this.cpu = cpu;
        Slot = tierUp.AttachCpu();
        stateAddress = (long)(cpu.AreaOffset + VcpuArea.StateOffset);
        context = tierUp.Engine.CreateVcpu(tierUp.Memory, new Tier1Imports(Read, Write, Atomic, Helper));
    }

    /// <summary>This vCPU's index into each block's entry points.</summary>
    public int Slot { get; }

    /// <summary>Blocks run on tier 1 (entries into compiled code).</summary>
    public long BlocksRun;

    /// <summary>The entry point of <paramref name="tb"/> for this vCPU, instantiating its module here on first use; null if it has none.</summary>
    public BlockEntry? EntryOf(CompiledBlock tb)
    {
        var module = tb.Tier1;
        var entries = tb.Tier1Entries;
        if (module is null || entries is null || Slot >= entries.Length)
        {
            return null;
        }

        var entry = entries[Slot];
        if (entry is not null)
        {
            return entry;
        }

        var all = context.Instantiate(module.Code, module.Blocks.Length);
        for (int i = 0; i < all.Length; i++)
        {
            var b = module.Blocks[i];
            if (b.Tier1 == module && b.Tier1Entries is { } e && Slot < e.Length)
            {
                e[Slot] = all[i];
            }
        }

        return all[tb.Tier1Index];
    }

    /// <summary>
    /// Runs <paramref name="tb"/> (which has an entry for this vCPU) and the compiled blocks its
    /// direct jumps are chained to. Returns like the interpreter; on a direct jump to a block not
    /// chained or not compiled, <paramref name="last"/> and <paramref name="lastSlot"/> say where to chain.
    /// </summary>
    public BlockExit Run(CompiledBlock tb, BlockEntry entry, ref long budget, out CompiledBlock last, out int lastSlot)
    {
        var s = cpu.State;
        while (true)
        {
            cpu.RunningBlock = tb;
            ulong before = s->InstructionCount;
            int code = entry(stateAddress);
            BlocksRun++;
            budget -= (long)(s->InstructionCount - before);
            last = tb;
            lastSlot = code >> 2;
            switch (code & ExitCode.KindMask)
            {
                case ExitCode.Jump:
                    var next = tb.Chains[lastSlot];
                    if (next is { Invalid: false } && budget > 0 && s->ExitRequest == 0 && EntryOf(next) is { } nextEntry)
                    {
                        tb = next;
                        entry = nextEntry;
                        continue;
                    }

                    return BlockExit.Jump;
                case ExitCode.Dispatch:
                    return BlockExit.Dispatch;
                default:
                    return BlockExit.Exception;
            }
        }
    }

    private long Read(long address, int size)
    {
        cpu.Read((ulong)address, size, out ulong value);
        return (long)value;
    }

    private void Write(long address, int size, long value) => cpu.Write((ulong)address, size, (ulong)value);

    private long Atomic(long address, int code, long b, long c)
    {
        var (op, type, rmw) = AtomicCode.Decode(code);
        AtomicAccess.Run(cpu, op, type, rmw, (ulong)address, (ulong)b, (ulong)c, out ulong old);
        return (long)old;
    }

    private Func<long, long, long, long, long> Helper(int id)
    {
        var fn = HelperTable.Get(id);
        return (a, b, c, d) => (long)fn(cpu, (ulong)a, (ulong)b, (ulong)c, (ulong)d);
    }

    public void Dispose() => context.Dispose();
}
