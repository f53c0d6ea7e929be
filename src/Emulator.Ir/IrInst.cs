namespace Emulator.Ir;

/// <summary>One IR instruction. Operands not used by the op are left default.</summary>
public struct IrInst
{
    public IrOpcode Op;

    /// <summary>The result type, or for stores and state stores the type written.</summary>
    public IrType Type;

    /// <summary>The op's properties: the table's, plus a call's helper effects.</summary>
    public OpFlags Flags;

    /// <summary>The temp this op defines, or -1.</summary>
    public int Dest;

    public Operand A;
    public Operand B;
    public Operand C;
    public Operand D;

    /// <summary>State offset, helper id, condition, guest pc or vector, as OpTable says.</summary>
    public ulong Imm;

    /// <summary>Index of the guest instruction this op belongs to (for precise faults and counting).</summary>
    public int Insn;

    /// <summary>Set by passes on ops they removed; consumers skip them.</summary>
    public bool Dead;

    public readonly Operand Arg(int i) => i switch { 0 => A, 1 => B, 2 => C, _ => D };

    public void SetArg(int i, Operand v)
    {
        switch (i)
        {
            case 0: A = v; break;
            case 1: B = v; break;
            case 2: C = v; break;
            default: D = v; break;
        }
    }

    public readonly int ArgCount
    {
        get
        {
            int n = OpTable.Get(Op).Operands;
            if (Op == IrOpcode.Call)
            {
                n = HelperRegistry.Get((int)Imm).Args;
            }

            return n;
        }
    }

    public readonly bool Is(OpFlags f) => (Flags & f) != 0;
}
