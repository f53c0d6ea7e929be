using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>
/// Puts a vCPU into a flat execution mode without a guest boot sequence: for running machine
/// code on the CPU core alone (tests, benchmarks, the CPU demo). 64-bit mode here is long mode
/// with an identity mapping; the page walker arrives with the system-level CPU.
/// </summary>
public static unsafe class CpuSetup
{
    /// <summary>Flat protected (32), long (64) or 16-bit protected (16) mode; all segments base 0, limit 4 GiB.</summary>
    public static void EnterFlat(Cpu cpu, int bitness, ulong rip, ulong rsp)
    {
        ref var s = ref cpu.S;
        s.Cr0 = 0x11; // PE, ET
        s.Cr4 = 1 << 9 | 1 << 10; // OSFXSR, OSXMMEXCPT: SSE enabled
        s.Efer = bitness == 64 ? (1UL << 8) | (1UL << 10) : 0; // LME, LMA
        ushort dataAttrs = bitness == 16 ? (ushort)0x0093 : (ushort)0xc093; // P, S, RW data; G and B for 32/64
        ushort codeAttrs = bitness switch
        {
            64 => 0xa09b, // G, L
            32 => 0xc09b, // G, D
            _ => 0x009b,
        };
        for (int i = 0; i < 6; i++)
        {
            ref var seg = ref cpu.Segment((Seg)i);
            seg.Base = 0;
            seg.Limit = bitness == 16 ? 0xffffu : 0xffff_ffffu;
            seg.Selector = 0x10;
            seg.Attrs = dataAttrs;
        }

        s.Cs.Selector = 0x08;
        s.Cs.Attrs = codeAttrs;
        s.Rip = rip;
        s.Gpr[(int)Gpr.Rsp] = rsp;
        cpu.FlushTlb();
        cpu.OnPrivilegeChange();
    }

    /// <summary>Real mode with CS = DS = ES = SS = <paramref name="segment"/> (bases segment * 16).</summary>
    public static void EnterReal(Cpu cpu, ushort segment, ushort ip, ushort sp)
    {
        ref var s = ref cpu.S;
        s.Cr0 = 0x10;
        s.Efer = 0;
        for (int i = 0; i < 6; i++)
        {
            ref var seg = ref cpu.Segment((Seg)i);
            seg.Selector = segment;
            seg.Base = (ulong)segment << 4;
            seg.Limit = 0xffff;
            seg.Attrs = 0x93;
        }

        s.Cs.Attrs = 0x9b;
        s.Rip = ip;
        s.Gpr[(int)Gpr.Rsp] = sp;
        cpu.FlushTlb();
        cpu.OnPrivilegeChange();
    }
}
