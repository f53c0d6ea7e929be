using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>Random operands for any legacy-encoded Iced <see cref="Code"/>, from its operand kinds.</summary>
public sealed partial class CaseBuilder
{
    /// <summary>Legacy SSE instructions whose 16-byte memory operand may be misaligned.</summary>
    private static readonly HashSet<Mnemonic> UnalignedVector =
    [
        Mnemonic.Movups, Mnemonic.Movupd, Mnemonic.Movdqu, Mnemonic.Lddqu,
        Mnemonic.Pcmpestri, Mnemonic.Pcmpestri64, Mnemonic.Pcmpestrm, Mnemonic.Pcmpestrm64, Mnemonic.Pcmpistri, Mnemonic.Pcmpistrm,
    ];

    private enum OpType
    {
        Reg,
        Mem,
        Imm,
    }

    private struct Op
    {
        public OpType Type;
        public Register Reg;
        public MemoryOperand Mem;
        public long Imm;
    }

    /// <summary>Whether this builder can make every operand of <paramref name="code"/>.</summary>
    public static bool CanBuild(Code code, int bitness = 64)
    {
        var info = code.ToOpCode();
        if (!info.IsInstruction || info.Encoding != EncodingKind.Legacy || !(bitness switch { 64 => info.Mode64, 32 => info.Mode32, _ => info.Mode16 }))
        {
            return false;
        }

        for (int i = 0; i < info.OpCount; i++)
        {
            switch (info.GetOpKind(i))
            {
                case OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem:
                case OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.mem:
                case OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode:
                case OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_rm or OpCodeOperandKind.r16_opcode:
                case OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_opcode:
                case OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r64_opcode:
                case OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm:
                case OpCodeOperandKind.al or OpCodeOperandKind.ax or OpCodeOperandKind.eax or OpCodeOperandKind.rax or OpCodeOperandKind.cl:
                case OpCodeOperandKind.imm8 or OpCodeOperandKind.imm8_const_1 or OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64:
                case OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm64:
                    break;
                default:
                    return false;
            }
        }

        return true;
    }

    /// <summary>Size in bytes of <paramref name="code"/>'s memory operand (0 if none).</summary>
    public static int MemorySizeOf(Code code)
    {
        var probe = default(Instruction);
        probe.Code = code;
        return probe.MemorySize.GetSize();
    }

