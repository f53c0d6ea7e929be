namespace Emulator.Ir;

/// <summary>The IR operations. Their properties are in <see cref="OpTable"/>, the one place they are described.</summary>
public enum IrOpcode : byte
{
    Const,
    LdState,
    StState,
    Load,
    Store,
    AtomicRmw,
    AtomicCas,
    Add,
    Sub,
    Mul,
    MulHiU,
    MulHiS,
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Sar,
    Rotl,
    Rotr,
    Neg,
    Not,
    Clz,
    Ctz,
    Popcnt,
    Bswap,
    ZExt,
    SExt,
    Trunc,
    SetCond,
    Select,
    Call,
    ExitIf,
    RetryIf,
    Goto,
    GotoIndirect,
    Exit,
    Raise,
    SmcCheck,
    FaultIf,
}

/// <summary>Comparison for SetCond; the operands are compared at their own type.</summary>
public enum IrCond : byte
{
    Eq,
    Ne,
    LtU,
    LeU,
    GtU,
    GeU,
    LtS,
    LeS,
    GtS,
    GeS,
}

/// <summary>The read-modify-write an AtomicRmw performs; it returns the old memory value.</summary>
public enum AtomicOp : byte
{
    Xchg,
    Add,
    And,
    Or,
    Xor,
}
