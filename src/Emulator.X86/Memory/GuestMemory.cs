using System.Runtime.InteropServices;

namespace Emulator.X86.Memory;

/// <summary>
/// Guest physical RAM: one native allocation, zero-filled lazily by the host (calloc of a large
/// size is backed by fresh anonymous pages). It also keeps one bit per 4 KiB page that says
/// whether translated code was made from the page, so writes to it invalidate that code.
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    public const ulong PageMask = PageSize - 1;

    private readonly ulong[] codePages;

    public GuestMemory(ulong size)
    {
        if (size == 0 || (size & PageMask) != 0)
        {
            throw new ArgumentException($"guest RAM size must be a non-zero multiple of 4 KiB, got {size}", nameof(size));
        }

        Size = size;
        Ram = (byte*)NativeMemory.AllocZeroed((nuint)size);
        codePages = new ulong[(size >> PageShift) / 64 + 1];
    }

    /// <summary>Host address of guest physical address 0. Valid until Dispose.</summary>
    public byte* Ram { get; private set; }

    public ulong Size { get; }

    public bool Contains(ulong pa, ulong length) => pa < Size && length <= Size - pa;

    public Span<byte> Span(ulong pa, int length)
    {
        if (!Contains(pa, (ulong)length))
        {
            throw new ArgumentOutOfRangeException(nameof(pa), $"0x{pa:x}+{length} is outside guest RAM (size 0x{Size:x})");
        }

        return new Span<byte>(Ram + pa, length);
    }

    public bool IsCodePage(ulong pa)
    {
        ulong page = pa >> PageShift;
        return pa < Size && (Volatile.Read(ref codePages[page >> 6]) & (1UL << (int)(page & 63))) != 0;
    }

    /// <summary>Marks a page as holding translated code; returns true if it was not marked before.</summary>
    public bool MarkCodePage(ulong pa)
    {
        ulong page = pa >> PageShift;
        ulong bit = 1UL << (int)(page & 63);
        ulong old = Interlocked.Or(ref codePages[page >> 6], bit);
        return (old & bit) == 0;
    }

    public void ClearCodePage(ulong pa)
    {
        ulong page = pa >> PageShift;
        Interlocked.And(ref codePages[page >> 6], ~(1UL << (int)(page & 63)));
    }

    public void Dispose()
    {
        if (Ram != null)
        {
            NativeMemory.Free(Ram);
            Ram = null;
        }
    }
}
