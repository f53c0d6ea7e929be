using System.Runtime.InteropServices;

namespace Emulator.X86.State;

/// <summary>A segment register with its hidden descriptor cache (Intel SDM Vol. 3A 3.4.3).</summary>
[StructLayout(LayoutKind.Sequential, Size = 24)]
public struct SegmentReg
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;

    /// <summary>Descriptor attribute bits 8..23 of the high dword, shifted down by 8 (type, S, DPL, P, AVL, L, D/B, G).</summary>
    public ushort Attrs;
    public ulong Reserved;
}

/// <summary>GDTR/IDTR.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public struct TableReg
{
    public ulong Base;
    public uint Limit;
    public uint Reserved;
}

/// <summary>An x87 register in its 80-bit form; MMX registers alias the mantissa (SDM Vol. 1 9.2).</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public struct Float80
{
    public ulong Mantissa;
    public ushort SignExponent;
}

/// <summary>
/// The architectural state of one vCPU, as one fixed-layout block that generated code reaches
/// by offset (<see cref="CpuStateOffsets"/>; a test pins them). It lives in native memory owned
/// by <see cref="Cpu"/>. Arithmetic flags are lazy: cc_op says which operation last set them
/// and cc_dst/cc_src1/cc_src2 hold its result and operands (see Flags/LazyFlags.cs); the
/// other RFLAGS bits (DF, IF, TF, IOPL, AC, ID ...) live in Rflags.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct CpuState
{
    public fixed ulong Gpr[16];
    public ulong Rip;
    public ulong Rflags;
    public ulong CcDst;
    public ulong CcSrc1;
    public ulong CcSrc2;
    public ulong CcOp;

    public SegmentReg Es;
    public SegmentReg Cs;
    public SegmentReg Ss;
    public SegmentReg Ds;
    public SegmentReg Fs;
    public SegmentReg Gs;
    public SegmentReg Ldtr;
    public SegmentReg Tr;
    public TableReg Gdtr;
    public TableReg Idtr;

    public ulong Cr0;
    public ulong Cr2;
    public ulong Cr3;
    public ulong Cr4;
    public ulong Cr8;
    public ulong Efer;
    public fixed ulong Dr[8];

    // Model-specific registers kept in state (SDM Vol. 4); the rest are answered by the MSR model.
    public ulong Star;
    public ulong Lstar;
    public ulong Cstar;
    public ulong Sfmask;
    public ulong KernelGsBase;
    public ulong SysenterCs;
    public ulong SysenterEsp;
    public ulong SysenterEip;
    public ulong TscAux;
    public ulong Pat;
    public ulong ApicBase;
    public ulong MiscEnable;

    // SSE: XMM0-15, then one scratch register for memory operands of SSE helpers.
    public fixed ulong Xmm[17 * 2];
    public uint Mxcsr;
    public uint MxcsrMask;

    // x87: physical registers R0-R7 (ST(i) is R[(TOP+i) & 7]), control/status/tag words.
    public Float80 Fpr0;
    public Float80 Fpr1;
    public Float80 Fpr2;
    public Float80 Fpr3;
    public Float80 Fpr4;
    public Float80 Fpr5;
    public Float80 Fpr6;
    public Float80 Fpr7;
    public ushort Fcw;
    public ushort Fsw;

    /// <summary>Full tag word, 2 bits per physical register: 00 valid, 01 zero, 10 special, 11 empty.</summary>
    public ushort Ftw;
    public ushort Fop;
    public ulong Fip;
    public ulong Fdp;

    // Pending guest exception raised by the running block (vector -1: none).
    public int ExceptionVector;
    public uint ExceptionErrorCode;
    public ulong ExceptionAddress;

    /// <summary>Non-zero for INT n / INT3 / INTO: the gate's DPL is checked and the return address is ExceptionNextRip.</summary>
    public int ExceptionSoftware;
    public ulong ExceptionNextRip;

    /// <summary>Interrupts are inhibited until after the next instruction (STI, MOV SS; SDM Vol. 3A 6.8.3).</summary>
    public int InterruptShadow;

    /// <summary>Non-zero asks the running block to stop at its next exit or SMC check.</summary>
    public int ExitRequest;

    /// <summary>Set when a store invalidated the block that is running (self-modifying code).</summary>
    public int CurrentTbInvalidated;

    /// <summary>Set by HLT; the run loop stops or sleeps until an interrupt.</summary>
    public int Halted;

    /// <summary>Guest instructions retired so far.</summary>
    public ulong InstructionCount;

    /// <summary>Tier-1 code chains from block to block only while InstructionCount is below this (the run's budget).</summary>
    public ulong InstructionLimit;
}
