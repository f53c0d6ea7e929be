using System.Runtime.InteropServices;
using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;
using Fa = Emulator.X86.Helpers.X87Arith;
using Fn = Emulator.X86.Helpers.X87Functions;
using Ls = Emulator.X86.Helpers.X87LoadStore;

namespace Emulator.X86.Frontend;

/// <summary>
/// The x87 FPU (SDM Vol. 1 chapter 8, Vol. 2A F* instructions). TOP is only known at run
/// time, so each instruction is one helper call on the state (Helpers/X87*.cs) with its
/// operand indices as constants; memory sources are loaded by IR and passed in, memory
/// destinations are written by the helper so a faulting store leaves the FPU unchanged.
/// FIP, FOP and FDP record the last non-control instruction's offset, opcode and operand
/// linear address; FCS and FDS read as 0. CR0.EM or CR0.TS raise #NM, and a pending unmasked
/// exception raises #MF (CR0.NE set) at the next waiting instruction, both in the helpers.
/// </summary>
public sealed partial class Translator
{
    private static readonly int FipOffset = (int)Marshal.OffsetOf<CpuState>(nameof(CpuState.Fip));
    private static readonly int FdpOffset = (int)Marshal.OffsetOf<CpuState>(nameof(CpuState.Fdp));
    private static readonly int FopOffset = (int)Marshal.OffsetOf<CpuState>(nameof(CpuState.Fop));

    static partial void RegisterX87(Emitter?[] t)
    {
        RegisterX87Arith(t);
        RegisterX87Control(t);
        t[(int)Mnemonic.Fld] = static (tr, in i) => tr.Fld(in i);
        t[(int)Mnemonic.Fild] = static (tr, in i) => tr.Fld(in i);
        t[(int)Mnemonic.Fbld] = static (tr, in i) => tr.Fld(in i);
        t[(int)Mnemonic.Fld1] = static (tr, in i) => tr.FldConst(in i, Ls.One);
        t[(int)Mnemonic.Fldl2t] = static (tr, in i) => tr.FldConst(in i, Ls.L2T);
        t[(int)Mnemonic.Fldl2e] = static (tr, in i) => tr.FldConst(in i, Ls.L2E);
        t[(int)Mnemonic.Fldpi] = static (tr, in i) => tr.FldConst(in i, Ls.Pi);
        t[(int)Mnemonic.Fldlg2] = static (tr, in i) => tr.FldConst(in i, Ls.Lg2);
        t[(int)Mnemonic.Fldln2] = static (tr, in i) => tr.FldConst(in i, Ls.Ln2);
        t[(int)Mnemonic.Fldz] = static (tr, in i) => tr.FldConst(in i, Ls.ZeroConst);
        t[(int)Mnemonic.Fst] = static (tr, in i) => tr.Fst(in i, pop: false);
        t[(int)Mnemonic.Fstp] = static (tr, in i) => tr.Fst(in i, pop: true);
        t[(int)Mnemonic.Fstpnce] = static (tr, in i) => tr.Fst(in i, pop: true);
        t[(int)Mnemonic.Fist] = static (tr, in i) => tr.Fst(in i, pop: false);
        t[(int)Mnemonic.Fistp] = static (tr, in i) => tr.Fst(in i, pop: true);
        t[(int)Mnemonic.Fisttp] = static (tr, in i) => tr.Fst(in i, pop: true, truncate: true);
        t[(int)Mnemonic.Fbstp] = static (tr, in i) => tr.Fst(in i, pop: true);
    }

    /// <summary>ST(i) of an x87 stack register operand.</summary>
    private static int StIndex(Register r) => r - Register.ST0;

    /// <summary>The x87 helpers' kind of a memory operand.</summary>
    private static int X87Kind(in Instruction insn) => insn.MemorySize switch
    {
        MemorySize.Float32 => Ls.F32,
        MemorySize.Float64 => Ls.F64,
        MemorySize.Float80 => Ls.F80,
        MemorySize.Int16 => Ls.I16,
        MemorySize.Int32 => Ls.I32,
        MemorySize.Bcd => Ls.Bcd,
        _ => Ls.I64,
    };

