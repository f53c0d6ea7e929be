namespace Emulator.Ir.Passes;

/// <summary>
/// Removes a state store that a later store to the same slot overwrites before anything can
/// observe it. The x86 frontend keeps lazy flags (cc_op, cc_dst, cc_src1, cc_src2) and
/// registers in state slots, so this is the dead-flag elimination: of consecutive
/// flag-setting instructions only the last one's flag stores survive, unless something in
/// between reads them. Observers are state loads of an overlapping slot, calls that read
/// state, exits (the next block reads everything), and any op that may fault (a guest
/// exception must see the state exactly as it was before the faulting instruction).
/// </summary>
public static class DeadStoreElimination
{
    public static void Run(IrBlock block)
    {
        // Slots (offset, size) that are certainly overwritten later with no observer between.
        var overwritten = new List<(int Offset, int Size)>();
        for (int k = block.Count - 1; k >= 0; k--)
        {
            ref var i = ref block[k];
            if (i.Dead)
            {
                continue;
            }

            switch (i.Op)
            {
                case IrOpcode.StState:
                {
                    int off = (int)i.Imm, size = i.Type.Bytes();
                    if (Covered(overwritten, off, size))
                    {
                        i.Dead = true;
                    }
                    else
                    {
                        overwritten.Add((off, size));
                    }

                    continue;
                }

                case IrOpcode.LdState:
                {
                    int off = (int)i.Imm, size = i.Type.Bytes();
                    overwritten.RemoveAll(s => s.Offset < off + size && off < s.Offset + s.Size);
                    continue;
                }
            }

            if (i.Is(OpFlags.Exits | OpFlags.MayFault | OpFlags.ReadsState))
            {
                overwritten.Clear();
            }
        }
    }

    private static bool Covered(List<(int Offset, int Size)> slots, int off, int size)
    {
        foreach (var s in slots)
        {
            if (s.Offset <= off && off + size <= s.Offset + s.Size)
            {
                return true;
            }
        }

        return false;
    }
}
