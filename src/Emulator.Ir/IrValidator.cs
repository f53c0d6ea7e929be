namespace Emulator.Ir;

/// <summary>Checks a block's well-formedness: every temp defined once before use, types agree, exits last.</summary>
public static class IrValidator
{
    /// <summary>Returns the problems found; an empty list means the block is valid.</summary>
    public static List<string> Validate(IrBlock block)
    {
        var errors = new List<string>();
        var defined = new bool[block.TempCount];
        bool ended = false;
        for (int k = 0; k < block.Count; k++)
        {
            ref readonly var i = ref block[k];
            if (i.Dead)
            {
                continue;
            }

            string where = $"op {k} ({IrPrinter.PrintInst(in i)})";
            if (ended)
            {
                errors.Add($"{where}: follows the block's final exit");
            }

            var info = OpTable.Get(i.Op);
            for (int a = 0; a < i.ArgCount; a++)
            {
                var arg = i.Arg(a);
                if (!arg.IsValid)
                {
                    errors.Add($"{where}: operand {a} is missing");
                }
                else if (!arg.IsConst)
                {
                    if (arg.Temp < 0 || arg.Temp >= block.TempCount || !defined[arg.Temp])
                    {
                        errors.Add($"{where}: t{arg.Temp} used before it is defined");
                    }
                    else if (block.TempType(arg.Temp) != arg.Type)
                    {
                        errors.Add($"{where}: t{arg.Temp} is {block.TempType(arg.Temp).Name()}, used as {arg.Type.Name()}");
                    }
                }
            }

            CheckTypes(in i, where, errors);
            if (info.HasResult)
            {
                if (i.Dest < 0 || i.Dest >= block.TempCount)
                {
                    errors.Add($"{where}: has no result temp");
                }
                else if (defined[i.Dest])
                {
                    errors.Add($"{where}: t{i.Dest} defined twice");
                }
                else
                {
                    defined[i.Dest] = true;
                }
            }

            ended |= info.Is(OpFlags.EndsBlock);
        }

        if (!ended)
        {
            errors.Add("the block does not end with an exit");
        }

        return errors;
    }

    private static void CheckTypes(in IrInst i, string where, List<string> errors)
    {
        switch (i.Op)
        {
            case IrOpcode.Add or IrOpcode.Sub or IrOpcode.Mul or IrOpcode.MulHiU or IrOpcode.MulHiS or IrOpcode.And
                or IrOpcode.Or or IrOpcode.Xor or IrOpcode.Shl or IrOpcode.Shr or IrOpcode.Sar or IrOpcode.Rotl or IrOpcode.Rotr:
                if (i.A.Type != i.Type || i.B.Type != i.Type)
                {
                    errors.Add($"{where}: operands must be {i.Type.Name()}");
                }

                break;
            case IrOpcode.ZExt or IrOpcode.SExt when i.A.Type >= i.Type:
                errors.Add($"{where}: extension must widen");
                break;
            case IrOpcode.Trunc when i.A.Type <= i.Type:
                errors.Add($"{where}: truncation must narrow");
                break;
            case IrOpcode.Load or IrOpcode.Store or IrOpcode.AtomicRmw or IrOpcode.AtomicCas when i.A.Type != IrType.I64:
                errors.Add($"{where}: addresses are i64");
                break;
            case IrOpcode.Select when i.B.Type != i.Type || i.C.Type != i.Type:
                errors.Add($"{where}: select arms must be {i.Type.Name()}");
                break;
        }
    }
}
