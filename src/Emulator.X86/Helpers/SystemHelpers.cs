using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>Helpers for system instructions: control registers, MSRs, CPUID, TSC, descriptor tables, I/O ports.</summary>
public static unsafe class SystemHelpers
{
    private const OpFlags Fx = HelperTable.Effects;

    public static readonly HelperInfo CpuidHelper = HelperTable.Define("cpuid", 0, Fx, &CpuidImpl);
    public static readonly HelperInfo Rdtsc = HelperTable.Define("rdtsc", 1, Fx, &RdtscImpl);
    public static readonly HelperInfo Rdmsr = HelperTable.Define("rdmsr", 0, Fx, &RdmsrImpl);
    public static readonly HelperInfo Wrmsr = HelperTable.Define("wrmsr", 0, Fx, &WrmsrImpl);
    public static readonly HelperInfo MovToCr = HelperTable.Define("mov_to_cr", 2, Fx, &MovToCrImpl);
    public static readonly HelperInfo MovFromCr = HelperTable.Define("mov_from_cr", 1, Fx, &MovFromCrImpl);
    public static readonly HelperInfo LoadTableReg = HelperTable.Define("load_table_reg", 3, Fx, &LoadTableRegImpl);
    public static readonly HelperInfo StoreTableReg = HelperTable.Define("store_table_reg", 3, Fx, &StoreTableRegImpl);
    public static readonly HelperInfo Lldt = HelperTable.Define("lldt", 1, Fx, &LldtImpl);
    public static readonly HelperInfo Ltr = HelperTable.Define("ltr", 1, Fx, &LtrImpl);
    public static readonly HelperInfo LoadSegment = HelperTable.Define("load_segment", 2, Fx, &LoadSegmentImpl);
    public static readonly HelperInfo Invlpg = HelperTable.Define("invlpg", 1, Fx, &InvlpgImpl);
    public static readonly HelperInfo In = HelperTable.Define("in", 2, Fx, &InImpl);
    public static readonly HelperInfo Out = HelperTable.Define("out", 3, Fx, &OutImpl);
    public static readonly HelperInfo Cli = HelperTable.Define("cli", 0, Fx, &CliImpl);
    public static readonly HelperInfo Sti = HelperTable.Define("sti", 0, Fx, &StiImpl);
    public static readonly HelperInfo SoftwareInterrupt = HelperTable.Define("software_interrupt", 2, Fx, &SoftwareInterruptImpl);
    public static readonly HelperInfo Barrier = HelperTable.Define("memory_barrier", 0, OpFlags.Memory, &BarrierImpl);

