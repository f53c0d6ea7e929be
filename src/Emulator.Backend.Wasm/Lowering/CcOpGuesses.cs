using Emulator.Ir;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// For each block of a module, the values of cc_op (which operation set the flags) that the
/// module's own blocks leave when they jump to it. A block that needs flags an earlier block
/// set (inc and dec keep CF; adc, jc after a block boundary) then computes them inline for those
/// operations, behind a compare, and calls the module's lazy-flags function only for others:
/// <code>
/// cf = cc_op == SHR32 ? (src1 >> (src2 - 1)) &amp; 1 : flags(cc_op, dst, src1, src2) &amp; 1
/// </code>
/// They are guesses, not facts: any block can also be entered from the host or another module
/// with any cc_op, so the compare always stays. A block that does not set the flags passes its
/// own guesses on.
/// </summary>
internal static class CcOpGuesses
{
    /// <summary>Guesses a block is compiled with at most; more, and it gets none.</summary>
    public const int Max = 2;

    public static ulong[][] For(IReadOnlyList<Tier1Block> blocks, Tier1Layout layout)
    {
        int n = blocks.Count;
        var guesses = new HashSet<ulong>[n];
        for (int i = 0; i < n; i++)
        {
            guesses[i] = [];
        }

        if (layout.CcOp < 0)
        {
            return [.. guesses.Select(_ => Array.Empty<ulong>())];
        }

        // Each jump between blocks of the module, with what it carries: a constant cc_op, the
        // source block's own guesses (it left cc_op alone), or nothing known.
        var edges = new List<(int From, int To, EdgeValue Kind, ulong Value)>();
        for (int i = 0; i < n; i++)
        {
            var b = blocks[i];
            var kind = EdgeValue.Passed;
            ulong value = 0;
            foreach (ref readonly var op in b.Ops.AsSpan())
            {
                if (op.Op == IrOpcode.StState && (int)op.Imm == layout.CcOp)
                {
                    (kind, value) = op.A < b.Constants.Length ? (EdgeValue.Constant, b.Constants[op.A]) : (EdgeValue.Unknown, 0UL);
                }
                else if (op.Op == IrOpcode.Call && HelperRegistry.Get((int)op.Imm) is { GeneralState: true } h && (h.Effects & OpFlags.WritesState) != 0)
                {
                    kind = EdgeValue.Unknown;
                }
                else if (op.Op is IrOpcode.Goto or IrOpcode.ExitIf && op.ChainSlot < b.ChainTargets.Length && b.ChainTargets[op.ChainSlot] >= 0)
                {
                    edges.Add((i, b.ChainTargets[op.ChainSlot], kind, value));
                }
            }
        }

        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var (from, to, kind, value) in edges)
            {
                var target = guesses[to];
                if (target.Count > Max)
                {
                    continue;
                }

                if (kind == EdgeValue.Constant)
                {
                    changed |= target.Add(value);
                }
                else if (kind == EdgeValue.Passed)
                {
                    foreach (ulong v in guesses[from].ToArray())
                    {
                        changed |= target.Add(v);
                    }
                }
            }
        }

        return [.. guesses.Select(g => g.Count <= Max ? g.Order().ToArray() : [])];
    }

    private enum EdgeValue
    {
        Constant,
        Passed,
        Unknown,
    }
}
