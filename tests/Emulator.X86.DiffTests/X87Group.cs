using System.Buffers.Binary;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// x87 arithmetic against the host's x87: a random stack of 0-8 values (edges: zeros, denormals,
/// infinities, quiet and signalling NaNs, integers, values near rounding boundaries) under a
/// random rounding and precision control with every exception masked, then 1-8 x87 instructions
/// (register and memory forms, FCOMI/FUCOMI and FCMOVcc included, FNSTSW AX). Compared: the eight
/// registers as 80-bit values in stack order, FSW (C0-C3, TOP, the exception flags), FCW, the
/// abridged tag word, RFLAGS, AX, and the memory the stores wrote.
/// </summary>
public sealed class X87Group() : WorldGroup("x87", "x87 arithmetic, compares, loads and stores, under random rounding and precision")
{
    /// <summary>Left out: environment and state images (FIP/FDP/FOP are vendor-specific), control-word loads
    /// (an unmasked exception would end the case with #MF, a different test), 287-only no-ops, and the
    /// transcendental instructions, whose last bit differs between vendors and from the emulator
    /// (see <see cref="HostGaps"/>).</summary>
    private static readonly HashSet<Mnemonic> Excluded =
    [
        Mnemonic.Fldenv, Mnemonic.Fnstenv, Mnemonic.Fstenv, Mnemonic.Fnsave, Mnemonic.Fsave, Mnemonic.Frstor, Mnemonic.Fldcw,
        Mnemonic.Fxsave, Mnemonic.Fxsave64, Mnemonic.Fxrstor, Mnemonic.Fxrstor64,
        Mnemonic.Fneni, Mnemonic.Feni, Mnemonic.Fndisi, Mnemonic.Fdisi, Mnemonic.Fnsetpm, Mnemonic.Fsetpm, Mnemonic.Frstpm, Mnemonic.Ffreep,
        Mnemonic.Fstdw, Mnemonic.Fstsg, Mnemonic.Fnstdw, Mnemonic.Fnstsg,
        Mnemonic.Fsin, Mnemonic.Fcos, Mnemonic.Fsincos, Mnemonic.Fptan, Mnemonic.Fpatan, Mnemonic.F2xm1, Mnemonic.Fyl2x, Mnemonic.Fyl2xp1,
        Mnemonic.Fbld, Mnemonic.Fbstp,
        Mnemonic.Fstpnce, // D9 D8+i: an undocumented alias that stores without the empty check on AMD, as FSTP elsewhere
        Mnemonic.Fprem, Mnemonic.Fprem1, // only first, on two finite normal operands (see Build and HostGaps)
    ];

    private const ushort C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, AllCodes = C0 | C1 | C2 | C3;

    /// <summary>Instructions that define all four condition codes (SDM Vol. 2A, "FPU Flags Affected").</summary>
    private static readonly HashSet<Mnemonic> DefineAll =
    [
        Mnemonic.Fcom, Mnemonic.Fcomp, Mnemonic.Fcompp, Mnemonic.Fucom, Mnemonic.Fucomp, Mnemonic.Fucompp, Mnemonic.Ficom, Mnemonic.Ficomp,
        Mnemonic.Ftst, Mnemonic.Fxam, Mnemonic.Fprem, Mnemonic.Fprem1, Mnemonic.Fninit, Mnemonic.Finit,
    ];

    /// <summary>
    /// Instructions after which every condition code is undefined: FFREE, FNOP, FNCLEX and the
    /// stores of the status and control words by the SDM; FCOMI, FUCOMI and FCMOVcc set C1 to 0
    /// by the SDM, but AMD leaves it unchanged, so it is vendor-defined there.
    /// </summary>
    private static readonly HashSet<Mnemonic> UndefineAll =
    [
        Mnemonic.Ffree, Mnemonic.Fnop, Mnemonic.Fnclex, Mnemonic.Fclex, Mnemonic.Fnstsw, Mnemonic.Fstsw, Mnemonic.Fnstcw, Mnemonic.Fstcw,
        Mnemonic.Fcomi, Mnemonic.Fcomip, Mnemonic.Fucomi, Mnemonic.Fucomip,
        Mnemonic.Fcmovb, Mnemonic.Fcmove, Mnemonic.Fcmovbe, Mnemonic.Fcmovu, Mnemonic.Fcmovnb, Mnemonic.Fcmovne, Mnemonic.Fcmovnbe, Mnemonic.Fcmovnu,
    ];

    private static readonly Code[] Codes = [.. Enum.GetValues<Code>().Where(Usable)];

