using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// MUL and IMUL (all forms) with random operands; DIV and IDIV with their dividend and divisor
/// set by MOVs just before, built from a chosen quotient, divisor and remainder so the quotient
/// always fits and #DE cannot happen.
/// </summary>
public sealed class MulDivGroup : DiffGroup
{
    private readonly Code[] multiplies;

    public MulDivGroup(int bitness = 64)
        : base(bitness == 64 ? "muldiv" : $"muldiv{bitness}", "mul, imul, div, idiv", bitness)
    {
        multiplies = [.. Enum.GetValues<Code>().Where(c => c != Code.INVALID && CaseBuilder.CanBuild(c, bitness) && Is(c, Mnemonic.Mul, Mnemonic.Imul))];
    }

    public override void Generate(CaseBuilder b)
    {
        int n = b.R.Range(1, 6);
        for (int items = 0, tries = 0; items < n && tries < 20 * n; tries++)
        {
            if (b.R.Chance(50) ? b.TryAddCode(b.R.Pick(multiplies)) : TryAddDivide(b))
            {
                items++;
            }
        }
    }

    private static bool TryAddDivide(CaseBuilder b)
    {
        var r = b.R;
        int size = 1 << r.Below(b.Bitness == 64 ? 4 : 3);
        int bits = 8 * size;
        bool signed = r.Chance(50);
        UInt128 mask = bits == 64 ? ulong.MaxValue : (UInt128)((1UL << bits) - 1);
        UInt128 dividend;
        ulong divisor;
        if (signed)
        {
            long q = SignExtend(Values.Gpr(r), bits);
            long d = SignExtend(Values.Gpr(r), bits);
            if (d == 0)
            {
                d = r.Chance(50) ? 1 : -1;
            }

            // |remainder| < |divisor|, with the sign of the dividend (IDIV truncates towards zero).
            UInt128 magnitude = d < 0 ? (UInt128)(-(Int128)d) : (UInt128)d;
            var rem = (Int128)(r.Below(3) switch { 0 => UInt128.Zero, 1 => magnitude - 1, _ => (UInt128)r.Next() % magnitude });
            Int128 product = (Int128)q * d;
            if (product < 0 || (product == 0 && r.Chance(50)))
            {
                rem = -rem;
            }

            dividend = (UInt128)(product + rem);
            divisor = (ulong)d;
        }
        else
        {
            ulong q = Values.Gpr(r) & (ulong)mask;
            ulong d = Values.Gpr(r) & (ulong)mask;
            if (d == 0)
            {
                d = 1;
            }

            ulong rem = r.Below(3) switch { 0 => 0, 1 => d - 1, _ => r.Next() % d };
            dividend = (UInt128)q * d + rem;
            divisor = d;
        }

        var list = new List<Instruction>();
        if (size == 1)
        {
            list.Add(CaseBuilder.MovImm(Register.AX, (long)(ulong)(dividend & 0xffff)));
        }
        else
        {
            ulong low = (ulong)(dividend & mask);
            ulong high = (ulong)((dividend >> bits) & mask);
            list.Add(CaseBuilder.MovImm(Sized(Register.RDX, size), (long)high));
            list.Add(CaseBuilder.MovImm(Sized(Register.RAX, size), (long)low));
        }

        // The divisor: a register other than RAX/RDX, or memory stored through one.
        Register reg = Register.None;
        for (int i = 0; i < 20 && reg == Register.None; i++)
        {
            var candidate = b.Gpr(bits);
            var full = candidate.GetFullRegister();
            if (full != Register.RAX && full != Register.RDX)
            {
                reg = candidate;
            }
        }

        if (reg == Register.None)
        {
            return false;
        }

        list.Add(CaseBuilder.MovImm(reg, (long)divisor));
        Code code = (signed, size) switch
        {
            (false, 1) => Code.Div_rm8,
            (false, 2) => Code.Div_rm16,
            (false, 4) => Code.Div_rm32,
            (false, _) => Code.Div_rm64,
            (true, 1) => Code.Idiv_rm8,
            (true, 2) => Code.Idiv_rm16,
            (true, 4) => Code.Idiv_rm32,
            (true, _) => Code.Idiv_rm64,
        };
        if (r.Chance(40))
        {
            var mem = b.Mem(size);
            list.Add(Instruction.Create(CaseBuilder.MovStore(reg), mem, reg));
            list.Add(Instruction.Create(code, mem));
        }
        else
        {
            list.Add(Instruction.Create(code, reg));
        }

        return b.TryAdd(list.ToArray());
    }

    private static long SignExtend(ulong v, int bits) => (long)(v << (64 - bits)) >> (64 - bits);

    private static Register Sized(Register full, int size) => size switch
    {
        2 => full - Register.RAX + Register.AX,
        4 => full - Register.RAX + Register.EAX,
        _ => full,
    };
}
