using Emulator.Ir;
using Emulator.X86;
using Emulator.X86.Memory;

namespace Emulator.Execution;

/// <summary>A LOCK-prefixed access (AtomicRmw or AtomicCas), shared by both tiers.</summary>
public static unsafe class AtomicAccess
{
    /// <summary>
    /// A host interlocked op on guest RAM. An access that crosses a page or is not RAM cannot be
    /// one host atomic; it is a read and a write under the machine's split lock
    /// (<see cref="Emulator.X86.Memory.GuestMemory.SplitLock"/>). False: a guest exception is recorded.
    /// </summary>
    public static bool Run(Cpu cpu, IrOpcode op, IrType type, AtomicOp rmw, ulong address, ulong b, ulong c, out ulong old)
    {
        int size = 1 << (int)type;
        ulong mask = type.Mask();
        byte* p = cpu.AtomicPointer(address, size, out bool ok);
        if (p != null)
        {
            old = op == IrOpcode.AtomicRmw
                ? Atomics.Rmw(p, size, rmw, b) & mask
                : Atomics.Cas(p, size, b, c) & mask;
            return true;
        }

        if (!ok)
        {
            old = 0;
            return false;
        }

        lock (cpu.Memory.SplitLock)
        {
            if (!cpu.Read(address, size, out old))
            {
                old = 0;
                return false;
            }

            ulong next = op == IrOpcode.AtomicCas
                ? (old == b ? c : old)
                : rmw switch
                {
                    AtomicOp.Add => old + b,
                    AtomicOp.And => old & b,
                    AtomicOp.Or => old | b,
                    AtomicOp.Xor => old ^ b,
                    _ => b,
                };
            return cpu.Write(address, size, next & mask);
        }
    }
}
