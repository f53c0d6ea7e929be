namespace Emulator.Ir;

/// <summary>
/// Builds an <see cref="IrBlock"/>: one method per op, each returning its result operand
/// (as ARMeilleure's EmitterContext). Constant operands are folded where that is free.
/// </summary>
public sealed class IrBuilder
{
    public IrBuilder(IrBlock block) => Block = block;

    public IrBlock Block { get; }

    /// <summary>The guest instruction the following ops belong to.</summary>
    public int CurrentInsn { get; private set; } = -1;

    /// <summary>Starts a new guest instruction at <paramref name="pc"/>.</summary>
    public void BeginInsn(ulong pc)
    {
        Block.InsnPcs.Add(pc);
        CurrentInsn = Block.InsnPcs.Count - 1;
    }

    public static Operand Const(ulong value, IrType t) => Operand.Const(value, t);

    public static Operand I8(ulong v) => Operand.Const(v, IrType.I8);

    public static Operand I16(ulong v) => Operand.Const(v, IrType.I16);

    public static Operand I32(ulong v) => Operand.Const(v, IrType.I32);

    public static Operand I64(ulong v) => Operand.Const(v, IrType.I64);

    private ref IrInst Emit(IrOpcode op, IrType type, ulong imm = 0)
    {
        ref var i = ref Block.Append();
        i.Op = op;
        i.Type = type;
        i.Flags = OpTable.Get(op).Flags;
        i.Imm = imm;
        i.Insn = CurrentInsn;
        return ref i;
    }

    private Operand Result(ref IrInst i)
    {
        i.Dest = Block.NewTemp(i.Type);
        return Operand.TempOf(i.Dest, i.Type);
    }

    private Operand Unary(IrOpcode op, Operand a, IrType? type = null)
    {
        ref var i = ref Emit(op, type ?? a.Type);
        i.A = a;
        return Result(ref i);
    }

    private Operand Binary(IrOpcode op, Operand a, Operand b)
    {
        CheckSame(op, a, b);
        ref var i = ref Emit(op, a.Type);
        i.A = a;
        i.B = b;
        return Result(ref i);
    }

    private static void CheckSame(IrOpcode op, Operand a, Operand b)
    {
        if (a.Type != b.Type)
        {
            throw new InvalidOperationException($"{op}: operand types differ ({a.Type.Name()} and {b.Type.Name()})");
        }
    }

    public Operand LdState(int offset, IrType t) => Result(ref Emit(IrOpcode.LdState, t, (ulong)offset));

    public void StState(int offset, Operand value)
    {
        ref var i = ref Emit(IrOpcode.StState, value.Type, (ulong)offset);
        i.A = value;
    }

    /// <summary>Loads <paramref name="t"/> from a guest linear address (zero-extended).</summary>
    public Operand Load(Operand addr, IrType t)
    {
        ref var i = ref Emit(IrOpcode.Load, t);
        i.A = addr;
        return Result(ref i);
    }

    public void Store(Operand addr, Operand value)
    {
        ref var i = ref Emit(IrOpcode.Store, value.Type);
        i.A = addr;
        i.B = value;
    }

    /// <summary>Atomically applies <paramref name="op"/> to memory; returns the old value.</summary>
    public Operand AtomicRmw(AtomicOp op, Operand addr, Operand value)
    {
        ref var i = ref Emit(IrOpcode.AtomicRmw, value.Type, (ulong)op);
        i.A = addr;
        i.B = value;
        return Result(ref i);
    }

    /// <summary>Atomic compare-and-swap; returns the old memory value.</summary>
    public Operand AtomicCas(Operand addr, Operand expected, Operand replacement)
    {
        CheckSame(IrOpcode.AtomicCas, expected, replacement);
        ref var i = ref Emit(IrOpcode.AtomicCas, expected.Type);
        i.A = addr;
        i.B = expected;
        i.C = replacement;
        return Result(ref i);
    }

    public Operand Add(Operand a, Operand b) => b.IsConstValue(0) ? a : Binary(IrOpcode.Add, a, b);

