using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// MOVS, CMPS, SCAS, LODS and STOS of every size, with and without REP/REPE/REPNE and with
/// 64- or 32-bit addressing, plus CLD/STD. RSI and RDI start inside the data buffer and RCX
/// small, so every access stays inside the buffer whichever way DF points.
/// </summary>
public sealed class StringGroup : DiffGroup
{
    private const int MaxCount = 20;

    public StringGroup()
        : base("string", "movs, cmps, scas, lods, stos with rep/repe/repne")
    {
    }

    public override void Generate(CaseBuilder b)
    {
        var r = b.R;
        ulong data = b.DataAddress;
        ulong rsi = data + (ulong)r.Range(0x1000, HostCpu.DataSize - 0x1000);
        ulong rdi = r.Below(4) switch
        {
            0 => rsi, // the same bytes
            1 => rsi + (ulong)r.Range(-16, 16), // overlapping copies
            _ => data + (ulong)r.Range(0x1000, HostCpu.DataSize - 0x1000),
        };
        b.Input.Gpr[(int)Emulator.X86.State.Gpr.Rsi] = rsi;
        b.Input.Gpr[(int)Emulator.X86.State.Gpr.Rdi] = rdi;
        b.Input.Gpr[(int)Emulator.X86.State.Gpr.Rcx] = (ulong)r.Range(0, MaxCount);

        // Compare-heavy cases need equal bytes to run long: copy source bytes to the destination sometimes.
        if (r.Chance(40))
        {
            int len = r.Range(1, 64);
            b.Data.AsSpan((int)(rsi - data), len).CopyTo(b.Data.AsSpan((int)(rdi - data), len));
        }

        int n = r.Range(1, 8);
        for (int tries = 0; b.Count < n && tries < 20 * n; tries++)
        {
            if (r.Chance(10))
            {
                b.TryAdd(Instruction.Create(r.Chance(50) ? Code.Cld : Code.Std));
                continue;
            }

            int op = r.Below(5);
            int size = 1 << r.Below(4);
            int addressSize = r.Chance(20) ? 32 : 64;
            bool compares = op is 1 or 2;
            var rep = r.Below(3) switch
            {
                0 => RepPrefixKind.None,
                1 => RepPrefixKind.Repe,
                _ => compares ? RepPrefixKind.Repne : RepPrefixKind.Repe, // REPNE on other string ops is reserved
            };
            var insn = (op, size) switch
            {
                (0, 1) => Instruction.CreateMovsb(addressSize, Register.None, rep),
                (0, 2) => Instruction.CreateMovsw(addressSize, Register.None, rep),
                (0, 4) => Instruction.CreateMovsd(addressSize, Register.None, rep),
                (0, _) => Instruction.CreateMovsq(addressSize, Register.None, rep),
                (1, 1) => Instruction.CreateCmpsb(addressSize, Register.None, rep),
                (1, 2) => Instruction.CreateCmpsw(addressSize, Register.None, rep),
                (1, 4) => Instruction.CreateCmpsd(addressSize, Register.None, rep),
                (1, _) => Instruction.CreateCmpsq(addressSize, Register.None, rep),
                (2, 1) => Instruction.CreateScasb(addressSize, rep),
                (2, 2) => Instruction.CreateScasw(addressSize, rep),
                (2, 4) => Instruction.CreateScasd(addressSize, rep),
                (2, _) => Instruction.CreateScasq(addressSize, rep),
                (3, 1) => Instruction.CreateLodsb(addressSize, Register.None, rep),
                (3, 2) => Instruction.CreateLodsw(addressSize, Register.None, rep),
                (3, 4) => Instruction.CreateLodsd(addressSize, Register.None, rep),
                (3, _) => Instruction.CreateLodsq(addressSize, Register.None, rep),
                (_, 1) => Instruction.CreateStosb(addressSize, rep),
                (_, 2) => Instruction.CreateStosw(addressSize, rep),
                (_, 4) => Instruction.CreateStosd(addressSize, rep),
                (_, _) => Instruction.CreateStosq(addressSize, rep),
            };
            if (rep != RepPrefixKind.None && r.Chance(60))
            {
                // A fresh count, since an earlier REP usually ran RCX down to zero.
                b.TryAdd([CaseBuilder.MovImm(Register.ECX, r.Range(0, MaxCount)), insn], conditionalFlags: true);
            }
            else
            {
                b.TryAdd(insn, conditionalFlags: rep != RepPrefixKind.None);
            }
        }
    }
}
