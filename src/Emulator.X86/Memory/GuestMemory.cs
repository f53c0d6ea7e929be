using System.Runtime.InteropServices;

namespace Emulator.X86.Memory;

/// <summary>
/// Guest physical RAM: one native allocation, zero-filled lazily by the host (calloc of a large
/// size is backed by fresh anonymous pages). It also keeps one bit per 4 KiB page that says
/// whether translated code was made from the page, so writes to it invalidate that code.
/// <para>
/// The allocation is laid out as tier 1's WebAssembly linear memory: guest RAM at offset 0
/// (a guest physical address is a Wasm address), then one <see cref="VcpuArea"/> per vCPU
/// (its state block and TLBs), then the tier-1 code flags, so compiled blocks reach RAM,
/// state, TLB and block validity in one memory.
/// The guest sees only [0, Size); nothing maps a guest address past RAM.
/// </para>
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    public const ulong PageMask = PageSize - 1;

    /// <summary>
    /// Held shared by every vCPU while it runs guest code (ExecutionEngine.Run), and exclusively
    /// by a vCPU doing a LOCK-prefixed access that cannot be one host atomic (it crosses a page, or
    /// is not RAM): the other vCPUs are asked to stop at their next instruction boundary and wait,
    /// so a split lock is atomic against everything they do, as the bus lock it stands for (and as
    /// QEMU runs such an instruction alone). x86 makes split locks slow; Linux treats them as bugs.
    /// </summary>
    public ReaderWriterLockSlim Exclusive { get; } = new(LockRecursionPolicy.NoRecursion);

    private readonly List<Cpu> vcpus = [];

    /// <summary>A vCPU on this memory (its constructor calls it), so an exclusive access can ask it to stop.</summary>
    public void Attach(Cpu cpu)
    {
        lock (vcpus)
        {
            vcpus.Add(cpu);
        }
    }

    public void Detach(Cpu cpu)
    {
        lock (vcpus)
        {
            vcpus.Remove(cpu);
        }
    }

    /// <summary>Asks every vCPU but <paramref name="except"/> to leave its run at the next instruction boundary.</summary>
    public void RequestExitOthers(Cpu? except)
    {
        lock (vcpus)
        {
            foreach (var c in vcpus)
            {
                if (c != except && c.State != null)
                {
                    Interlocked.Exchange(ref c.S.ExitRequest, 1);
                }
            }
        }
    }

    /// <summary>vCPU areas reserved after RAM (untouched ones cost no host memory).</summary>
    public const int MaxVcpus = 256;

    /// <summary>One byte per live tier-1 block after the vCPU areas: non-zero once the block is invalid (compiled code reads it before chaining).</summary>
    public const int CodeFlagCount = 65536;

    /// <summary>Wasm's page size: the whole allocation is a multiple of it.</summary>
    private const ulong WasmPage = 65536;

    private readonly ulong[] codePages;
    private readonly bool[] areaUsed = new bool[MaxVcpus];
    private readonly Action? release;

    /// <summary>Allocates RAM and the vCPU areas itself.</summary>
    public GuestMemory(ulong size)
        : this(size, null, null)
    {
    }

    /// <summary>
    /// Lays RAM and the vCPU areas over memory someone else allocated (a Wasm engine's shared
    /// linear memory) of at least <see cref="TotalBytes"/>(size) zeroed bytes; <paramref name="release"/>
    /// frees it on Dispose.
    /// </summary>
    public GuestMemory(ulong size, byte* external, Action? release)
    {
        if (size == 0 || (size & PageMask) != 0)
        {
            throw new ArgumentException($"guest RAM size must be a non-zero multiple of 4 KiB, got {size}", nameof(size));
        }

        Size = size;
        AreaBase = AlignUp(size, WasmPage);
        Length = TotalBytes(size);
        Ram = external != null ? external : (byte*)NativeMemory.AllocZeroed((nuint)Length);
        this.release = external != null ? release : null;
        codePages = new ulong[(size >> PageShift) / 64 + 1];
    }

    /// <summary>The bytes a memory for <paramref name="ramSize"/> bytes of RAM spans: RAM, then the vCPU areas, in whole Wasm pages.</summary>
    public static ulong TotalBytes(ulong ramSize) => AlignUp(AlignUp(ramSize, WasmPage) + (ulong)(MaxVcpus * VcpuArea.Size) + CodeFlagCount, WasmPage);

    /// <summary>Host address of guest physical address 0 (and of Wasm address 0). Valid until Dispose.</summary>
    public byte* Ram { get; private set; }

    /// <summary>Guest RAM bytes.</summary>
    public ulong Size { get; }

    /// <summary>Bytes of the whole allocation (RAM and vCPU areas): the Wasm memory's length.</summary>
    public ulong Length { get; }

    /// <summary>Offset of the first vCPU area.</summary>
    public ulong AreaBase { get; }

    /// <summary>Offset of the tier-1 code flags (<see cref="CodeFlagCount"/> bytes).</summary>
    public ulong CodeFlagsBase => AreaBase + (ulong)(MaxVcpus * VcpuArea.Size);

    /// <summary>Tier-1 code flag <paramref name="index"/>.</summary>
    public ref byte CodeFlag(int index) => ref Ram[CodeFlagsBase + (ulong)(uint)index % CodeFlagCount];

    public bool Contains(ulong pa, ulong length) => pa < Size && length <= Size - pa;

    public Span<byte> Span(ulong pa, int length)
    {
        if (!Contains(pa, (ulong)length))
        {
            throw new ArgumentOutOfRangeException(nameof(pa), $"0x{pa:x}+{length} is outside guest RAM (size 0x{Size:x})");
        }

        return new Span<byte>(Ram + pa, length);
    }

    /// <summary>Takes a free vCPU area, zeroed; returns its offset from <see cref="Ram"/>.</summary>
    public ulong AllocateVcpuArea()
    {
        lock (areaUsed)
        {
            for (int i = 0; i < MaxVcpus; i++)
            {
                if (!areaUsed[i])
                {
                    areaUsed[i] = true;
                    ulong offset = AreaBase + (ulong)(i * VcpuArea.Size);
                    new Span<byte>(Ram + offset, VcpuArea.Size).Clear();
                    return offset;
                }
            }
        }

        throw new InvalidOperationException($"a guest memory serves at most {MaxVcpus} vCPUs");
    }

    public void FreeVcpuArea(ulong offset)
    {
        lock (areaUsed)
        {
            areaUsed[(int)((offset - AreaBase) / VcpuArea.Size)] = false;
        }
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

    /// <summary>
    /// The dirty-page log of live migration (null: not logging), one bit per RAM page, as QEMU's
    /// dirty bitmap. While it is on, a vCPU gets a TLB write tag for a page only after marking the
    /// page (Cpu.FillEntry), so compiled and interpreted stores, atomics and string operations all
    /// mark through that one fill; device DMA marks through <see cref="MarkDirty"/> after its bytes
    /// are written (GuestRamAccess), and the page walker for the accessed and dirty bits it sets.
    /// Firmware loading and a guest reset write RAM without marking: a migration holds resets.
    /// </summary>
    private ulong[]? dirtyLog;

    public bool IsLoggingDirty => Volatile.Read(ref dirtyLog) is not null;

    /// <summary>Marks the RAM pages of [pa, pa + length) dirty when the log is on.</summary>
    public void MarkDirty(ulong pa, ulong length)
    {
        var log = Volatile.Read(ref dirtyLog);
        if (log is null || length == 0 || pa >= Size)
        {
            return;
        }

        ulong last = (Math.Min(pa + length, Size) - 1) >> PageShift;
        for (ulong page = pa >> PageShift; page <= last; page++)
        {
            ref ulong word = ref log[page >> 6];
            ulong bit = 1UL << (int)(page & 63);
            if ((Volatile.Read(ref word) & bit) == 0)
            {
                Interlocked.Or(ref word, bit);
            }
        }
    }

    /// <summary>
    /// Starts the dirty log, or takes the pages it holds and starts it afresh
    /// (<paramref name="keepLogging"/>), or takes them and stops it. Returns the pages marked since
    /// the previous call, one bit per page (every page when the log was off: all must be sent).
    /// The swap is made with every vCPU stopped between instructions (<see cref="Exclusive"/>)
    /// and their write tags revoked, so no store is made through a tag from before the swap and
    /// every store after it marks its page again.
    /// </summary>
    public ulong[] SwapDirtyLog(bool keepLogging)
    {
        int words = (int)(((Size >> PageShift) + 63) / 64);
        RequestExitOthers(null);
        Exclusive.EnterWriteLock();
        try
        {
            var taken = dirtyLog;
            Volatile.Write(ref dirtyLog, keepLogging ? new ulong[words] : null);
            lock (vcpus)
            {
                foreach (var c in vcpus)
                {
                    c.RevokeAllWrites();
                }
            }

            if (taken is null)
            {
                taken = new ulong[words];
                Array.Fill(taken, ulong.MaxValue);
                ulong pages = Size >> PageShift;
                if (pages % 64 != 0)
                {
                    taken[^1] = (1UL << (int)(pages % 64)) - 1;
                }
            }

            return taken;
        }
        finally
        {
            Exclusive.ExitWriteLock();
        }
    }

    private static ulong AlignUp(ulong v, ulong a) => (v + a - 1) & ~(a - 1);

    public void Dispose()
    {
        if (Ram != null)
        {
            if (release is not null)
            {
                release();
            }
            else
            {
                NativeMemory.Free(Ram);
            }

            Ram = null;
        }
    }
}

