namespace Emulator.Ir.Passes;

/// <summary>
/// One forward pass that folds pure ops on constants, applies algebraic identities, and
/// forwards CPU state: a LdState of a slot that the block already stored or loaded (with no
/// call in between that may write state) takes that value instead. It also numbers values:
/// a pure op identical to an earlier one (same op, type, immediate and operands) reuses its
/// result. Replaced ops are marked dead and their uses rewritten.
/// </summary>
public static class ConstantFolding
{
    public static void Run(IrBlock block)
    {
        var subst = new Operand[block.TempCount];
        var known = new List<(int Offset, IrType Type, Operand Value)>();
        var numbered = new Dictionary<(IrOpcode, IrType, ulong, Operand, Operand, Operand, Operand), Operand>();
        for (int k = 0; k < block.Count; k++)
        {
            ref var i = ref block[k];
            if (i.Dead)
            {
                continue;
            }

            int n = i.ArgCount;
            for (int a = 0; a < n; a++)
            {
                var arg = i.Arg(a);
                if (!arg.IsConst && arg.IsValid && subst[arg.Temp].IsValid)
                {
                    i.SetArg(a, subst[arg.Temp]);
                }
            }

            switch (i.Op)
            {
                case IrOpcode.LdState:
                    if (Find(known, (int)i.Imm, i.Type) is { IsValid: true } v)
                    {
                        Replace(ref i, subst, v);
                    }
                    else
                    {
                        Forget(known, (int)i.Imm, i.Type.Bytes());
                        known.Add(((int)i.Imm, i.Type, Operand.TempOf(i.Dest, i.Type)));
                    }

                    continue;
                case IrOpcode.StState:
                    Forget(known, (int)i.Imm, i.Type.Bytes());
                    known.Add(((int)i.Imm, i.Type, i.A));
                    continue;
                case IrOpcode.Call when i.Is(OpFlags.WritesState):
                    known.Clear();
                    continue;
            }

            if ((i.Flags & OpFlags.Pure) == 0)
            {
                continue;
            }

            if (Simplify(in i) is { IsValid: true } s)
            {
                Replace(ref i, subst, s);
                continue;
            }

            var key = (i.Op, i.Type, i.Imm, i.A, i.B, i.C, i.D);
            if (numbered.TryGetValue(key, out var same))
            {
                Replace(ref i, subst, same);
            }
            else
            {
                numbered[key] = Operand.TempOf(i.Dest, i.Type);
            }
        }
    }

    private static Operand Find(List<(int Offset, IrType Type, Operand Value)> known, int offset, IrType t)
    {
        foreach (var e in known)
        {
            if (e.Offset == offset && e.Type == t)
            {
                return e.Value;
            }
        }

        return default;
    }

    private static void Forget(List<(int Offset, IrType Type, Operand Value)> known, int offset, int size) =>
        known.RemoveAll(e => e.Offset < offset + size && offset < e.Offset + e.Type.Bytes());

    private static void Replace(ref IrInst i, Operand[] subst, Operand v)
    {
        subst[i.Dest] = v;
        i.Dead = true;
    }

    /// <summary>The operand a pure op reduces to, or default when it does not reduce.</summary>
    private static Operand Simplify(in IrInst i)
    {
        var t = i.Type;
        int n = i.ArgCount;
        bool allConst = true;
        for (int a = 0; a < n; a++)
        {
            allConst &= i.Arg(a).IsConst;
        }

        if (i.Op == IrOpcode.Call)
        {
            var helper = HelperRegistry.Get((int)i.Imm);
            return allConst && helper.Fold is { } fold ? Operand.Const(fold(i.A.Value, i.B.Value, i.C.Value, i.D.Value), t) : default;
        }

        if (allConst)
        {
            var argType = n > 0 ? (i.Op == IrOpcode.Select ? i.B.Type : i.A.Type) : t;
            return Operand.Const(IrEval.Pure(i.Op, t, argType, i.Imm, i.A.Value, i.B.Value, i.C.Value), t);
        }

        var a0 = i.A;
        var b0 = i.B;
        return i.Op switch
        {
            IrOpcode.Add or IrOpcode.Or or IrOpcode.Xor when b0.IsConstValue(0) => a0,
            IrOpcode.Add or IrOpcode.Or or IrOpcode.Xor when a0.IsConstValue(0) => b0,
            IrOpcode.Sub or IrOpcode.Shl or IrOpcode.Shr or IrOpcode.Sar or IrOpcode.Rotl or IrOpcode.Rotr when b0.IsConstValue(0) => a0,
            IrOpcode.And when b0.IsConstValue(0) || a0.IsConstValue(0) => Operand.Const(0, t),
            IrOpcode.And when b0.IsConstValue(ulong.MaxValue) => a0,
            IrOpcode.And when a0.IsConstValue(ulong.MaxValue) => b0,
            IrOpcode.Mul when b0.IsConstValue(1) => a0,
            IrOpcode.Mul when a0.IsConstValue(1) => b0,
            IrOpcode.Mul when b0.IsConstValue(0) || a0.IsConstValue(0) => Operand.Const(0, t),
            IrOpcode.Xor or IrOpcode.Sub when a0 == b0 => Operand.Const(0, t),
            IrOpcode.And or IrOpcode.Or when a0 == b0 => a0,
            IrOpcode.Select when a0.IsConst => a0.Value != 0 ? b0 : i.C,
            IrOpcode.Select when b0 == i.C => b0,
            _ => default,
        };
    }
}
