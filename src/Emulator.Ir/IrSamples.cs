namespace Emulator.Ir;

/// <summary>
/// One small valid block per op, for the tests that check every consumer of the IR (printer,
/// interpreter, Wasm backend) handles every op. Blocks read state slots 0 and 8 and use the
/// low 32 bits of slot 0 as a memory address.
/// </summary>
public static class IrSamples
{
    public static IrBlock With(IrOpcode op, HelperInfo helper)
    {
        var block = new IrBlock();
        var b = new IrBuilder(block);
        b.BeginInsn(0x1000);
        var x = b.LdState(0, IrType.I32);
        var y = b.LdState(8, IrType.I32);
        var addr = b.ZExt(x, IrType.I64);
        bool ended = false;
        switch (op)
        {
            case IrOpcode.Const: Append(block, IrOpcode.Const, IrType.I32, imm: 5); break;
            case IrOpcode.LdState: break;
            case IrOpcode.StState: b.StState(16, x); break;
            case IrOpcode.Load: b.Load(addr, IrType.I16); break;
            case IrOpcode.Store: b.Store(addr, y); break;
            case IrOpcode.AtomicRmw: b.AtomicRmw(AtomicOp.Add, addr, y); break;
            case IrOpcode.AtomicCas: b.AtomicCas(addr, x, y); break;
            case IrOpcode.ZExt: b.ZExt(x, IrType.I64); break;
            case IrOpcode.SExt: b.SExt(x, IrType.I64); break;
            case IrOpcode.Trunc: b.Trunc(x, IrType.I8); break;
            case IrOpcode.SetCond: b.SetCond(IrCond.LtS, x, y); break;
            case IrOpcode.Select: b.Select(b.SetCond(IrCond.Eq, x, y), x, y); break;
            case IrOpcode.Call: b.Call(helper, x, y); break;
            case IrOpcode.ExitIf: b.ExitIf(b.SetCond(IrCond.Eq, x, y), 0x2000); break;
            case IrOpcode.RetryIf: b.RetryIf(b.SetCond(IrCond.Eq, x, y)); break;
            case IrOpcode.Goto: b.Goto(0x2000); ended = true; break;
            case IrOpcode.GotoIndirect: b.GotoIndirect(addr); ended = true; break;
            case IrOpcode.Exit: b.Exit(0x2000); ended = true; break;
            case IrOpcode.Raise: b.Raise(6, IrBuilder.I64(0)); ended = true; break;
            case IrOpcode.SmcCheck: b.SmcCheck(0x1004); break;
            case IrOpcode.FaultIf: b.FaultIf(b.SetCond(IrCond.Eq, x, y), 13, IrBuilder.I64(0)); break;
            default:
                if (OpTable.Get(op).Operands == 1)
                {
                    Append(block, op, IrType.I32, x);
                }
                else
                {
                    Append(block, op, IrType.I32, x, y);
                }

                break;
        }

        if (!ended)
        {
            b.Goto(0x1004);
        }

        return block;
    }

    private static void Append(IrBlock block, IrOpcode op, IrType t, Operand a = default, Operand b = default, ulong imm = 0)
    {
        ref var i = ref block.Append();
        i.Op = op;
        i.Type = t;
        i.Flags = OpTable.Get(op).Flags;
        i.A = a;
        i.B = b;
        i.Imm = imm;
        i.Insn = 0;
        i.Dest = block.NewTemp(t);
    }
}
