namespace Emulator.Ir.Passes;

/// <summary>Removes pure ops and state loads whose results nothing uses.</summary>
public static class DeadCodeElimination
{
    public static void Run(IrBlock block)
    {
        var used = new bool[block.TempCount];
        for (int k = block.Count - 1; k >= 0; k--)
        {
            ref var i = ref block[k];
            if (i.Dead)
            {
                continue;
            }

            bool removable = (i.Flags & OpFlags.Pure) != 0 || i.Op == IrOpcode.LdState;
            if (removable && i.Dest >= 0 && !used[i.Dest])
            {
                i.Dead = true;
                continue;
            }

            for (int a = 0; a < i.ArgCount; a++)
            {
                var arg = i.Arg(a);
                if (arg.IsValid && !arg.IsConst)
                {
                    used[arg.Temp] = true;
                }
            }
        }
    }
}