    public Operand Sub(Operand a, Operand b) => b.IsConstValue(0) ? a : Binary(IrOpcode.Sub, a, b);

    public Operand Mul(Operand a, Operand b) => Binary(IrOpcode.Mul, a, b);

    public Operand MulHiU(Operand a, Operand b) => Binary(IrOpcode.MulHiU, a, b);

    public Operand MulHiS(Operand a, Operand b) => Binary(IrOpcode.MulHiS, a, b);

    public Operand And(Operand a, Operand b) => b.IsConstValue(ulong.MaxValue) ? a : Binary(IrOpcode.And, a, b);

    public Operand Or(Operand a, Operand b) => b.IsConstValue(0) ? a : Binary(IrOpcode.Or, a, b);

    public Operand Xor(Operand a, Operand b) => b.IsConstValue(0) ? a : Binary(IrOpcode.Xor, a, b);

    /// <summary>Shifts take the count at the value's type; counts at or beyond the width give 0 (Shl, Shr) or the sign (Sar).</summary>
    public Operand Shl(Operand a, Operand count) => count.IsConstValue(0) ? a : Binary(IrOpcode.Shl, a, count);

    public Operand Shr(Operand a, Operand count) => count.IsConstValue(0) ? a : Binary(IrOpcode.Shr, a, count);

    public Operand Sar(Operand a, Operand count) => count.IsConstValue(0) ? a : Binary(IrOpcode.Sar, a, count);

    /// <summary>Rotates by count modulo the width.</summary>
    public Operand Rotl(Operand a, Operand count) => Binary(IrOpcode.Rotl, a, count);

    public Operand Rotr(Operand a, Operand count) => Binary(IrOpcode.Rotr, a, count);

    public Operand Neg(Operand a) => Unary(IrOpcode.Neg, a);

    public Operand Not(Operand a) => Unary(IrOpcode.Not, a);

    /// <summary>Leading zeros; the width for 0.</summary>
    public Operand Clz(Operand a) => Unary(IrOpcode.Clz, a);

    /// <summary>Trailing zeros; the width for 0.</summary>
    public Operand Ctz(Operand a) => Unary(IrOpcode.Ctz, a);

    public Operand Popcnt(Operand a) => Unary(IrOpcode.Popcnt, a);

    public Operand Bswap(Operand a) => Unary(IrOpcode.Bswap, a);

    public Operand ZExt(Operand a, IrType to) => a.Type == to ? a : Widen(IrOpcode.ZExt, a, to);

    public Operand SExt(Operand a, IrType to) => a.Type == to ? a : Widen(IrOpcode.SExt, a, to);

    public Operand Trunc(Operand a, IrType to)
    {
        if (a.Type == to)
        {
            return a;
        }

        if (to > a.Type)
        {
            throw new InvalidOperationException($"Trunc from {a.Type.Name()} to wider {to.Name()}");
        }

        return a.IsConst ? Operand.Const(a.Value, to) : Unary(IrOpcode.Trunc, a, to);
    }

    /// <summary>Zero-extends or truncates to <paramref name="to"/>.</summary>
    public Operand Resize(Operand a, IrType to) => to >= a.Type ? ZExt(a, to) : Trunc(a, to);

    private Operand Widen(IrOpcode op, Operand a, IrType to)
    {
        if (to < a.Type)
        {
            throw new InvalidOperationException($"{op} from {a.Type.Name()} to narrower {to.Name()}");
        }

        if (a.IsConst && op == IrOpcode.ZExt)
        {
            return Operand.Const(a.Value, to);
        }

        return Unary(op, a, to);
    }

    /// <summary>1 (as <paramref name="result"/>) when a cond b holds, else 0.</summary>
    public Operand SetCond(IrCond cond, Operand a, Operand b, IrType result = IrType.I8)
    {
        CheckSame(IrOpcode.SetCond, a, b);
        ref var i = ref Emit(IrOpcode.SetCond, result, (ulong)cond);
        i.A = a;
        i.B = b;
        return Result(ref i);
    }