    /// <summary>Appends one instance of <paramref name="code"/> with random operands (plus any set-up it needs); false if this try did not fit.</summary>
    public bool TryAddCode(Code code)
    {
        var info = code.ToOpCode();
        var mnemonic = code.Mnemonic();
        int memSize = MemorySizeOf(code);
        int align = code == Code.Cmpxchg16b_m128 || (AlignVectorMemory && memSize == 16 && !UnalignedVector.Contains(mnemonic)) ? 16 : 1;
        var ops = new Op[info.OpCount];
        bool memTaken = false;
        bool conditionalFlags = false;
        for (int i = 0; i < ops.Length; i++)
        {
            var kind = info.GetOpKind(i);
            switch (kind)
            {
                case OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem
                    or OpCodeOperandKind.xmm_or_mem when memTaken || !R.Chance(40):
                    ops[i] = RegOp(kind switch
                    {
                        OpCodeOperandKind.r8_or_mem => Gpr(8),
                        OpCodeOperandKind.r16_or_mem => Gpr(16),
                        OpCodeOperandKind.r32_or_mem => Gpr(32),
                        OpCodeOperandKind.r64_or_mem => Gpr(64),
                        _ => Xmm(),
                    });
                    break;
                case OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem
                    or OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.mem:
                    ops[i] = new Op { Type = OpType.Mem, Mem = Mem(Math.Max(memSize, 1), align, vector: kind == OpCodeOperandKind.xmm_or_mem) };
                    memTaken = true;
                    break;
                case OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode:
                    ops[i] = RegOp(Gpr(8));
                    break;
                case OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_rm or OpCodeOperandKind.r16_opcode:
                    ops[i] = RegOp(Gpr(16));
                    break;
                case OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_opcode:
                    ops[i] = RegOp(Gpr(32));
                    break;
                case OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r64_opcode:
                    ops[i] = RegOp(Gpr(64));
                    break;
                case OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm:
                    ops[i] = RegOp(Xmm());
                    break;
                case OpCodeOperandKind.al:
                    ops[i] = RegOp(Register.AL);
                    break;
                case OpCodeOperandKind.ax:
                    ops[i] = RegOp(Register.AX);
                    break;
                case OpCodeOperandKind.eax:
                    ops[i] = RegOp(Register.EAX);
                    break;
                case OpCodeOperandKind.rax:
                    ops[i] = RegOp(Register.RAX);
                    break;
                case OpCodeOperandKind.cl:
                    ops[i] = RegOp(Register.CL);
                    conditionalFlags = true; // a shift count in CL may be zero: flags unchanged
                    break;
                case OpCodeOperandKind.imm8_const_1:
                    ops[i] = ImmOp(1);
                    break;
                case OpCodeOperandKind.imm8:
                    ops[i] = ImmOp(R.Chance(70) ? R.Range(0, 66) : R.Below(256));
                    break;
                case OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64:
                    ops[i] = ImmOp(Values.SignedImm(R, 8));
                    break;
                case OpCodeOperandKind.imm16:
                    ops[i] = ImmOp(Values.SignedImm(R, 16));
                    break;
                case OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64:
                    ops[i] = ImmOp(Values.SignedImm(R, 32));
                    break;
                case OpCodeOperandKind.imm64:
                    ops[i] = ImmOp(Values.SignedImm(R, 64));
                    break;
                default:
                    throw new InvalidOperationException($"{code}: operand kind {kind} cannot be generated");
            }
        }

        // Instruction-specific constraints: avoid undefined results and faults.
        Span<Instruction> setup = stackalloc Instruction[2];
        int nSetup = 0;
        switch (mnemonic)
        {
            case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc when ops[0].Type == OpType.Mem && ops[1].Type == OpType.Reg:
                // A register bit offset addresses memory up to 2^63 bits away: keep it within +-128 bytes.
                setup[nSetup++] = MovImm(ops[1].Reg, R.Range(-1024, 1023));
                break;
            case Mnemonic.Bsf or Mnemonic.Bsr when info.OperandSize == 32:
                // With a zero source the destination is undefined (SDM Vol. 2A BSF): AMD leaves all
                // 64 bits unchanged, Intel clears the upper half. Clear it first so both agree.
                setup[nSetup++] = Instruction.Create(Code.Mov_r32_rm32, ops[0].Reg, ops[0].Reg);
                break;
            case Mnemonic.Shld or Mnemonic.Shrd when info.OperandSize == 16:
                // A 16-bit double shift by more than 16 leaves the destination undefined (SDM Vol. 2B SHLD).
                if (ops[2].Type == OpType.Imm)
                {
                    ops[2].Imm = R.Range(0, 16) + 32 * R.Below(8);
                }
                else
                {
                    setup[nSetup++] = MovImm(Register.CL, R.Range(0, 16) + 32 * R.Below(8));
                }

                break;
            case Mnemonic.Aam when ops[0].Imm == 0:
                ops[0].Imm = R.Range(1, 255); // AAM 0 is #DE, and the cases here must not fault (32- and 16-bit code only)
                break;
            case Mnemonic.Cmpps or Mnemonic.Cmppd or Mnemonic.Cmpss or Mnemonic.Cmpsd when ops.Length == 3:
                ops[2].Imm &= 7; // legacy SSE compares define predicates 0-7 only
                break;
            case Mnemonic.Cmpxchg:
            {
                var dst = ops[0];
                var acc = ops[1].Reg.GetSize() switch { 1 => Register.AL, 2 => Register.AX, 4 => Register.EAX, _ => Register.RAX };
                if (dst.Type == OpType.Reg && info.OperandSize == 32)
                {
                    // A failed compare writes a 32-bit register destination back (SDM Vol. 2A CMPXCHG),
                    // which on Intel zero-extends it; AMD leaves all 64 bits. Clear the upper half first
                    // so both agree.
                    setup[nSetup++] = Instruction.Create(Code.Mov_r32_rm32, dst.Reg, dst.Reg);
                }

                if (R.Chance(50))
                {
                    // Make the compare succeed about half the time: load the accumulator from the destination.
                    setup[nSetup++] = dst.Type == OpType.Mem ? Instruction.Create(MovLoad(acc), acc, dst.Mem) : Instruction.Create(MovLoad(acc), acc, dst.Reg);
                }

                break;
            }
            case Mnemonic.Cmpxchg8b or Mnemonic.Cmpxchg16b when R.Chance(50):
                var m = ops[0].Mem;
                bool wide = mnemonic == Mnemonic.Cmpxchg16b;
                var high = new MemoryOperand(m.Base, m.Index, m.Scale, m.Displacement + (wide ? 8 : 4), DisplSizeFor(m.Displacement + (wide ? 8 : 4)));
                setup[nSetup++] = Instruction.Create(wide ? Code.Mov_r64_rm64 : Code.Mov_r32_rm32, wide ? Register.RAX : Register.EAX, m);
                setup[nSetup++] = Instruction.Create(wide ? Code.Mov_r64_rm64 : Code.Mov_r32_rm32, wide ? Register.RDX : Register.EDX, high);
                break;
        }

        Instruction insn;
        try
        {
            insn = Make(code, ops);
        }
        catch (ArgumentException)
        {
            return false; // an operand combination Iced refuses
        }

        if (ops.Length > 0 && ops[0].Type == OpType.Mem && info.CanUseLockPrefix && R.Chance(30))
        {
            insn.HasLockPrefix = true;
        }

        Span<Instruction> all = stackalloc Instruction[nSetup + 1];
        setup[..nSetup].CopyTo(all);
        all[nSetup] = insn;
        return TryAdd(all, conditionalFlags);
    }

