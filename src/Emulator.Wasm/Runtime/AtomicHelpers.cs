using System.Runtime.CompilerServices;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// The threads proposal's atomic memory instructions, as host atomics on the native memory (the same
/// instructions the emulator's LOCK-prefixed accesses map to). Narrow (8/16-bit) read-modify-writes use a
/// compare-exchange loop on the naturally aligned 32-bit word that contains them.
/// </summary>
public static unsafe class AtomicHelpers
{
    public const int OpAdd = 0, OpSub = 1, OpAnd = 2, OpOr = 3, OpXor = 4, OpExchange = 5;

    /// <summary>Atomic accesses must be naturally aligned (threads proposal, "unaligned atomic" trap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong CheckAlignment(ulong ea, int size)
    {
        if ((ea & (ulong)(size - 1)) != 0) Trap.Throw(TrapKind.UnalignedAtomic);
        return ea;
    }

    public static int LoadI32(nint p, int size) => (int)Load(p, size);

    public static long LoadI64(nint p, int size) => (long)Load(p, size);

    private static ulong Load(nint p, int size) => size switch
    {
        1 => Volatile.Read(ref *(byte*)p),
        2 => Volatile.Read(ref *(ushort*)p),
        4 => Volatile.Read(ref *(uint*)p),
        _ => Volatile.Read(ref *(ulong*)p),
    };

    public static void StoreI32(nint p, int value, int size) => Store(p, (uint)value, size);

    public static void StoreI64(nint p, long value, int size) => Store(p, (ulong)value, size);

    private static void Store(nint p, ulong value, int size)
    {
        switch (size)
        {
            case 1: Volatile.Write(ref *(byte*)p, (byte)value); break;
            case 2: Volatile.Write(ref *(ushort*)p, (ushort)value); break;
            case 4: Interlocked.Exchange(ref *(int*)p, (int)value); return;
            default: Interlocked.Exchange(ref *(long*)p, (long)value); return;
        }
        Interlocked.MemoryBarrier();
    }

    public static int RmwI32(nint p, int value, int size, int op) => (int)Rmw(p, (uint)value, size, op);

    public static long RmwI64(nint p, long value, int size, int op) => (long)Rmw(p, (ulong)value, size, op);

    private static ulong Apply(ulong old, ulong value, int op) => op switch
    {
        OpAdd => old + value,
        OpSub => old - value,
        OpAnd => old & value,
        OpOr => old | value,
        OpXor => old ^ value,
        _ => value,
    };

    private static ulong Rmw(nint p, ulong value, int size, int op)
    {
        if (size == 8)
        {
            ref long cell = ref *(long*)p;
            switch (op)
            {
                case OpAdd: return (ulong)(Interlocked.Add(ref cell, (long)value) - (long)value);
                case OpExchange: return (ulong)Interlocked.Exchange(ref cell, (long)value);
            }
            while (true)
            {
                long old = Volatile.Read(ref cell);
                if (Interlocked.CompareExchange(ref cell, (long)Apply((ulong)old, value, op), old) == old) return (ulong)old;
            }
        }
        if (size == 4)
        {
            ref int cell = ref *(int*)p;
            switch (op)
            {
                case OpAdd: return (uint)(Interlocked.Add(ref cell, (int)value) - (int)value);
                case OpExchange: return (uint)Interlocked.Exchange(ref cell, (int)value);
            }
            while (true)
            {
                int old = Volatile.Read(ref cell);
                if (Interlocked.CompareExchange(ref cell, (int)(uint)Apply((uint)old, value, op), old) == old) return (uint)old;
            }
        }
        return NarrowUpdate(p, size, value, op, 0, isCompareExchange: false);
    }

    public static int CompareExchangeI32(nint p, int expected, int replacement, int size) =>
        (int)CompareExchange(p, (uint)expected, (uint)replacement, size);

    public static long CompareExchangeI64(nint p, long expected, long replacement, int size) =>
        (long)CompareExchange(p, (ulong)expected, (ulong)replacement, size);

