using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>A family of instructions and how to generate random cases of it.</summary>
public abstract class DiffGroup
{
    private static readonly Lazy<IReadOnlyList<DiffGroup>> AllGroups = new(() =>
    [
        new CodeGroup("alu", "integer ALU, moves, cmovcc, setcc", AluCodes),
        new CodeGroup("shift", "shifts and rotates", ShiftCodes),
        new MulDivGroup(),
        new CodeGroup("bit", "bit tests and scans, counts, byte swaps, cmovcc, setcc", BitCodes),
        new StringGroup(),
        new CodeGroup("atomic", "cmpxchg, cmpxchg8b/16b, xadd, xchg, with and without LOCK", c => Is(c, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b, Mnemonic.Xadd, Mnemonic.Xchg)),
        new CodeGroup("sse", "SSE/SSE2 integer and floating point", SseCodes, alignVectorMemory: true),
        new CodeGroup("sse4", "SSE3, SSSE3, SSE4.1, SSE4.2 (string compares and CRC32 included)", Sse4Codes, alignVectorMemory: true),
        new FlowGroup(),
    ]);

    protected DiffGroup(string name, string title, int bitness = 64)
    {
        Name = name;
        Title = title;
        Bitness = bitness;
    }

    public static IReadOnlyList<DiffGroup> All => AllGroups.Value;

    public string Name { get; }

    public string Title { get; }

    /// <summary>64, or 32 for a group of compatibility-mode code (run by <see cref="WorldRunner"/> only: the host runs it in a child process).</summary>
    public int Bitness { get; }

    /// <summary>Why the host cannot run (part of) this group, or null.</summary>
    public virtual string? HostGaps => null;

    /// <summary>False if the host can run none of the group's instructions.</summary>
    public virtual bool Runnable => true;

    public static DiffGroup? Find(string name) => All.FirstOrDefault(g => g.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Appends the case's instructions (1-8 of the group's, plus set-up moves) and adjusts its input.</summary>
    public abstract void Generate(CaseBuilder b);

    public DiffCase Build(ulong seed, long index, ulong dataAddress)
    {
        var b = new CaseBuilder(Name, seed, index, dataAddress, Bitness);
        Generate(b);
        return b.Build();
    }

    protected static bool Is(Code c, params Mnemonic[] mnemonics) => Array.IndexOf(mnemonics, c.Mnemonic()) >= 0;

    private static readonly Mnemonic[] Cmovcc =
    [
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe, Mnemonic.Cmova,
        Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
    ];

    private static readonly Mnemonic[] Setcc =
    [
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta,
        Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg,
    ];

    internal static bool ShiftCodes(Code c) => Is(c, Mnemonic.Shl, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr, Mnemonic.Shld, Mnemonic.Shrd);

    internal static bool AluCodes(Code c) =>
        Is(c, Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.Cmp, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Test,
            Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Lea,
            Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc)
        || c == Code.Movsxd_r64_rm32 // MOVSXD without REX.W is discouraged by the SDM and differs between vendors
        || Is(c, Mnemonic.Arpl) // opcode 63 outside 64-bit mode
        || Is(c, Mnemonic.Daa, Mnemonic.Das, Mnemonic.Aaa, Mnemonic.Aas, Mnemonic.Aam, Mnemonic.Aad) // BCD adjusts outside 64-bit mode
        || Is(c, Cmovcc) || Is(c, Setcc);

    internal static bool BitCodes(Code c) =>
        Is(c, Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Tzcnt, Mnemonic.Lzcnt,
            Mnemonic.Popcnt, Mnemonic.Movbe)
        || (c.Mnemonic() == Mnemonic.Bswap && c != Code.Bswap_r16) // BSWAP r16 is undefined
        || Is(c, Cmovcc) || Is(c, Setcc);

    /// <summary>SSE/SSE2 instructions minus those with implementation-specific results, state side effects or no data effect.</summary>
    private static bool SseCodes(Code c)
    {
        if (Is(c, Mnemonic.Rcpps, Mnemonic.Rcpss, Mnemonic.Rsqrtps, Mnemonic.Rsqrtss, Mnemonic.Maskmovdqu, Mnemonic.Ldmxcsr, Mnemonic.Stmxcsr,
            Mnemonic.Fxsave, Mnemonic.Fxsave64, Mnemonic.Fxrstor, Mnemonic.Fxrstor64, Mnemonic.Lfence, Mnemonic.Mfence, Mnemonic.Sfence,
            Mnemonic.Clflush, Mnemonic.Pause, Mnemonic.Prefetchnta, Mnemonic.Prefetcht0, Mnemonic.Prefetcht1, Mnemonic.Prefetcht2))
        {
            return false;
        }

        var features = HostFeatures.CpuidOf(c);
        return features.Length > 0 && features.All(f => f is CpuidFeature.SSE or CpuidFeature.SSE2);
    }

    /// <summary>
    /// The x86-64-v2 vector instructions in their legacy encodings (the MMX forms of SSSE3 have no
    /// MM operands in the generator and stay with the unit tests), minus FISTTP (x87 state).
    /// </summary>
    private static bool Sse4Codes(Code c)
    {
        if (Is(c, Mnemonic.Fisttp))
        {
            return false;
        }

        var features = HostFeatures.CpuidOf(c);
        return features.Length > 0
            && features.All(f => f is CpuidFeature.SSE or CpuidFeature.SSE2 or CpuidFeature.SSE3 or CpuidFeature.SSSE3 or CpuidFeature.SSE4_1 or CpuidFeature.SSE4_2)
            && features.Any(f => f is CpuidFeature.SSE3 or CpuidFeature.SSSE3 or CpuidFeature.SSE4_1 or CpuidFeature.SSE4_2);
    }
}

/// <summary>A group generated from a list of Iced codes with random operands.</summary>
public class CodeGroup : DiffGroup
{
    private readonly bool alignVectorMemory;
    private readonly string? gaps;

    public CodeGroup(string name, string title, Func<Code, bool> select, bool alignVectorMemory = false, int bitness = 64)
        : base(name, title, bitness)
    {
        this.alignVectorMemory = alignVectorMemory;
        var all = Enum.GetValues<Code>().Where(c => c != Code.INVALID && CaseBuilder.CanBuild(c, bitness) && select(c)).ToList();
        Codes = [.. all.Where(c => !HostFeatures.Missing(c).Any())];
        var missing = all.SelectMany(HostFeatures.Missing).Distinct().ToList();
        gaps = missing.Count == 0 ? null : $"host lacks {string.Join(", ", missing)}: skipping {all.Count - Codes.Count} of {all.Count} forms";
    }

    public IReadOnlyList<Code> Codes { get; }

    public override string? HostGaps => gaps;

    public override bool Runnable => Codes.Count > 0;

    public override void Generate(CaseBuilder b)
    {
        b.AlignVectorMemory = alignVectorMemory;
        int n = b.R.Range(1, 8);
        for (int tries = 0; b.Count < n && tries < 20 * n; tries++)
        {
            b.TryAddCode(b.R.Pick(Codes));
        }
    }
}