    /// <summary><paramref name="cond"/> != 0 ? a : b.</summary>
    public Operand Select(Operand cond, Operand a, Operand b)
    {
        CheckSame(IrOpcode.Select, a, b);
        if (cond.IsConst)
        {
            return cond.Value != 0 ? a : b;
        }

        ref var i = ref Emit(IrOpcode.Select, a.Type);
        i.A = cond;
        i.B = a;
        i.C = b;
        return Result(ref i);
    }

    /// <summary>Calls a helper; arguments are passed as i64. Returns its i64 result.</summary>
    public Operand Call(HelperInfo helper, params ReadOnlySpan<Operand> args)
    {
        if (args.Length != helper.Args)
        {
            throw new InvalidOperationException($"helper {helper.Name} takes {helper.Args} arguments, got {args.Length}");
        }

        // Widen the arguments first: Emit appends, so the call must be the last op added.
        Span<Operand> wide = stackalloc Operand[4];
        for (int k = 0; k < args.Length; k++)
        {
            wide[k] = ZExt(args[k], IrType.I64);
        }

        ref var i = ref Emit(IrOpcode.Call, IrType.I64, (ulong)helper.Id);
        i.Flags = OpFlags.HasResult | OpFlags.HasImm | helper.Effects;
        for (int k = 0; k < args.Length; k++)
        {
            i.SetArg(k, wide[k]);
        }

        return Result(ref i);
    }

    /// <summary>Leaves the block for <paramref name="targetPc"/> when <paramref name="cond"/> != 0.</summary>
    public void ExitIf(Operand cond, ulong targetPc)
    {
        ref var i = ref Emit(IrOpcode.ExitIf, cond.Type, targetPc);
        i.A = cond;
    }

    /// <summary>
    /// Leaves the block when <paramref name="cond"/> != 0 without completing the current
    /// instruction, which runs again from its start (a locked update that lost a race).
    /// </summary>
    public void RetryIf(Operand cond)
    {
        ref var i = ref Emit(IrOpcode.RetryIf, cond.Type);
        i.A = cond;
    }

    /// <summary>Ends the block with a direct jump to a known pc (may be chained).</summary>
    public void Goto(ulong targetPc) => Emit(IrOpcode.Goto, IrType.I64, targetPc);

    /// <summary>Ends the block with a jump to a computed pc.</summary>
    public void GotoIndirect(Operand target)
    {
        var wide = ZExt(target, IrType.I64);
        ref var i = ref Emit(IrOpcode.GotoIndirect, IrType.I64);
        i.A = wide;
    }

    /// <summary>Ends the block and returns to the dispatcher at <paramref name="nextPc"/> (after a mode or state change).</summary>
    public void Exit(ulong nextPc) => Emit(IrOpcode.Exit, IrType.I64, nextPc);

    /// <summary>Raises guest exception <paramref name="vector"/> at the current instruction.</summary>
    public void Raise(int vector, Operand errorCode)
    {
        var wide = ZExt(errorCode, IrType.I64);
        ref var i = ref Emit(IrOpcode.Raise, IrType.I64, (ulong)vector);
        i.A = wide;
    }

    /// <summary>
    /// Raises guest exception <paramref name="vector"/> with <paramref name="errorCode"/> at the
    /// current instruction when <paramref name="cond"/> != 0, and goes on otherwise (a check
    /// inline in compiled code instead of a helper call: the alignment of an SSE operand).
    /// </summary>
    public void FaultIf(Operand cond, int vector, Operand errorCode)
    {
        var wide = ZExt(errorCode, IrType.I64);
        ref var i = ref Emit(IrOpcode.FaultIf, cond.Type, (ulong)vector);
        i.A = cond;
        i.B = wide;
    }

    /// <summary>After an instruction that stored to memory: leave at <paramref name="nextPc"/> if the store hit this block's code.</summary>
    public void SmcCheck(ulong nextPc) => Emit(IrOpcode.SmcCheck, IrType.I64, nextPc);
}
