using Emulator.X86.Memory;
using Iced.Intel;

namespace Emulator.X86.Frontend;

/// <summary>
/// Feeds Iced the guest's code bytes through the vCPU's fetch translation, remembering the
/// physical pages the block came from (its key, and what invalidates it). A fetch that faults
/// ends the stream; the fault stays recorded in the CPU state for the translator to handle.
/// </summary>
internal sealed unsafe class GuestCodeReader : CodeReader
{
    private Cpu cpu = null!;
    private ulong linear;
    private ulong wrap;
    private ulong pageLinear = ulong.MaxValue;
    private byte* pageHost;

    public bool Faulted { get; private set; }

    public ulong FirstPhys { get; private set; }

    /// <summary>Physical page of a second page the block's code reaches into, or ulong.MaxValue.</summary>
    public ulong SecondPhysPage { get; private set; }

    public ulong BytesRead { get; private set; }

    /// <summary>Called with each physical page before the first byte is read from it (the cache marks it as holding code there).</summary>
    public Action<ulong>? EnteringPage { get; set; }

    public void Reset(Cpu cpu, ulong startLinear, ulong wrapMask)
    {
        this.cpu = cpu;
        linear = startLinear;
        wrap = wrapMask;
        pageLinear = ulong.MaxValue;
        Faulted = false;
        FirstPhys = ulong.MaxValue;
        SecondPhysPage = ulong.MaxValue;
        BytesRead = 0;
    }

    /// <summary>Takes back the last <paramref name="bytes"/> bytes, which reached into the second page: the block ends before them.</summary>
    public void Unread(ulong bytes)
    {
        BytesRead -= bytes;
        SecondPhysPage = ulong.MaxValue;
    }

    public override int ReadByte()
    {
        if (Faulted)
        {
            return -1;
        }

        ulong la = linear & wrap;
        ulong page = la & ~GuestMemory.PageMask;
        if (page != pageLinear)
        {
            if (!cpu.TranslateFetch(la, out ulong pa) || !cpu.Memory.Contains(pa & ~GuestMemory.PageMask, GuestMemory.PageSize))
            {
                if (cpu.S.ExceptionVector < 0)
                {
                    // Fetch from a hole in the physical address space: a machine check, not a crash.
                    cpu.RaiseException(State.Vector.MC);
                }

                Faulted = true;
                return -1;
            }

            if (FirstPhys == ulong.MaxValue)
            {
                FirstPhys = pa;
            }
            else
            {
                SecondPhysPage = pa & ~GuestMemory.PageMask;
            }

            EnteringPage?.Invoke(pa & ~GuestMemory.PageMask);
            pageLinear = page;
            pageHost = cpu.Memory.Ram + (pa & ~GuestMemory.PageMask);
        }

        linear++;
        BytesRead++;
        return pageHost[la & GuestMemory.PageMask];
    }
}