/// <summary>
/// The layout of one vCPU's area in guest memory past RAM: its <see cref="State.CpuState"/>,
/// then its supervisor and user TLBs. Compiled blocks reach all three at these offsets from
/// the area's start. A test pins them.
/// </summary>
public static class VcpuArea
{
    public const int StateOffset = 0;

    /// <summary>Room for the state block (CpuStateLayoutTests checks it fits).</summary>
    public const int StateBytes = 4096;

    public const int SupervisorTlbOffset = StateOffset + StateBytes;
    public const int UserTlbOffset = SupervisorTlbOffset + Tlb.Bytes;

    /// <summary>
    /// The vCPU's tier-1 jump cache: 2^<see cref="JumpCacheBits"/> entries of 32 bytes (see the
    /// tier-1 backend's JumpCacheEntry), two ways per pair of entries. 16,384 entries (areas of
    /// 580 KiB): the shell loop's hot user and kernel blocks fit without evicting each other. (A
    /// 2-vCPU hang once blamed on this size was the guest's TSC watchdog race, fixed by reporting
    /// IA32_TSC_ADJUST; see Msrs.)
    /// </summary>
    public const int JumpCacheOffset = UserTlbOffset + Tlb.Bytes;
    public const int JumpCacheBits = 14;
    public const int JumpCacheBytes = 32 << JumpCacheBits;

    /// <summary>
    /// The vCPU's tier-1 module transfer counters: one u32 per module index (the tier-1 backend's
    /// module table size), added to by a module's run function when another module hands it
    /// control, and read and cleared by the tier-up thread, which merges modules that do that often.
    /// </summary>
    public const int ModuleTransfersOffset = JumpCacheOffset + JumpCacheBytes;
    public const int ModuleTransferCount = 16384;
    public const int Size = ModuleTransfersOffset + 4 * ModuleTransferCount;
}
