using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>Told when a store hits a page that holds translated code (self-modifying code).</summary>
public interface ICodeWriteObserver
{
    /// <summary>Invalidates translated code that overlaps the write; returns true if the page still holds other code.</summary>
    bool OnCodeWrite(Cpu cpu, ulong physAddr, int size);
}

/// <summary>
/// One vCPU: its state block (native, fixed layout), its softmmu TLB and its view of guest
/// memory. Memory accessors return false after recording a guest exception in the state;
/// they never throw on guest behaviour.
/// </summary>
public sealed unsafe partial class Cpu : IDisposable
{
    public Cpu(GuestMemory memory)
    {
        Memory = memory;
        ram = memory.Ram;
        AreaOffset = memory.AllocateVcpuArea();
        byte* area = memory.Ram + AreaOffset;
        State = (CpuState*)(area + VcpuArea.StateOffset);
        supervisorTlb = new Tlb((TlbEntry*)(area + VcpuArea.SupervisorTlbOffset));
        userTlb = new Tlb((TlbEntry*)(area + VcpuArea.UserTlbOffset));
        Tlb = supervisorTlb;
        Reset();
        memory.Attach(this);
    }

    /// <summary>The state block, in this vCPU's area of guest memory; valid until Dispose. Owned by this vCPU's thread.</summary>
    public CpuState* State { get; private set; }

    /// <summary>Offset of this vCPU's area (state, then TLBs; <see cref="VcpuArea"/>) in guest memory.</summary>
    public ulong AreaOffset { get; }

    /// <summary>Host address of guest physical 0, copied here for the TLB fast path.</summary>
    private readonly byte* ram;

    public ref CpuState S => ref *State;

    public GuestMemory Memory { get; }

    /// <summary>
    /// The TLB for the current privilege level. Supervisor and user accesses see different
    /// permissions for the same page, so each has its own TLB (as QEMU's MMU indexes), and a
    /// privilege change switches between them instead of flushing.
    /// </summary>
    public Tlb Tlb { get; private set; }

    private readonly Tlb supervisorTlb;
    private readonly Tlb userTlb;

    /// <summary>Current privilege level: CS.DPL in protected mode, 0 in real mode.</summary>
    public int Cpl => (S.Cr0 & 1) == 0 ? 0 : (S.Cs.Attrs >> 5) & 3;

    /// <summary>Selects the TLB for the current CPL; called whenever CS or CR0.PE changes.</summary>
    public void OnPrivilegeChange() => Tlb = Cpl == 3 ? userTlb : supervisorTlb;

    /// <summary>Flushes both TLBs (CR0/CR4 paging changes, mode changes).</summary>
    public void FlushTlb()
    {
        supervisorTlb.FlushAll();
        userTlb.FlushAll();
    }

    /// <summary>Flushes non-global entries of both TLBs (a CR3 write).</summary>
    public void FlushTlbNonGlobal()
    {
        supervisorTlb.FlushNonGlobal();
        userTlb.FlushNonGlobal();
    }

    /// <summary>Drops one linear page from both TLBs (INVLPG).</summary>
    public void FlushTlbPage(ulong linear)
    {
        supervisorTlb.FlushPage(linear);
        userTlb.FlushPage(linear);
    }

    /// <summary>Removes write access to a physical page from both TLBs (it now holds translated code).</summary>
    public void RevokeWrites(ulong physPage)
    {
        supervisorTlb.RevokeWrites(physPage);
        userTlb.RevokeWrites(physPage);
    }

    /// <summary>Removes every write tag (the dirty log started a new round); only while this vCPU runs no guest code.</summary>
    public void RevokeAllWrites()
    {
        supervisorTlb.RevokeAllWrites();
        userTlb.RevokeAllWrites();
    }

    public ICodeWriteObserver? CodeObserver { get; set; }

    /// <summary>Where IN and OUT go.</summary>
    public IPortBus Ports { get; set; } = EmptyPortBus.Instance;

    /// <summary>Where accesses to physical addresses outside RAM go; null: unassigned.</summary>
    public IMmioBus? Mmio { get; set; }

    /// <summary>The source of RDTSC.</summary>
    public IGuestClock Clock { get; set; } = new HostClock();

    /// <summary>This vCPU's index (APIC ID) in its machine.</summary>
    public int Index { get; init; }

    /// <summary>The translated block running now (set by the execution engine), so a store into it can stop it.</summary>
    public object? RunningBlock { get; set; }

    /// <summary>Accesses outside RAM with no device behind them (read as all ones, writes dropped).</summary>
    public long UnassignedAccesses { get; private set; }

    /// <summary>Power-on state (SDM Vol. 3A 9.1.1): real mode, CS:IP = F000:FFF0.</summary>
    public void Reset()
    {
        ref var s = ref S;
        Unsafe.InitBlockUnaligned(State, 0, (uint)sizeof(CpuState));
        s.Rflags = (ulong)RFlags.Fixed1;
        s.CcOp = Flags.CcOp.Eflags;
        s.Rip = 0xfff0;
        s.Cr0 = 0x60000010;
        s.Mxcsr = 0x1f80;
        s.MxcsrMask = 0xffff;
        s.Fcw = 0x037f;
        s.Ftw = 0xffff;
        s.ExceptionVector = -1;
        s.Pat = 0x0007040600070406;
        for (int i = 0; i < 6; i++)
        {
            ref var seg = ref Segment((Seg)i);
            seg.Selector = 0;
            seg.Base = 0;
            seg.Limit = 0xffff;
            seg.Attrs = 0x93; // present, writable data, accessed
        }

        s.Cs.Selector = 0xf000;
        s.Cs.Base = 0xffff0000;
        s.Cs.Attrs = 0x9b;
        FlushTlb();
        OnPrivilegeChange();
    }

    public ref SegmentReg Segment(Seg s)
    {
        switch (s)
        {
            case Seg.Es: return ref S.Es;
            case Seg.Cs: return ref S.Cs;
            case Seg.Ss: return ref S.Ss;
            case Seg.Ds: return ref S.Ds;
            case Seg.Fs: return ref S.Fs;
            default: return ref S.Gs;
        }
    }

    public ref ulong Reg(Gpr r) => ref S.Gpr[(int)r];

    /// <summary>The arithmetic flags materialised, merged with the rest of RFLAGS.</summary>
    public ulong Rflags
    {
        get => (S.Rflags & ~(ulong)RFlags.Arith) | Flags.LazyFlags.Compute(S.CcOp, S.CcDst, S.CcSrc1, S.CcSrc2) | (ulong)RFlags.Fixed1;
        set
        {
            S.Rflags = (value & ~(ulong)RFlags.Arith) | (ulong)RFlags.Fixed1;
            S.CcOp = Flags.CcOp.Eflags;
            S.CcSrc1 = value & (ulong)RFlags.Arith;
        }
    }

    public CpuMode Mode => CpuMode.Of(ref S);

    /// <summary>Records a guest exception for the running block to deliver.</summary>
    public void RaiseException(int vector, uint errorCode = 0, ulong address = 0)
    {
        S.ExceptionVector = vector;
        S.ExceptionErrorCode = errorCode;
        S.ExceptionAddress = address;
    }

    public void Dispose()
    {
        if (State != null)
        {
            Memory.Detach(this);
            State = null;
            Memory.FreeVcpuArea(AreaOffset);
        }
    }
}
