using Emulator.Ir;
using Emulator.X86;
using Emulator.X86.Frontend;

namespace Emulator.Execution;

/// <summary>Turns an optimised IR block into its tier-0 form: dead ops dropped, operands bound to frame slots.</summary>
public static class BlockCompiler
{
    public static CompiledBlock Compile(IrBlock ir, TranslationInfo info, CpuMode mode)
    {
        var constants = new List<ulong>();
        var constSlot = new Dictionary<ulong, int>();
        int Slot(Operand o, int tempBase)
        {
            if (!o.IsValid)
            {
                return 0;
            }

            if (!o.IsConst)
            {
                return tempBase + o.Temp;
            }

            if (!constSlot.TryGetValue(o.Value, out int s))
            {
                s = constants.Count;
                constants.Add(o.Value);
                constSlot[o.Value] = s;
            }

            return s;
        }

        // First pass: collect constants so temps can follow them in the frame.
        for (int k = 0; k < ir.Count; k++)
        {
            ref readonly var i = ref ir[k];
            if (!i.Dead)
            {
                for (int a = 0; a < i.ArgCount; a++)
                {
                    Slot(i.Arg(a), 0);
                }
            }
        }

        if (constants.Count == 0)
        {
            constants.Add(0);
        }

        int tempBase = constants.Count;
        var ops = new List<MicroOp>(ir.Count);
        int chains = 0;
        for (int k = 0; k < ir.Count; k++)
        {
            ref readonly var i = ref ir[k];
            if (i.Dead)
            {
                continue;
            }

            var op = new MicroOp
            {
                Op = i.Op,
                Type = i.Type,
                ArgType = i.A.IsValid ? i.A.Type : i.Type,
                CheckFault = i.Op == IrOpcode.Call && i.Is(OpFlags.MayFault),
                Dest = i.Dest >= 0 ? tempBase + i.Dest : 0,
                A = Slot(i.A, tempBase),
                B = Slot(i.B, tempBase),
                C = Slot(i.C, tempBase),
                D = Slot(i.D, tempBase),
                Imm = i.Imm,
                Insn = i.Insn,
                ChainSlot = i.Op is IrOpcode.Goto or IrOpcode.ExitIf ? chains++ : -1,
            };
            ops.Add(op);
        }

        return new CompiledBlock
        {
            Ops = [.. ops],
            Constants = [.. constants],
            FrameSize = tempBase + ir.TempCount,
            InsnPcs = [.. ir.InsnPcs],
            Pc = info.StartPc,
            Mode = mode,
            PhysStart = info.PhysStart,
            GuestBytes = info.GuestBytes,
            PhysPage2 = info.PhysPage2,
            Chains = new CompiledBlock?[chains],
        };
    }
}
