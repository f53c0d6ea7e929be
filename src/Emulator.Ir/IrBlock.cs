namespace Emulator.Ir;

/// <summary>The IR of one translation block: straight-line ops with side exits, in SSA form.</summary>
public sealed class IrBlock
{
    private IrInst[] insts = new IrInst[64];
    private IrType[] tempTypes = new IrType[64];

    public int Count { get; private set; }

    public int TempCount { get; private set; }

    /// <summary>Guest pc of each guest instruction in the block, in order.</summary>
    public List<ulong> InsnPcs { get; } = [];

    public ref IrInst this[int i] => ref insts[i];

    public IrType TempType(int temp) => tempTypes[temp];

    public int NewTemp(IrType t)
    {
        if (TempCount == tempTypes.Length)
        {
            Array.Resize(ref tempTypes, TempCount * 2);
        }

        tempTypes[TempCount] = t;
        return TempCount++;
    }

    public ref IrInst Append()
    {
        if (Count == insts.Length)
        {
            Array.Resize(ref insts, Count * 2);
        }

        insts[Count] = default;
        insts[Count].Dest = -1;
        return ref insts[Count++];
    }

    public void Clear()
    {
        Count = 0;
        TempCount = 0;
        InsnPcs.Clear();
    }

    /// <summary>Number of live (not removed) ops.</summary>
    public int LiveCount
    {
        get
        {
            int n = 0;
            for (int i = 0; i < Count; i++)
            {
                n += insts[i].Dead ? 0 : 1;
            }

            return n;
        }
    }
}
