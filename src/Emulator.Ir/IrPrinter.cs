using System.Text;

namespace Emulator.Ir;

/// <summary>Prints a block as text, one op a line: "t3:i32 = Add t1, t2". Golden tests compare this text.</summary>
public static class IrPrinter
{
    public static string Print(IrBlock block, bool includeDead = false)
    {
        var sb = new StringBuilder();
        int insn = -1;
        for (int k = 0; k < block.Count; k++)
        {
            ref readonly var i = ref block[k];
            if (i.Dead && !includeDead)
            {
                continue;
            }

            if (i.Insn != insn && i.Insn >= 0)
            {
                insn = i.Insn;
                sb.Append("  ; ").Append(block.InsnPcs[insn].ToString("x")).AppendLine();
            }

            sb.AppendLine(PrintInst(in i));
        }

        return sb.ToString();
    }

    public static string PrintInst(in IrInst i)
    {
        var info = OpTable.Get(i.Op);
        var sb = new StringBuilder();
        if (i.Dead)
        {
            sb.Append("(dead) ");
        }

        if (i.Dest >= 0)
        {
            sb.Append('t').Append(i.Dest).Append(':').Append(i.Type.Name()).Append(" = ");
        }

        sb.Append(info.Name);
        if (!info.HasResult && i.Op is IrOpcode.Store or IrOpcode.StState)
        {
            sb.Append('.').Append(i.Type.Name());
        }

        bool first = true;
        void Sep()
        {
            sb.Append(first ? " " : ", ");
            first = false;
        }

        if (info.Imm != ImmKind.None)
        {
            Sep();
            sb.Append(FormatImm(info.Imm, i.Imm));
        }

        for (int a = 0; a < i.ArgCount; a++)
        {
            Sep();
            sb.Append(i.Arg(a).ToString());
        }

        return sb.ToString();
    }

    private static string FormatImm(ImmKind kind, ulong imm) => kind switch
    {
        ImmKind.Value => $"0x{imm:x}",
        ImmKind.StateOffset => StateNames?.Invoke((int)imm) ?? $"state+{imm}",
        ImmKind.Cond => ((IrCond)imm).ToString().ToLowerInvariant(),
        ImmKind.Atomic => ((AtomicOp)imm).ToString().ToLowerInvariant(),
        ImmKind.Helper => HelperRegistry.Get((int)imm).Name,
        ImmKind.GuestPc => $"pc=0x{imm:x}",
        ImmKind.Vector => $"vector={imm}",
        _ => imm.ToString(),
    };

    /// <summary>Set by the target so state offsets print as register names ("rax", "cc_op").</summary>
    public static Func<int, string?>? StateNames { get; set; }
}