    public override string? HostGaps =>
        "FPREM and FPREM1 only as a case's first instruction on two normal operands: with a NaN result (invalid or NaN operands, " +
        "stack underflow) AMD leaves C0, C1 and C3 as they were, the emulator clears them (the SDM defines no quotient bits then); " +
        "not compared: FPTAN FPATAN F2XM1 FYL2X FYL2XP1 (the emulator's last bits differ from the host's), FSIN FCOS FSINCOS " +
        "(they matched an AMD host in 20,000 cases, but their last bits differ between vendors), " +
        "FBLD FBSTP, FLDENV/FSTENV/FSAVE/FRSTOR (FIP, FDP, FOP), FLDCW (exceptions stay masked)";

    private static bool Usable(Code c)
    {
        if (c == Code.INVALID)
        {
            return false;
        }

        var info = c.ToOpCode();
        if (!info.IsInstruction || info.Encoding != EncodingKind.Legacy || !info.Mode64 || Excluded.Contains(c.Mnemonic()))
        {
            return false;
        }

        var features = HostFeatures.CpuidOf(c);
        if (!features.Contains(CpuidFeature.FPU) || features.Any(f => !HostFeatures.Supports(f) && f != CpuidFeature.FPU))
        {
            return false;
        }

        for (int i = 0; i < info.OpCount; i++)
        {
            if (info.GetOpKind(i) is not (OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode or OpCodeOperandKind.mem or OpCodeOperandKind.ax))
            {
                return false;
            }
        }

        return true;
    }

    public override WorldCase Build(ulong seed, long index)
    {
        var b = new CaseBuilder(Name, seed, index, World.DataAddress);
        var r = b.R;
        var x87 = new byte[512];
        int pc = r.Pick(new[] { 0, 2, 3, 3 });
        int rc = r.Below(4);
        ushort fcw = (ushort)(0x0040 | 0x3f | (pc << 8) | (rc << 10));
        int depth = r.Range(0, 8);
        int top = (8 - depth) & 7;
        ushort fsw = (ushort)((top << 11) | (r.Chance(30) ? r.Below(0x4000) & 0x4700 : 0));
        BinaryPrimitives.WriteUInt16LittleEndian(x87.AsSpan(X87Image.Fcw), fcw);
        BinaryPrimitives.WriteUInt16LittleEndian(x87.AsSpan(X87Image.Fsw), fsw);
        byte tags = 0;
        for (int i = 0; i < 8; i++)
        {
            int phys = (top + i) & 7;
            var (mantissa, signExponent) = i < depth ? Float80(r) : (r.Chance(50) ? Float80(r) : (0UL, (ushort)0));
            BinaryPrimitives.WriteUInt64LittleEndian(x87.AsSpan(X87Image.St + 16 * i), mantissa);
            BinaryPrimitives.WriteUInt16LittleEndian(x87.AsSpan(X87Image.St + 16 * i + 8), signExponent);
            if (i < depth)
            {
                tags |= (byte)(1 << phys);
            }
        }

        x87[X87Image.Ftw] = tags;
        int n = r.Range(1, 8);
        ushort undefinedCodes = 0;
        if (depth >= 2 && Normal(x87, 0) && Normal(x87, 1) && r.Chance(25))
        {
            // A remainder whose operands are known good: the quotient bits in C0 C3 C1 and C2 for a partial result.
            b.TryAdd(Instruction.Create(r.Chance(50) ? Code.Fprem : Code.Fprem1));
        }

        for (int tries = 0; b.Count < n && tries < 20 * n; tries++)
        {
            var code = r.Pick(Codes);
            var m = code.Mnemonic();
            if (m is Mnemonic.Fnstsw or Mnemonic.Fstsw && undefinedCodes != 0)
            {
                continue; // it would store undefined condition codes
            }

            if (!TryAdd(b, code))
            {
                continue;
            }

            undefinedCodes = m == Mnemonic.Wait ? undefinedCodes
                : DefineAll.Contains(m) ? (ushort)0
                : UndefineAll.Contains(m) ? AllCodes
                : (ushort)(C0 | C2 | C3); // the rest: C1 defined, C0 C2 C3 undefined
        }

        var c = b.Build();
        return new WorldCase(c, 64, WorldCase.AllWritable(), WorldCase.RegionAround(c), x87) { FswCompared = (ushort)~undefinedCodes };
    }

    /// <summary>Whether ST(i) of the image is a normal number (exponent neither 0 nor all ones, integer bit set).</summary>
    private static bool Normal(byte[] x87, int i)
    {
        int exponent = BinaryPrimitives.ReadUInt16LittleEndian(x87.AsSpan(X87Image.St + 16 * i + 8)) & 0x7fff;
        return exponent is > 0 and < 0x7fff && (BinaryPrimitives.ReadUInt64LittleEndian(x87.AsSpan(X87Image.St + 16 * i)) >> 63) != 0;
    }