    /// <summary>The linear address of an x87 instruction's memory operand, or an invalid operand when it has none.</summary>
    private Operand X87Address(in Instruction insn) => insn.Op0Kind == OpKind.Memory ? EffectiveAddress(in insn) : default;

    /// <summary>
    /// Records FIP, FOP (and FDP for a memory operand) after a non-control instruction (SDM
    /// Vol. 1 8.1.8, 8.1.9). It follows the helper call, so a #MF for an earlier instruction's
    /// pending exception still reports that instruction's pointers.
    /// </summary>
    private void X87Retire(in Instruction insn, Operand addr)
    {
        b.StState(FipOffset, I64(Pc));
        b.StState(FopOffset, I16(X87Opcode(in insn)));
        if (addr.IsValid)
        {
            b.StState(FdpOffset, addr);
        }
    }

    /// <summary>
    /// FOP: the low 3 bits of the D8-DF opcode byte and the ModR/M byte (SDM Vol. 1 Figure
    /// 8-8), read back from the code bytes just decoded (prefixes and REX are never D8-DF).
    /// </summary>
    private ushort X87Opcode(in Instruction insn)
    {
        ulong csBase = Mode.Is64 ? 0 : cpu.S.Cs.Base;
        ulong wrap = Mode.Is64 ? ulong.MaxValue : 0xffff_ffff;
        for (int k = 0; k + 1 < insn.Length; k++)
        {
            int op = CodeByte((csBase + Pc + (ulong)k) & wrap);
            if (op is >= 0xD8 and <= 0xDF)
            {
                int modrm = CodeByte((csBase + Pc + (ulong)k + 1) & wrap);
                return modrm < 0 ? (ushort)0 : (ushort)(((op & 7) << 8) | modrm);
            }

            if (op < 0)
            {
                break;
            }
        }

        return 0;
    }

    /// <summary>A byte of the code being translated (already fetched once, so its page translates), or -1.</summary>
    private int CodeByte(ulong linear)
    {
        if (!cpu.TranslateFetch(linear, out ulong pa) || !cpu.Memory.Contains(pa, 1))
        {
            cpu.S.ExceptionVector = -1; // not a guest fault: the instruction was fetched already
            return -1;
        }

        return cpu.Memory.Span(pa, 1)[0];
    }

    /// <summary>Loads a memory operand of kind as (value, high); high is the sign/exponent word of an m80.</summary>
    private (Operand Value, Operand High) LoadX87Operand(Operand addr, int kind)
    {
        switch (kind)
        {
            case Ls.F80 or Ls.Bcd:
            {
                var lo = LoadMem(addr, IrType.I64);
                var hi = LoadMem(b.Add(addr, I64(8)), IrType.I16);
                return (lo, hi);
            }

            case Ls.F32 or Ls.I32:
                return (LoadMem(addr, IrType.I32), I64(0));
            case Ls.I16:
                return (LoadMem(addr, IrType.I16), I64(0));
            default:
                return (LoadMem(addr, IrType.I64), I64(0));
        }
    }

    private void Fld(in Instruction insn)
    {
        var addr = X87Address(in insn);
        if (!addr.IsValid)
        {
            b.Call(Ls.Load, I64(Ls.StReg), I64((ulong)StIndex(insn.Op0Register)), I64(0));
        }
        else
        {
            int kind = X87Kind(in insn);
            var (v, hi) = LoadX87Operand(addr, kind);
            b.Call(Ls.Load, I64((ulong)kind), v, hi);
        }

        X87Retire(in insn, addr);
    }

    private void FldConst(in Instruction insn, int index)
    {
        b.Call(Ls.Load, I64(Ls.Constant), I64((ulong)index), I64(0));
        X87Retire(in insn, default);
    }

    private void Fst(in Instruction insn, bool pop, bool truncate = false)
    {
        var addr = X87Address(in insn);
        if (!addr.IsValid)
        {
            b.Call(Ls.StoreSt, I64((ulong)StIndex(insn.Op0Register)), I64(pop ? 1UL : 0));
        }
        else
        {
            int kind = X87Kind(in insn) | (truncate ? Ls.Truncate : 0);
            b.Call(Ls.Store, addr, I64((ulong)kind), I64(pop ? 1UL : 0));
            stored = true;
        }

        X87Retire(in insn, addr);
    }

