using System.Runtime.InteropServices;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// A linear memory (spec 4.2.8) over one native allocation. Compiled code caches <see cref="Base"/> and
/// <see cref="Length"/> in locals and reloads them after every call and memory.grow.
/// </summary>
public sealed unsafe class Memory
{
    public const int PageSize = 65536;

    /// <summary>Engine limit on pages when a module declares no (or a larger) maximum: 4 GiB.</summary>
    public const ulong EngineMaxPages = 65536;

    internal byte* Base;
    internal long Length;
    private readonly bool _owned;
    private readonly ulong _maxPages;
    private readonly object _growLock = new();

    public MemoryType Type { get; private set; }
    public bool IsShared => Type.Shared;
    public bool Is64 => Type.Is64;
    public long SizeInBytes => Volatile.Read(ref Length);
    public ulong Pages => (ulong)SizeInBytes / PageSize;
    public nint BasePointer => (nint)Base;

    /// <summary>Per-address wait queues for memory.atomic.wait/notify (threads proposal).</summary>
    internal readonly WaiterTable Waiters = new();

    public Memory(MemoryType type)
    {
        Type = type;
        _owned = true;
        _maxPages = Math.Min(type.Limits.Max ?? EngineMaxPages, EngineMaxPages);
        if (type.Limits.Min > _maxPages) throw new WasmLinkException("memory minimum exceeds the engine limit");
        // A shared memory never moves: other threads hold its base pointer (threads proposal), so
        // reserve the maximum up front; the OS commits pages lazily.
        ulong reserve = type.Shared ? _maxPages : type.Limits.Min;
        Base = (byte*)NativeMemory.AllocZeroed((nuint)Math.Max(reserve * PageSize, 1));
        Length = (long)(type.Limits.Min * PageSize);
    }

    private Memory(byte* buffer, long length, bool shared, bool is64)
    {
        Base = buffer;
        Length = length;
        ulong pages = (ulong)length / PageSize;
        _maxPages = pages;
        Type = new MemoryType(new Limits(pages, pages, shared, is64));
    }

    /// <summary>
    /// Wraps an existing native buffer (the emulator's guest RAM) without copying. The buffer must stay
    /// valid while any instance uses this memory; its length should be a multiple of 64 KiB, any tail
    /// beyond the last whole page is still addressable. The memory cannot grow.
    /// </summary>
    public static Memory WrapNative(nint buffer, long length, bool shared = false, bool is64 = false)
    {
        if (buffer == 0 || length < 0) throw new ArgumentException("invalid native buffer");
        return new Memory((byte*)buffer, length, shared, is64);
    }

    ~Memory()
    {
        if (_owned && Base != null) NativeMemory.Free(Base);
    }

    /// <summary>memory.grow (spec 4.4.7): the old size in pages, or -1 when the memory cannot grow.</summary>
    public long Grow(ulong deltaPages)
    {
        lock (_growLock)
        {
            ulong old = (ulong)Length / PageSize;
            if (deltaPages == 0) return (long)old;
            if (!_owned || deltaPages > _maxPages || old + deltaPages > _maxPages) return -1;
            ulong pages = old + deltaPages;
            if (!IsShared)
            {
                byte* fresh = (byte*)NativeMemory.AllocZeroed((nuint)(pages * PageSize));
                Buffer.MemoryCopy(Base, fresh, (long)(pages * PageSize), Length);
                NativeMemory.Free(Base);
                Base = fresh;
            }
            Volatile.Write(ref Length, (long)(pages * PageSize));
            Type = new MemoryType(Type.Limits with { Min = pages });
            return (long)old;
        }
    }

    /// <summary>A view of the bytes at [offset, offset+count); checked against the current size.</summary>
    public Span<byte> GetSpan(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset + count > Length) throw new ArgumentOutOfRangeException(nameof(offset));
        return new Span<byte>(Base + offset, count);
    }
}