    private static ulong CompareExchange(nint p, ulong expected, ulong replacement, int size)
    {
        if (size == 8) return (ulong)Interlocked.CompareExchange(ref *(long*)p, (long)replacement, (long)expected);
        if (size == 4) return (uint)Interlocked.CompareExchange(ref *(int*)p, (int)replacement, (int)expected);
        ulong mask = size == 1 ? 0xFFUL : 0xFFFFUL;
        // The expected operand is wrapped to the access width before comparing (threads proposal).
        expected &= mask;
        return NarrowUpdate(p, size, replacement, OpExchange, expected, isCompareExchange: true);
    }

    /// <summary>Read-modify-write of an 8/16-bit cell through CAS on its containing aligned 32-bit word.</summary>
    private static ulong NarrowUpdate(nint p, int size, ulong operand, int op, ulong expected, bool isCompareExchange)
    {
        int* word = (int*)(p & ~(nint)3);
        int shift = (int)(p & 3) * 8;
        uint mask = (size == 1 ? 0xFFu : 0xFFFFu) << shift;
        while (true)
        {
            int oldWord = Volatile.Read(ref *word);
            ulong oldValue = ((uint)oldWord & mask) >> shift;
            if (isCompareExchange && oldValue != expected) return oldValue;
            uint newValue = ((uint)Apply(oldValue, operand, op) << shift) & mask;
            int newWord = (int)(((uint)oldWord & ~mask) | newValue);
            if (Interlocked.CompareExchange(ref *word, newWord, oldWord) == oldWord) return oldValue;
        }
    }

    /// <summary>memory.atomic.wait32/64: 0 = woken, 1 = value differed, 2 = timed out.</summary>
    public static int Wait32(nint p, int expected, long timeoutNanoseconds, Memory memory)
    {
        if (!memory.IsShared) Trap.Throw(TrapKind.ExpectedSharedMemory);
        return memory.Waiters.Wait(p, () => Volatile.Read(ref *(int*)p) == expected, timeoutNanoseconds);
    }

    public static int Wait64(nint p, long expected, long timeoutNanoseconds, Memory memory)
    {
        if (!memory.IsShared) Trap.Throw(TrapKind.ExpectedSharedMemory);
        return memory.Waiters.Wait(p, () => Volatile.Read(ref *(long*)p) == expected, timeoutNanoseconds);
    }

    /// <summary>memory.atomic.notify: wakes up to count waiters; an unshared memory has none.</summary>
    public static int Notify(nint p, int count, Memory memory) => memory.IsShared ? memory.Waiters.Notify(p, (uint)count) : 0;

    public static void Fence() => Interlocked.MemoryBarrier();
}

/// <summary>Wait queues keyed by native address, under one monitor (waits are rare; simplicity wins).</summary>
internal sealed class WaiterTable
{
    private sealed class Waiter
    {
        public bool Woken;
    }

    private readonly object _lock = new();
    private readonly Dictionary<nint, List<Waiter>> _queues = new();

    public int Wait(nint address, Func<bool> stillExpected, long timeoutNanoseconds)
    {
        lock (_lock)
        {
            if (!stillExpected()) return 1;
            var waiter = new Waiter();
            if (!_queues.TryGetValue(address, out var queue)) _queues[address] = queue = new List<Waiter>();
            queue.Add(waiter);
            long deadline = timeoutNanoseconds < 0 ? long.MaxValue : Environment.TickCount64 + Math.Max(timeoutNanoseconds / 1_000_000, 0);
            while (!waiter.Woken)
            {
                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0 && timeoutNanoseconds >= 0)
                {
                    queue.Remove(waiter);
                    return 2;
                }
                Monitor.Wait(_lock, timeoutNanoseconds < 0 ? Timeout.Infinite : (int)Math.Min(remaining, int.MaxValue));
            }
            return 0;
        }
    }

    public int Notify(nint address, uint count)
    {
        lock (_lock)
        {
            if (!_queues.TryGetValue(address, out var queue)) return 0;
            int woken = 0;
            while (woken < count && queue.Count > 0)
            {
                queue[0].Woken = true;
                queue.RemoveAt(0);
                woken++;
            }
            if (woken > 0) Monitor.PulseAll(_lock);
            return woken;
        }
    }
}