    /// <summary>MOV reg, imm sized to the register (64-bit registers take a sign-extended imm32).</summary>
    public static Instruction MovImm(Register reg, long value) => reg.GetSize() switch
    {
        1 => Instruction.Create(Code.Mov_r8_imm8, reg, (int)(sbyte)value),
        2 => Instruction.Create(Code.Mov_r16_imm16, reg, (int)(short)value),
        4 => Instruction.Create(Code.Mov_r32_imm32, reg, (int)value),
        _ => value is >= int.MinValue and <= int.MaxValue
            ? Instruction.Create(Code.Mov_rm64_imm32, reg, (int)value)
            : Instruction.Create(Code.Mov_r64_imm64, reg, value),
    };

    /// <summary>The MOV reg, r/m code for a register of that size.</summary>
    public static Code MovLoad(Register reg) => reg.GetSize() switch
    {
        1 => Code.Mov_r8_rm8,
        2 => Code.Mov_r16_rm16,
        4 => Code.Mov_r32_rm32,
        _ => Code.Mov_r64_rm64,
    };

    /// <summary>The MOV r/m, reg code for a register of that size.</summary>
    public static Code MovStore(Register reg) => reg.GetSize() switch
    {
        1 => Code.Mov_rm8_r8,
        2 => Code.Mov_rm16_r16,
        4 => Code.Mov_rm32_r32,
        _ => Code.Mov_rm64_r64,
    };

    private static Op RegOp(Register r) => new() { Type = OpType.Reg, Reg = r };

    private static Op ImmOp(long v) => new() { Type = OpType.Imm, Imm = v };

    private static Instruction Make(Code code, Op[] o)
    {
        switch (o.Length)
        {
            case 0:
                return Instruction.Create(code);
            case 1:
                return o[0].Type switch
                {
                    OpType.Reg => Instruction.Create(code, o[0].Reg),
                    OpType.Mem => Instruction.Create(code, o[0].Mem),
                    _ => Instruction.Create(code, (int)o[0].Imm),
                };
            case 2:
                return (o[0].Type, o[1].Type) switch
                {
                    (OpType.Reg, OpType.Reg) => Instruction.Create(code, o[0].Reg, o[1].Reg),
                    (OpType.Reg, OpType.Mem) => Instruction.Create(code, o[0].Reg, o[1].Mem),
                    (OpType.Mem, OpType.Reg) => Instruction.Create(code, o[0].Mem, o[1].Reg),
                    (OpType.Reg, OpType.Imm) => Instruction.Create(code, o[0].Reg, o[1].Imm),
                    (OpType.Mem, OpType.Imm) => Instruction.Create(code, o[0].Mem, (int)o[1].Imm),
                    _ => throw new ArgumentException($"{code}: unsupported operand shape"),
                };
            case 3:
                return (o[0].Type, o[1].Type, o[2].Type) switch
                {
                    (OpType.Reg, OpType.Reg, OpType.Reg) => Instruction.Create(code, o[0].Reg, o[1].Reg, o[2].Reg),
                    (OpType.Reg, OpType.Reg, OpType.Imm) => Instruction.Create(code, o[0].Reg, o[1].Reg, (int)o[2].Imm),
                    (OpType.Reg, OpType.Mem, OpType.Imm) => Instruction.Create(code, o[0].Reg, o[1].Mem, (int)o[2].Imm),
                    (OpType.Mem, OpType.Reg, OpType.Reg) => Instruction.Create(code, o[0].Mem, o[1].Reg, o[2].Reg),
                    (OpType.Mem, OpType.Reg, OpType.Imm) => Instruction.Create(code, o[0].Mem, o[1].Reg, (int)o[2].Imm),
                    _ => throw new ArgumentException($"{code}: unsupported operand shape"),
                };
            default:
                throw new ArgumentException($"{code}: {o.Length} operands");
        }
    }
}