    private static void RegisterX87Arith(Emitter?[] t)
    {
        t[(int)Mnemonic.Fadd] = static (tr, in i) => tr.Farith(in i, Fa.Add, pop: false);
        t[(int)Mnemonic.Faddp] = static (tr, in i) => tr.Farith(in i, Fa.Add, pop: true);
        t[(int)Mnemonic.Fiadd] = static (tr, in i) => tr.Farith(in i, Fa.Add, pop: false);
        t[(int)Mnemonic.Fmul] = static (tr, in i) => tr.Farith(in i, Fa.Mul, pop: false);
        t[(int)Mnemonic.Fmulp] = static (tr, in i) => tr.Farith(in i, Fa.Mul, pop: true);
        t[(int)Mnemonic.Fimul] = static (tr, in i) => tr.Farith(in i, Fa.Mul, pop: false);
        t[(int)Mnemonic.Fsub] = static (tr, in i) => tr.Farith(in i, Fa.Sub, pop: false);
        t[(int)Mnemonic.Fsubp] = static (tr, in i) => tr.Farith(in i, Fa.Sub, pop: true);
        t[(int)Mnemonic.Fisub] = static (tr, in i) => tr.Farith(in i, Fa.Sub, pop: false);
        t[(int)Mnemonic.Fsubr] = static (tr, in i) => tr.Farith(in i, Fa.SubR, pop: false);
        t[(int)Mnemonic.Fsubrp] = static (tr, in i) => tr.Farith(in i, Fa.SubR, pop: true);
        t[(int)Mnemonic.Fisubr] = static (tr, in i) => tr.Farith(in i, Fa.SubR, pop: false);
        t[(int)Mnemonic.Fdiv] = static (tr, in i) => tr.Farith(in i, Fa.Div, pop: false);
        t[(int)Mnemonic.Fdivp] = static (tr, in i) => tr.Farith(in i, Fa.Div, pop: true);
        t[(int)Mnemonic.Fidiv] = static (tr, in i) => tr.Farith(in i, Fa.Div, pop: false);
        t[(int)Mnemonic.Fdivr] = static (tr, in i) => tr.Farith(in i, Fa.DivR, pop: false);
        t[(int)Mnemonic.Fdivrp] = static (tr, in i) => tr.Farith(in i, Fa.DivR, pop: true);
        t[(int)Mnemonic.Fidivr] = static (tr, in i) => tr.Farith(in i, Fa.DivR, pop: false);

        t[(int)Mnemonic.Fcom] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 0);
        t[(int)Mnemonic.Fcomp] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 1);
        t[(int)Mnemonic.Fcompp] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 2);
        t[(int)Mnemonic.Fucom] = static (tr, in i) => tr.Fcompare(in i, unordered: true, pops: 0);
        t[(int)Mnemonic.Fucomp] = static (tr, in i) => tr.Fcompare(in i, unordered: true, pops: 1);
        t[(int)Mnemonic.Fucompp] = static (tr, in i) => tr.Fcompare(in i, unordered: true, pops: 2);
        t[(int)Mnemonic.Ficom] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 0);
        t[(int)Mnemonic.Ficomp] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 1);
        t[(int)Mnemonic.Fcomi] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 0, eflags: true);
        t[(int)Mnemonic.Fcomip] = static (tr, in i) => tr.Fcompare(in i, unordered: false, pops: 1, eflags: true);
        t[(int)Mnemonic.Fucomi] = static (tr, in i) => tr.Fcompare(in i, unordered: true, pops: 0, eflags: true);
        t[(int)Mnemonic.Fucomip] = static (tr, in i) => tr.Fcompare(in i, unordered: true, pops: 1, eflags: true);

        t[(int)Mnemonic.Fchs] = static (tr, in i) => tr.Ffunc(in i, Fn.Chs);
        t[(int)Mnemonic.Fabs] = static (tr, in i) => tr.Ffunc(in i, Fn.Abs);
        t[(int)Mnemonic.Fsqrt] = static (tr, in i) => tr.Ffunc(in i, Fn.Sqrt);
        t[(int)Mnemonic.Frndint] = static (tr, in i) => tr.Ffunc(in i, Fn.Rndint);
        t[(int)Mnemonic.Fsin] = static (tr, in i) => tr.Ffunc(in i, Fn.Sin);
        t[(int)Mnemonic.Fcos] = static (tr, in i) => tr.Ffunc(in i, Fn.Cos);
        t[(int)Mnemonic.Fsincos] = static (tr, in i) => tr.Ffunc(in i, Fn.Sincos);
        t[(int)Mnemonic.Fptan] = static (tr, in i) => tr.Ffunc(in i, Fn.Ptan);
        t[(int)Mnemonic.Fpatan] = static (tr, in i) => tr.Ffunc(in i, Fn.Patan);
        t[(int)Mnemonic.F2xm1] = static (tr, in i) => tr.Ffunc(in i, Fn.F2xm1);
        t[(int)Mnemonic.Fyl2x] = static (tr, in i) => tr.Ffunc(in i, Fn.Yl2x);
        t[(int)Mnemonic.Fyl2xp1] = static (tr, in i) => tr.Ffunc(in i, Fn.Yl2xp1);
        t[(int)Mnemonic.Ftst] = static (tr, in i) => tr.Ffunc(in i, Fn.Tst);
        t[(int)Mnemonic.Fxam] = static (tr, in i) => tr.Ffunc(in i, Fn.Xam);
        t[(int)Mnemonic.Fxtract] = static (tr, in i) => tr.Ffunc(in i, Fn.Xtract);
        t[(int)Mnemonic.Fscale] = static (tr, in i) => tr.Ffunc(in i, Fn.Scale);
        t[(int)Mnemonic.Fprem] = static (tr, in i) => tr.Ffunc(in i, Fn.Prem);
        t[(int)Mnemonic.Fprem1] = static (tr, in i) => tr.Ffunc(in i, Fn.Prem1);
    }

    /// <summary>
    /// FADD FSUB FSUBR FMUL FDIV FDIVR in all forms: a memory source (ST(0) op m), ST(0) op ST(i),
    /// or ST(i) op ST(0); the P forms pop. The R forms compute src op dst.
    /// </summary>
    private void Farith(in Instruction insn, int op, bool pop)
    {
        var addr = X87Address(in insn);
        if (addr.IsValid)
        {
            int kind = X87Kind(in insn);
            var (v, hi) = LoadX87Operand(addr, kind);
            b.Call(Fa.Arith, I64((ulong)(op | Fa.CtlMemory)), v, hi, I64((ulong)kind));
        }
        else
        {
            int dst = insn.OpCount >= 1 ? StIndex(insn.Op0Register) : 1;
            int src = insn.OpCount >= 2 ? StIndex(insn.Op1Register) : 0;
            ulong ctl = (ulong)(op | (dst << 4) | (src << 8) | (pop ? Fa.CtlPop : 0));
            b.Call(Fa.Arith, I64(ctl), I64(0), I64(0), I64(0));
        }

        X87Retire(in insn, addr);
    }

    /// <summary>FCOM FUCOM FICOM (condition codes) and FCOMI FUCOMI (ZF, PF, CF), popping 0-2 times.</summary>
    private void Fcompare(in Instruction insn, bool unordered, int pops, bool eflags = false)
    {
        var addr = X87Address(in insn);
        int ctl = (unordered ? Fa.CmpUnordered : 0) | (pops << 1) | (eflags ? Fa.CmpEflags : 0);
        Operand flags;
        if (addr.IsValid)
        {
            int kind = X87Kind(in insn);
            var (v, hi) = LoadX87Operand(addr, kind);
            flags = b.Call(Fa.Compare, I64((ulong)(ctl | Fa.CmpMemory)), v, hi, I64((ulong)kind));
        }
        else
        {
            int src = insn.OpCount >= 2 ? StIndex(insn.Op1Register) : 1;
            flags = b.Call(Fa.Compare, I64((ulong)(ctl | (src << 8))), I64(0), I64(0), I64(0));
        }

        if (eflags)
        {
            SetFlagsMaterialized(flags);
        }

        X87Retire(in insn, addr);
    }

    private void Ffunc(in Instruction insn, int op)
    {
        b.Call(Fn.Func, I64((ulong)op));
        X87Retire(in insn, default);
    }
}
