using Emulator.Ir;
using Emulator.X86;
using Emulator.X86.Memory;

namespace Emulator.Execution;

/// <summary>A LOCK-prefixed access (AtomicRmw or AtomicCas), shared by both tiers.</summary>
public static unsafe class AtomicAccess
{
    /// <summary>
    /// A host interlocked op on guest RAM. An access that crosses a page or is not RAM cannot be
    /// one host atomic; it is a read and a write while the other vCPUs wait
    /// (<see cref="Alone"/>). False: a guest exception is recorded.
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

        using var alone = Alone.Enter(cpu);
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

    /// <summary>
    /// This vCPU alone runs guest code until disposed (<see cref="GuestMemory.Exclusive"/>): it
    /// gives up its shared hold, asks the others to stop, and takes the lock exclusively; then
    /// back to shared.
    /// </summary>
    public readonly ref struct Alone : IDisposable
    {
        private readonly ReaderWriterLockSlim? gate;
        private readonly bool wasRunning;

        private Alone(ReaderWriterLockSlim gate, bool wasRunning)
        {
            this.gate = gate;
            this.wasRunning = wasRunning;
        }

        public static Alone Enter(Cpu cpu)
        {
            var gate = cpu.Memory.Exclusive;
            bool running = gate.IsReadLockHeld;
            if (running)
            {
                gate.ExitReadLock();
            }

            cpu.Memory.RequestExitOthers(cpu);
            gate.EnterWriteLock();
            return new Alone(gate, running);
        }

        public void Dispose()
        {
            if (gate is null)
            {
                return;
            }

            gate.ExitWriteLock();
            if (wasRunning)
            {
                gate.EnterReadLock();
            }
        }
    }
}
