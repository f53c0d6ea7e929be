namespace Emulator.Ir;

/// <summary>
/// One IR op in a block's executable form: its operands bound to frame slots of 64-bit values
/// (the block's constants first, then its temps). Tier 0 interprets these; tier 1 lowers them
/// to WebAssembly, a frame slot becoming a Wasm local.
/// </summary>
public struct MicroOp
{
    public IrOpcode Op;
    public IrType Type;

    /// <summary>For SetCond/SExt: the operands' type.</summary>
    public IrType ArgType;

    /// <summary>A call that may fault must be checked after it returns.</summary>
    public bool CheckFault;
    public int Dest;
    public int A;
    public int B;
    public int C;
    public int D;
    public ulong Imm;

    /// <summary>Index of the guest instruction (for the pc of a fault and for counting).</summary>
    public int Insn;

    /// <summary>For Goto and ExitIf: which chain slot of the block caches the target block.</summary>
    public int ChainSlot;
}
