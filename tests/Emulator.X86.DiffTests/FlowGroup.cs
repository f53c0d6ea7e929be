using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// Branches and loops between ALU instructions, so the emulator's block ends, block chaining and
/// (on tier 1) the jumps between compiled blocks are compared with the host: RCX counts a loop of
/// 1-8 rounds whose body starts with a CMP (so every round starts with the same flags defined)
/// and holds forward conditional jumps over 1-3 of its instructions; more ALU instructions and
/// forward jumps may follow the loop. Branches are rel32 forms, whose length does not depend on
/// the distance, and stay inside the case's code.
/// </summary>
public sealed class FlowGroup(int bitness = 64)
    : DiffGroup(bitness == 64 ? "flow" : $"flow{bitness}", "conditional branches and counted loops between ALU instructions", bitness)
{
    private readonly Code[] alu = [.. Enum.GetValues<Code>().Where(c => c != Code.INVALID && CaseBuilder.CanBuild(c, bitness) && AluCodes(c))];

    private readonly Code[] jcc = bitness == 64
        ?
        [
            Code.Jo_rel32_64, Code.Jno_rel32_64, Code.Jb_rel32_64, Code.Jae_rel32_64, Code.Je_rel32_64, Code.Jne_rel32_64, Code.Jbe_rel32_64, Code.Ja_rel32_64,
            Code.Js_rel32_64, Code.Jns_rel32_64, Code.Jp_rel32_64, Code.Jnp_rel32_64, Code.Jl_rel32_64, Code.Jge_rel32_64, Code.Jle_rel32_64, Code.Jg_rel32_64,
        ]
        :
        [
            Code.Jo_rel32_32, Code.Jno_rel32_32, Code.Jb_rel32_32, Code.Jae_rel32_32, Code.Je_rel32_32, Code.Jne_rel32_32, Code.Jbe_rel32_32, Code.Ja_rel32_32,
            Code.Js_rel32_32, Code.Jns_rel32_32, Code.Jp_rel32_32, Code.Jnp_rel32_32, Code.Jl_rel32_32, Code.Jge_rel32_32, Code.Jle_rel32_32, Code.Jg_rel32_32,
        ];

    private const int BranchLength = 6; // 0F 8x rel32

    public override void Generate(CaseBuilder b)
    {
        b.Reserve(Register.RCX);
        b.TryAdd(Instruction.Create(Code.Mov_r32_imm32, Register.ECX, (uint)b.R.Range(1, 8)));

        // The loop body: a CMP that defines every arithmetic flag, then ALU instructions with forward jumps among them.
        int head = b.Count;
        b.TryAdd(Instruction.Create(Code.Cmp_rm32_imm32, b.Gpr(32), (uint)b.R.Next()));

        Body(b, b.R.Range(1, 6));
        b.TryAdd(Instruction.Create(Code.Dec_rm32, Register.ECX));
        int back = Bytes(b, head, b.Count) + BranchLength;
        b.TryAdd(Instruction.CreateBranch(jcc[5], Target(BranchLength - (long)back)));

        // After the loop, sometimes more of the same.
        if (b.R.Chance(50))
        {
            Body(b, b.R.Range(1, 4));
        }
    }

    /// <summary>Appends <paramref name="n"/> ALU instructions, with a forward jump over the next 1-3 of them now and then.</summary>
    private void Body(CaseBuilder b, int n)
    {
        int added = 0;
        for (int tries = 0; added < n && tries < 20 * n; tries++)
        {
            if (added < n - 1 && b.R.Chance(40) && ForwardJump(b, Math.Min(3, n - 1 - added)) is int skipped)
            {
                added += skipped;
                continue;
            }

            if (b.TryAddCode(b.R.Pick(alu)))
            {
                added++;
            }
        }
    }

    /// <summary>
    /// A Jcc over the next 1-<paramref name="most"/> instructions (added here); the flags undefined
    /// after them are those undefined either way. Returns how many were skipped, or null.
    /// </summary>
    private int? ForwardJump(CaseBuilder b, int most)
    {
        var before = b.Undefined;
        int at = b.Count;
        var branch = b.R.Pick(jcc);
        if (!b.TryAdd(Instruction.CreateBranch(branch, EmulatorCpu.CodeAddress)))
        {
            return null;
        }

        int skipped = 0;
        int want = b.R.Range(1, most);
        for (int tries = 0; skipped < want && tries < 20 * want; tries++)
        {
            if (b.TryAddCode(b.R.Pick(alu)))
            {
                skipped++;
            }
        }

        b.ReplaceAt(at, Instruction.CreateBranch(branch, Target(BranchLength + (long)Bytes(b, at + 1, b.Count))));
        b.Undefined |= before;
        return skipped;
    }

    /// <summary>The branch target <paramref name="delta"/> bytes after the start of the code (CaseBuilder encodes at EmulatorCpu.CodeAddress).</summary>
    private static ulong Target(long delta) => EmulatorCpu.CodeAddress + (ulong)delta;

    private static int Bytes(CaseBuilder b, int from, int to)
    {
        int sum = 0;
        for (int i = from; i < to; i++)
        {
            sum += b.LengthOf(i);
        }

        return sum;
    }
}