    private static ulong CpuidImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3)
    {
        ref var s = ref cpu.S;
        var (eax, ebx, ecx, edx) = cpu.Cpuid((uint)s.Gpr[0], (uint)s.Gpr[1]);
        s.Gpr[0] = eax;
        s.Gpr[3] = ebx;
        s.Gpr[1] = ecx;
        s.Gpr[2] = edx;
        return 0;
    }

    /// <summary>rdtsc(withAux): EDX:EAX = TSC (and ECX = TSC_AUX for RDTSCP). CR4.TSD makes it CPL 0 only.</summary>
    private static ulong RdtscImpl(Cpu cpu, ulong withAux, ulong a1, ulong a2, ulong a3)
    {
        ref var s = ref cpu.S;
        if ((s.Cr4 & (1 << 2)) != 0 && cpu.Cpl != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        ulong tsc = cpu.Tsc;
        s.Gpr[0] = (uint)tsc;
        s.Gpr[2] = tsc >> 32;
        if (withAux != 0)
        {
            s.Gpr[1] = (uint)s.TscAux;
        }

        return 0;
    }

    private static ulong RdmsrImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3)
    {
        ref var s = ref cpu.S;
        if (cpu.ReadMsr((uint)s.Gpr[1], out ulong v))
        {
            s.Gpr[0] = (uint)v;
            s.Gpr[2] = v >> 32;
        }

        return 0;
    }

    private static ulong WrmsrImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3)
    {
        ref var s = ref cpu.S;
        cpu.WriteMsr((uint)s.Gpr[1], (s.Gpr[2] << 32) | (uint)s.Gpr[0]);
        return 0;
    }

    private static ulong MovToCrImpl(Cpu cpu, ulong n, ulong value, ulong a2, ulong a3)
    {
        cpu.WriteControlRegister((int)n, value);
        return 0;
    }

    private static ulong MovFromCrImpl(Cpu cpu, ulong n, ulong a1, ulong a2, ulong a3) => n switch
    {
        0 => cpu.S.Cr0,
        2 => cpu.S.Cr2,
        3 => cpu.S.Cr3,
        4 => cpu.S.Cr4,
        _ => cpu.S.Cr8,
    };

    /// <summary>load_table_reg(which, addr, base64): LGDT (0) / LIDT (1) from m16&amp;32 or m16&amp;64.</summary>
    private static ulong LoadTableRegImpl(Cpu cpu, ulong which, ulong addr, ulong wide, ulong a3)
    {
        if (!cpu.Read(addr, 2, out ulong limit) || !cpu.Read(addr + 2, wide != 0 ? 8 : 4, out ulong baseAddr))
        {
            return 0;
        }

        if (wide != 0 && !Cpu.IsCanonical(baseAddr))
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        ref var t = ref which == 0 ? ref cpu.S.Gdtr : ref cpu.S.Idtr;
        t.Limit = (uint)limit;
        t.Base = baseAddr;
        return 0;
    }

    /// <summary>store_table_reg(which, addr, base64): SGDT (0) / SIDT (1).</summary>
    private static ulong StoreTableRegImpl(Cpu cpu, ulong which, ulong addr, ulong wide, ulong a3)
    {
        ref var t = ref which == 0 ? ref cpu.S.Gdtr : ref cpu.S.Idtr;

        // Both pieces are checked first: a store that faults writes nothing (SDM Vol. 3A 4.7).
        if (cpu.ProbeWrite(addr, wide != 0 ? 10 : 6) && cpu.Write(addr, 2, t.Limit))
        {
            cpu.Write(addr + 2, wide != 0 ? 8 : 4, t.Base);
        }

        return 0;
    }

    private static ulong LldtImpl(Cpu cpu, ulong selector, ulong a1, ulong a2, ulong a3)
    {
        cpu.LoadLdtr((ushort)selector);
        return 0;
    }

    private static ulong LtrImpl(Cpu cpu, ulong selector, ulong a1, ulong a2, ulong a3)
    {
        cpu.LoadTaskRegister((ushort)selector);
        return 0;
    }

    private static ulong LoadSegmentImpl(Cpu cpu, ulong seg, ulong selector, ulong a2, ulong a3)
    {
        cpu.LoadDataSegment((Seg)seg, (ushort)selector);
        return 0;
    }

    private static ulong InvlpgImpl(Cpu cpu, ulong addr, ulong a1, ulong a2, ulong a3)
    {
        cpu.FlushTlbPage(addr);
        return 0;
    }

    private static ulong InImpl(Cpu cpu, ulong port, ulong size, ulong a2, ulong a3) =>
        cpu.CheckIoPermission((ushort)port, (int)size) ? cpu.Ports.In((ushort)port, (int)size) : 0;

    private static ulong OutImpl(Cpu cpu, ulong port, ulong size, ulong value, ulong a3)
    {
        if (cpu.CheckIoPermission((ushort)port, (int)size))
        {
            cpu.Ports.Out((ushort)port, (int)size, (uint)value);
        }

        return 0;
    }

    /// <summary>CLI: allowed when CPL &lt;= IOPL (SDM Vol. 2A CLI; VME/PVI are not offered).</summary>
    private static ulong CliImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3)
    {
        if (cpu.Cpl > cpu.Iopl)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        cpu.S.Rflags &= ~(ulong)RFlags.IF;
        return 0;
    }

    /// <summary>STI: as CLI; interrupts stay blocked until after the next instruction.</summary>
    private static ulong StiImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3)
    {
        if (cpu.Cpl > cpu.Iopl)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        if ((cpu.S.Rflags & (ulong)RFlags.IF) == 0)
        {
            cpu.S.InterruptShadow = 1;
        }

        cpu.S.Rflags |= (ulong)RFlags.IF;
        return 0;
    }

    /// <summary>software_interrupt(vector, next_rip): INT n, INT3, INTO: a trap delivered with the gate's DPL checked.</summary>
    private static ulong SoftwareInterruptImpl(Cpu cpu, ulong vector, ulong nextRip, ulong a2, ulong a3)
    {
        cpu.RaiseException((int)vector);
        cpu.S.ExceptionSoftware = 1;
        cpu.S.ExceptionNextRip = nextRip;
        return 0;
    }

    private static ulong BarrierImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3)
    {
        Interlocked.MemoryBarrier();
        return 0;
    }
}
