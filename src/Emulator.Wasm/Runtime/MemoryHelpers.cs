using System.Runtime.CompilerServices;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// Address computation and the bulk-memory instructions (spec 4.4.7). Compiled code calls the
/// EffectiveAddress helpers on every access; they are inlined and throw through <see cref="Trap"/>.
/// </summary>
public static unsafe class MemoryHelpers
{
    /// <summary>
    /// Memory32: ea = zero-extended address + offset; both are below 2^32, so ea + size cannot overflow
    /// 64 bits. Traps unless [ea, ea+size) lies inside the memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EffectiveAddress32(uint address, ulong offset, int size, long length)
    {
        ulong ea = address + offset;
        if (ea + (ulong)size > (ulong)length) Trap.MemoryOutOfBounds();
        return ea;
    }

    /// <summary>Memory64: address + offset may carry out of 64 bits; that is out of bounds, not a wrap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EffectiveAddress64(ulong address, ulong offset, int size, long length)
    {
        ulong ea = address + offset;
        if (ea < address || ea > (ulong)length || (ulong)length - ea < (ulong)size) Trap.MemoryOutOfBounds();
        return ea;
    }

    public static int Size32(Memory memory) => (int)(memory.SizeInBytes / Memory.PageSize);

    public static long Size64(Memory memory) => memory.SizeInBytes / Memory.PageSize;

    public static int Grow32(int delta, Memory memory) => (int)memory.Grow((uint)delta);

    public static long Grow64(long delta, Memory memory) => delta < 0 ? -1 : memory.Grow((ulong)delta);

    private static void CheckRange(ulong start, ulong count, ulong limit)
    {
        if (start > limit || limit - start < count) Trap.MemoryOutOfBounds();
    }

    /// <summary>memory.init: the whole range is checked before any byte is written (spec 4.4.7).</summary>
    public static void Init32(int destination, int source, int count, int segment, InstanceContext context) =>
        Init64((uint)destination, source, count, segment, context);

    public static void Init64(long destination, int source, int count, int segment, InstanceContext context)
    {
        var memory = context.Memory!;
        var data = context.Data[segment] ?? Array.Empty<byte>();
        CheckRange((uint)source, (uint)count, (ulong)data.Length);
        CheckRange((ulong)destination, (uint)count, (ulong)memory.Length);
        data.AsSpan(source, count).CopyTo(new Span<byte>(memory.Base + destination, count));
    }

    public static void DataDrop(int segment, InstanceContext context) => context.Data[segment] = null;

    public static void Copy32(int destination, int source, int count, InstanceContext context) =>
        Copy64((uint)destination, (uint)source, (uint)count, context);

    public static void Copy64(long destination, long source, long count, InstanceContext context)
    {
        var memory = context.Memory!;
        ulong length = (ulong)memory.Length;
        CheckRange((ulong)source, (ulong)count, length);
        CheckRange((ulong)destination, (ulong)count, length);
        Buffer.MemoryCopy(memory.Base + source, memory.Base + destination, count, count);
    }

    public static void Fill32(int destination, int value, int count, InstanceContext context) =>
        Fill64((uint)destination, value, (uint)count, context);

    public static void Fill64(long destination, int value, long count, InstanceContext context)
    {
        var memory = context.Memory!;
        CheckRange((ulong)destination, (ulong)count, (ulong)memory.Length);
        byte* p = memory.Base + destination;
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, int.MaxValue);
            new Span<byte>(p, chunk).Fill((byte)value);
            p += chunk;
            count -= chunk;
        }
    }
}
