namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// Where the blocks of a module's run function can branch (<see cref="Tier1ModuleEmitter"/>):
/// the dispatch loop, the jump-cache probe, the common exit, and each block's case.
/// <para>
/// The cases are laid out in the order of their guest addresses, and the case at layout
/// position p begins right after the end of a Wasm <c>block</c> that encloses every case before
/// it. So a jump to a block laid out later is one <c>br</c> to the end of that block, with no
/// dispatch; a jump to itself is a <c>br</c> to the <c>loop</c> around its case; only a jump to
/// a block laid out earlier (the back edge of a loop of several blocks) goes round the dispatch
/// loop and its <c>br_table</c>. Every cycle of the module passes through a back edge or a
/// self jump, so those are where the budget and exit requests are checked.
/// </para>
/// </summary>
internal sealed class ModuleLabels
{
    private readonly int[] position;
    private readonly int[] caseLabel;

    public ModuleLabels(IReadOnlyList<Tier1Block> blocks)
    {
        int n = blocks.Count;
        Order = [.. Enumerable.Range(0, n).OrderBy(i => blocks[i].InsnPcs[0]).ThenBy(i => i)];
        position = new int[n];
        for (int p = 0; p < n; p++)
        {
            position[Order[p]] = p;
        }

        caseLabel = new int[n];
    }

    /// <summary>The blocks' indices in layout order.</summary>
    public int[] Order { get; }

    public int Dispatch { get; set; }

    public int Probe { get; set; }

    public int Exit { get; set; }

    /// <summary>The label of the <c>loop</c> around the case being written when it jumps to itself, else -1.</summary>
    public int SelfLoop { get; set; } = -1;

    public int PositionOf(int block) => position[block];

    /// <summary>The label whose end is where the case at layout position <paramref name="p"/> begins.</summary>
    public int CaseLabel(int p) => caseLabel[p];

    public void SetCaseLabel(int p, int label) => caseLabel[p] = label;

    /// <summary>Whether a jump from block <paramref name="from"/> to <paramref name="to"/> is a branch forward to a later case.</summary>
    public bool IsForward(int from, int to) => position[to] > position[from];
}