    private static bool TryAdd(CaseBuilder b, Code code)
    {
        var info = code.ToOpCode();
        var r = b.R;
        var ops = new List<object>();
        for (int i = 0; i < info.OpCount; i++)
        {
            switch (info.GetOpKind(i))
            {
                case OpCodeOperandKind.st0:
                    ops.Add(Register.ST0);
                    break;
                case OpCodeOperandKind.sti_opcode:
                    ops.Add(Register.ST0 + r.Below(8));
                    break;
                case OpCodeOperandKind.ax:
                    ops.Add(Register.AX);
                    break;
                default:
                    int size = Math.Max(1, CaseBuilder.MemorySizeOf(code));
                    var mem = b.Mem(size);
                    Seed(b, (int)b.OffsetOfOperand(mem), MemorySizeKind(code), size);
                    ops.Add(mem);
                    break;
            }
        }

        Instruction insn = ops.Count switch
        {
            0 => Instruction.Create(code),
            1 => ops[0] is Register reg ? Instruction.Create(code, reg) : Instruction.Create(code, (MemoryOperand)ops[0]),
            _ => Instruction.Create(code, (Register)ops[0], (Register)ops[1]),
        };
        return b.TryAdd(insn);
    }

    private static MemorySize MemorySizeKind(Code code)
    {
        var probe = default(Instruction);
        probe.Code = code;
        return probe.MemorySize;
    }

    /// <summary>Writes an interesting value of the operand's type at the operand's offset in the data buffer.</summary>
    private static void Seed(CaseBuilder b, int offset, MemorySize kind, int size)
    {
        var r = b.R;
        var at = b.Data.AsSpan(offset);
        switch (kind)
        {
            case MemorySize.Float32:
                BinaryPrimitives.WriteUInt32LittleEndian(at, Values.Single(r));
                break;
            case MemorySize.Float64:
                BinaryPrimitives.WriteUInt64LittleEndian(at, Values.Double(r));
                break;
            case MemorySize.Float80:
                var (m, se) = Float80(r);
                BinaryPrimitives.WriteUInt64LittleEndian(at, m);
                BinaryPrimitives.WriteUInt16LittleEndian(at[8..], se);
                break;
            case MemorySize.Int16 or MemorySize.Int32 or MemorySize.Int64:
                ulong v = r.Chance(50) ? (ulong)(long)r.Range(-1000, 1000) : Values.Gpr(r);
                for (int i = 0; i < size; i++)
                {
                    at[i] = (byte)(v >> (8 * i));
                }

                break;
        }
    }

    /// <summary>A random extended-precision value: (significand, sign and exponent).</summary>
    public static (ulong Mantissa, ushort SignExponent) Float80(Rng r)
    {
        ushort sign = (ushort)(r.Chance(50) ? 0x8000 : 0);
        const ulong J = 1UL << 63;
        switch (r.Below(12))
        {
            case 0:
                return (0, sign); // zero
            case 1:
                return (J, (ushort)(sign | 0x7fff)); // infinity
            case 2:
                return (J | (1UL << 62) | (r.Next() >> 2) * (ulong)r.Below(2), (ushort)(sign | 0x7fff)); // QNaN (often the indefinite)
            case 3:
                return (J | Math.Max(1, r.Next() >> 3), (ushort)(sign | 0x7fff)); // SNaN
            case 4:
                return (r.Next() >> 1 | 1, sign); // denormal
            case 5:
                return (J | (r.Next() >> 40 << 40), (ushort)(sign | (0x3fff + r.Range(-3, 63)))); // short significand: exact integers and halves
            case 6:
                return (J | r.Next(), (ushort)(sign | r.Range(1, 0x7ffe))); // anything normal
            case 7:
                return (J | (r.Next() >> 11 << 11) | (r.Chance(50) ? 0x400UL : 0x3ffUL), (ushort)(sign | (0x3fff + r.Range(-60, 60)))); // a double plus half an ulp: rounding ties
            case 8:
                double d = (r.Below(2000) - 1000) / 8.0;
                return ToFloat80(d);
            case 9:
                return (J | r.Next(), (ushort)(sign | r.Pick(new[] { 1, 2, 0x3c01, 0x43fe, 0x7ffe, 0x7ffd, 0x3bcc, 0x3f80, 0x407e }))); // range edges of the formats
            default:
                return (J | r.Next(), (ushort)(sign | (0x3fff + r.Range(-70, 70))));
        }
    }

    private static (ulong, ushort) ToFloat80(double d)
    {
        if (d == 0)
        {
            return (0, (ushort)(double.IsNegative(d) ? 0x8000 : 0));
        }

        ulong bits = BitConverter.DoubleToUInt64Bits(d);
        ushort sign = (ushort)(bits >> 63 << 15);
        int exponent = (int)(bits >> 52 & 0x7ff);
        ulong fraction = bits & ((1UL << 52) - 1);
        return ((1UL << 63) | (fraction << 11), (ushort)(sign | (exponent - 1023 + 16383)));
    }
}
