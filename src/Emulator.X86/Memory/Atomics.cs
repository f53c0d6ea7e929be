using Emulator.Ir;

namespace Emulator.X86.Memory;

/// <summary>
/// Host atomic operations on guest RAM for LOCK-prefixed instructions and XCHG. Every access
/// is a real interlocked instruction on the host, so it is atomic against other vCPUs too.
/// </summary>
public static unsafe class Atomics
{
    /// <summary>Applies <paramref name="op"/> atomically at <paramref name="p"/>; returns the old value.</summary>
    public static ulong Rmw(byte* p, int size, AtomicOp op, ulong v)
    {
        switch (size)
        {
            case 8:
            {
                ref long r = ref *(long*)p;
                return op switch
                {
                    AtomicOp.Xchg => (ulong)Interlocked.Exchange(ref r, (long)v),
                    AtomicOp.Add => (ulong)(Interlocked.Add(ref r, (long)v) - (long)v),
                    AtomicOp.And => (ulong)Interlocked.And(ref r, (long)v),
                    AtomicOp.Or => (ulong)Interlocked.Or(ref r, (long)v),
                    _ => CasLoop(p, size, op, v),
                };
            }

            case 4:
            {
                ref int r = ref *(int*)p;
                return op switch
                {
                    AtomicOp.Xchg => (uint)Interlocked.Exchange(ref r, (int)v),
                    AtomicOp.Add => (uint)(Interlocked.Add(ref r, (int)v) - (int)v),
                    AtomicOp.And => (uint)Interlocked.And(ref r, (int)v),
                    AtomicOp.Or => (uint)Interlocked.Or(ref r, (int)v),
                    _ => CasLoop(p, size, op, v),
                };
            }

            default:
                return op == AtomicOp.Xchg ? Exchange(p, size, v) : CasLoop(p, size, op, v);
        }
    }

    /// <summary>Compare-and-swap; returns the old value (equal to <paramref name="expected"/> on success).</summary>
    public static ulong Cas(byte* p, int size, ulong expected, ulong replacement) => size switch
    {
        8 => (ulong)Interlocked.CompareExchange(ref *(long*)p, (long)replacement, (long)expected),
        4 => (uint)Interlocked.CompareExchange(ref *(int*)p, (int)replacement, (int)expected),
        2 => Interlocked.CompareExchange(ref *(ushort*)p, (ushort)replacement, (ushort)expected),
        _ => Interlocked.CompareExchange(ref *p, (byte)replacement, (byte)expected),
    };

    private static ulong Exchange(byte* p, int size, ulong v) => size == 2
        ? Interlocked.Exchange(ref *(ushort*)p, (ushort)v)
        : Interlocked.Exchange(ref *p, (byte)v);

    private static ulong CasLoop(byte* p, int size, AtomicOp op, ulong v)
    {
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        while (true)
        {
            ulong old = size switch
            {
                8 => Volatile.Read(ref *(ulong*)p),
                4 => Volatile.Read(ref *(uint*)p),
                2 => Volatile.Read(ref *(ushort*)p),
                _ => Volatile.Read(ref *p),
            };
            ulong next = op switch
            {
                AtomicOp.Add => old + v,
                AtomicOp.And => old & v,
                AtomicOp.Or => old | v,
                AtomicOp.Xor => old ^ v,
                _ => v,
            } & mask;
            if (Cas(p, size, old, next) == old)
            {
                return old;
            }
        }
    }
}
