namespace Emulator.Ir;

[Flags]
public enum OpFlags : ushort
{
    None = 0,
    /// <summary>Produces a value (a new temp).</summary>
    HasResult = 1 << 0,
    /// <summary>Reads CPU state (a slot named by Imm, or any state for calls).</summary>
    ReadsState = 1 << 1,
    /// <summary>Writes CPU state.</summary>
    WritesState = 1 << 2,
    /// <summary>Touches guest memory or devices: never removed, never reordered.</summary>
    Memory = 1 << 3,
    /// <summary>May raise a guest exception: all state must be precise before it.</summary>
    MayFault = 1 << 4,
    /// <summary>Leaves the block when taken (a side exit) or always (with EndsBlock).</summary>
    Exits = 1 << 5,
    /// <summary>Last op of a block: nothing may follow it.</summary>
    EndsBlock = 1 << 6,
    /// <summary>Result depends only on the operands: safe to fold, dedupe or delete when unused.</summary>
    Pure = 1 << 7,
    /// <summary>a op b == b op a.</summary>
    Commutative = 1 << 8,
    /// <summary>Imm is a number the printer shows (offset, helper id, pc, condition ...).</summary>
    HasImm = 1 << 9,
}

/// <summary>How the Imm of an op is printed.</summary>
public enum ImmKind : byte
{
    None,
    Value,
    StateOffset,
    Cond,
    Atomic,
    Helper,
    GuestPc,
    Vector,
}

public readonly record struct OpInfo(string Name, int Operands, OpFlags Flags, ImmKind Imm)
{
    public bool HasResult => (Flags & OpFlags.HasResult) != 0;
    public bool Is(OpFlags f) => (Flags & f) == f;
}

/// <summary>
/// The one declarative description of every IR op (as QEMU's tcg-opc.h): operand count,
/// result, and the properties passes and backends rely on. Each consumer (interpreter, Wasm
/// backend, printer) must handle every op listed here; a test checks that.
/// </summary>
public static class OpTable
{
    private const OpFlags R = OpFlags.HasResult;
    private const OpFlags P = OpFlags.Pure | R;
    private const OpFlags C = OpFlags.Commutative;

    private static readonly OpInfo[] Infos = Build();

    public static ref readonly OpInfo Get(IrOpcode op) => ref Infos[(int)op];

    public static int Count => Infos.Length;

    public static IEnumerable<IrOpcode> All => Enum.GetValues<IrOpcode>();

    private static OpInfo[] Build()
    {
        var t = new OpInfo[Enum.GetValues<IrOpcode>().Length];
        void Def(IrOpcode op, int operands, OpFlags flags, ImmKind imm = ImmKind.None) =>
            t[(int)op] = new OpInfo(op.ToString(), operands, flags | (imm != ImmKind.None ? OpFlags.HasImm : 0), imm);

        Def(IrOpcode.Const, 0, P, ImmKind.Value);
        Def(IrOpcode.LdState, 0, R | OpFlags.ReadsState, ImmKind.StateOffset);
        Def(IrOpcode.StState, 1, OpFlags.WritesState, ImmKind.StateOffset);
        Def(IrOpcode.Load, 1, R | OpFlags.Memory | OpFlags.MayFault);
        Def(IrOpcode.Store, 2, OpFlags.Memory | OpFlags.MayFault);
        Def(IrOpcode.AtomicRmw, 2, R | OpFlags.Memory | OpFlags.MayFault, ImmKind.Atomic);
        Def(IrOpcode.AtomicCas, 3, R | OpFlags.Memory | OpFlags.MayFault);

        Def(IrOpcode.Add, 2, P | C);
        Def(IrOpcode.Sub, 2, P);
        Def(IrOpcode.Mul, 2, P | C);
        Def(IrOpcode.MulHiU, 2, P | C);
        Def(IrOpcode.MulHiS, 2, P | C);
        Def(IrOpcode.And, 2, P | C);
        Def(IrOpcode.Or, 2, P | C);
        Def(IrOpcode.Xor, 2, P | C);
        Def(IrOpcode.Shl, 2, P);
        Def(IrOpcode.Shr, 2, P);
        Def(IrOpcode.Sar, 2, P);
        Def(IrOpcode.Rotl, 2, P);
        Def(IrOpcode.Rotr, 2, P);
        Def(IrOpcode.Neg, 1, P);
        Def(IrOpcode.Not, 1, P);
        Def(IrOpcode.Clz, 1, P);
        Def(IrOpcode.Ctz, 1, P);
        Def(IrOpcode.Popcnt, 1, P);
        Def(IrOpcode.Bswap, 1, P);
        Def(IrOpcode.ZExt, 1, P);
        Def(IrOpcode.SExt, 1, P);
        Def(IrOpcode.Trunc, 1, P);
        Def(IrOpcode.SetCond, 2, P, ImmKind.Cond);
        Def(IrOpcode.Select, 3, P);

        // A call's real effects are those of its helper (HelperInfo.Effects), copied onto the instruction.
        Def(IrOpcode.Call, 4, R, ImmKind.Helper);

        Def(IrOpcode.ExitIf, 1, OpFlags.Exits | OpFlags.ReadsState, ImmKind.GuestPc);
        Def(IrOpcode.RetryIf, 1, OpFlags.Exits | OpFlags.ReadsState);
        Def(IrOpcode.Goto, 0, OpFlags.Exits | OpFlags.EndsBlock | OpFlags.ReadsState, ImmKind.GuestPc);
        Def(IrOpcode.GotoIndirect, 1, OpFlags.Exits | OpFlags.EndsBlock | OpFlags.ReadsState);
        Def(IrOpcode.Exit, 0, OpFlags.Exits | OpFlags.EndsBlock | OpFlags.ReadsState, ImmKind.GuestPc);
        Def(IrOpcode.Raise, 1, OpFlags.Exits | OpFlags.EndsBlock | OpFlags.ReadsState | OpFlags.MayFault, ImmKind.Vector);
        Def(IrOpcode.SmcCheck, 0, OpFlags.Exits | OpFlags.ReadsState, ImmKind.GuestPc);
        Def(IrOpcode.FaultIf, 2, OpFlags.Exits | OpFlags.ReadsState | OpFlags.MayFault, ImmKind.Vector);

        for (int i = 0; i < t.Length; i++)
        {
            if (t[i].Name is null)
            {
                throw new InvalidOperationException($"IR op {(IrOpcode)i} has no entry in OpTable");
            }
        }

        return t;
    }
}
