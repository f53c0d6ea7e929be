using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// Code that faults, in 64-bit mode at CPL 3: 0-3 random ALU instructions, then one instruction
/// chosen to raise an exception (or, now and then, one that only nearly does), then 0-2 more that
/// must not run. The guard pages around the data buffer are at random not present, read-only or
/// writable. Kinds: page-crossing stores and loads of 2-16 bytes (SSE included) into or out of a
/// guard page (#PF; a faulting store must write nothing), plain accesses to a guard page,
/// non-canonical addresses (#GP, #SS through RSP or RBP), misaligned aligned-SSE operands and
/// CMPXCHG16B (#GP), privileged instructions (#GP), INT n through a DPL-0 gate (#GP with the
/// IDT error code, saved RIP the INT's), INT3 and INT 4 (#BP, #OF: traps), invalid opcodes and
/// LOCK misuse (#UD), divide errors (#DE), and jumps to data, absent or non-canonical code
/// (#PF on fetch with the I/D bit, or #GP).
/// </summary>
public sealed class FaultGroup() : WorldGroup("fault", "faults at CPL 3: #PF, #GP, #SS, #UD, #DE, #BP, #OF")
{
    private enum Kind
    {
        CrossStore,
        CrossLoad,
        GuardAccess,
        NonCanonical,
        StackNonCanonical,
        Misaligned,
        Privileged,
        IntN,
        Breakpoint,
        Invalid,
        Divide,
        JumpAway,
    }

    private static readonly (Kind Kind, int Weight)[] Weights =
    [
        (Kind.CrossStore, 22), (Kind.CrossLoad, 12), (Kind.GuardAccess, 10), (Kind.NonCanonical, 7), (Kind.StackNonCanonical, 0),
        (Kind.Misaligned, 9), (Kind.Privileged, 10), (Kind.IntN, 6), (Kind.Breakpoint, 3), (Kind.Invalid, 8), (Kind.Divide, 8), (Kind.JumpAway, 4),
    ];

    /// <summary>The emulator's differences from the host that the group does not generate (see <see cref="HostGaps"/>).</summary>
    public override string? HostGaps =>
        "not generated, known emulator differences: a non-canonical stack reference (RSP/RBP base) raises #GP(0), not #SS(0); " +
        "a read-modify-write instruction faulting on a not-present page reports a read (#PF error code without W); " +
        "a 16-byte store whose first page faults 8-15 bytes before the boundary names a later byte of that page in CR2 " +
        "(Translator.StraddlingQwordAddress); a 16-byte access starting 8 or more bytes below the canonical gap and ending in it " +
        "raises #PF for its low half instead of #GP(0); a near jump or call to a non-canonical address faults at the target, not at the jump";

    /// <summary>Read-modify-write stores: their faulting page is kept present (see <see cref="HostGaps"/>).</summary>
    private static readonly HashSet<Mnemonic> ReadModifyWrite = [Mnemonic.Add, Mnemonic.Sub, Mnemonic.Or, Mnemonic.Inc, Mnemonic.Not, Mnemonic.Neg, Mnemonic.Shl, Mnemonic.Cmpxchg];

    private static readonly Code[] Alu = [.. Enum.GetValues<Code>().Where(c => c != Code.INVALID && CaseBuilder.CanBuild(c) && DiffGroup.AluCodes(c))];

    /// <summary>Stores of 2-16 bytes (no LOCK and no XCHG: a locked access across a page boundary is a split lock, which some hosts trap).</summary>
    private static readonly Code[] Stores =
    [
        Code.Mov_rm16_r16, Code.Mov_rm32_r32, Code.Mov_rm64_r64, Code.Mov_rm32_imm32, Code.Mov_rm64_imm32, Code.Mov_rm16_imm16,
        Code.Add_rm64_r64, Code.Add_rm32_r32, Code.Sub_rm16_r16, Code.Or_rm64_imm8, Code.Inc_rm32, Code.Not_rm64, Code.Neg_rm16, Code.Shl_rm32_1,
        Code.Cmpxchg_rm64_r64, Code.Movnti_m32_r32, Code.Movnti_m64_r64,
        Code.Movdqu_xmmm128_xmm, Code.Movups_xmmm128_xmm, Code.Movupd_xmmm128_xmm, Code.Movq_xmmm64_xmm, Code.Movd_rm32_xmm, Code.Movq_rm64_xmm,
        Code.Movhps_m64_xmm, Code.Movlpd_m64_xmm, Code.Movsd_xmmm64_xmm, Code.Movss_xmmm32_xmm,
    ];

    private static readonly Code[] Loads =
    [
        Code.Mov_r16_rm16, Code.Mov_r32_rm32, Code.Mov_r64_rm64, Code.Movzx_r32_rm16, Code.Movsx_r64_rm16, Code.Movsxd_r64_rm32,
        Code.Add_r64_rm64, Code.Cmp_rm32_r32, Code.Test_rm64_r64, Code.Imul_r64_rm64, Code.Popcnt_r64_rm64,
        Code.Movdqu_xmm_xmmm128, Code.Movups_xmm_xmmm128, Code.Lddqu_xmm_m128, Code.Movq_xmm_xmmm64, Code.Movhps_xmm_m64, Code.Cvtsi2sd_xmm_rm64,
    ];

    /// <summary>Instructions whose 16-byte memory operand must be aligned (SDM Vol. 1 14.2.3 / 11.4.4).</summary>
    private static readonly Code[] AlignedVector =
    [
        Code.Movaps_xmm_xmmm128, Code.Movaps_xmmm128_xmm, Code.Movapd_xmm_xmmm128, Code.Movdqa_xmm_xmmm128, Code.Movdqa_xmmm128_xmm,
        Code.Movntdq_m128_xmm, Code.Movntps_m128_xmm, Code.Addps_xmm_xmmm128, Code.Mulpd_xmm_xmmm128, Code.Pand_xmm_xmmm128,
        Code.Paddd_xmm_xmmm128, Code.Pcmpeqb_xmm_xmmm128, Code.Punpcklbw_xmm_xmmm128, Code.Cmpxchg16b_m128,
    ];

    /// <summary>Privileged at CPL 3 (#GP(0)); I/O with IOPL 0 and no I/O bitmap is too.</summary>
    private static readonly byte[][] Privileged =
    [
        [0xf4], [0xfa], [0xfb], [0xec], [0xed], [0x66, 0xed], [0xe4, 0x80], [0xe5, 0x40], [0xee], [0xef], [0xe6, 0x80], [0xe7, 0x71],
        [0x6c], [0x6d], [0x6e], [0x6f], [0xf3, 0x6c], [0xf3, 0x6e], [0xf3, 0x48, 0x6d],
        [0x0f, 0x20, 0xc0], [0x0f, 0x20, 0xd8], [0x0f, 0x22, 0xd8], [0x0f, 0x22, 0xc0], [0x0f, 0x21, 0xf8], [0x0f, 0x23, 0xf8],
        [0x0f, 0x32], [0x0f, 0x30], [0x0f, 0x08], [0x0f, 0x09], [0x0f, 0x06], [0x0f, 0x01, 0xf8],
        [0x0f, 0x00, 0xd0], [0x0f, 0x00, 0xd8], [0x0f, 0x01, 0xf0], // lldt ax, ltr ax, lmsw ax
    ];

    /// <summary>Undefined in 64-bit mode on Intel and AMD alike, and LOCK where it is not allowed (#UD).</summary>
    private static readonly byte[][] Invalid =
    [
        [0x06], [0x07], [0x0e], [0x16], [0x17], [0x1e], [0x1f], [0x27], [0x2f], [0x37], [0x3f], [0x60], [0x61], [0xd4, 0x0a], [0xd6], [0xce],
        [0x9a, 0, 0, 0, 0, 0, 0], [0xea, 0, 0, 0, 0, 0, 0], [0x82, 0xc0, 0x01], [0xfe, 0xd0], [0xff, 0xf8], [0xc7, 0xc8], [0x8d, 0xc0],
        [0x0f, 0x0b], [0x0f, 0xb9, 0xc0], [0x0f, 0x04], [0x0f, 0x0a], [0x0f, 0x0c], [0x0f, 0xc7, 0xc8],
        [0xf0, 0x01, 0xd8], [0xf0, 0x90], [0xf0, 0xff, 0xc0], [0xf0, 0x87, 0xd8], [0xf0, 0x8b, 0x03], [0xf0, 0x89, 0x03], [0xf0, 0x0f, 0xb1, 0xc8],
    ];

    private static readonly ulong[] NonCanonicalValues =
    [
        0x8000_0000_0000_0000, 0x0000_8000_0000_0000, 0xffff_7fff_ffff_f000, 0x7fff_ffff_ffff_fff8 ^ 0x4000_0000_0000_0000, 0x1234_5678_9abc_def0,
    ];

    public override WorldCase Build(ulong seed, long index)
    {
        var b = new CaseBuilder(Name, seed, index, World.DataAddress);
        var r = b.R;
        var pages = WorldCase.AllWritable();
        pages[0] = r.Pick([PageAccess.None, PageAccess.Read, PageAccess.ReadWrite]);
        pages[^1] = r.Pick([PageAccess.None, PageAccess.None, PageAccess.Read, PageAccess.ReadWrite]);
        var kind = PickKind(r);
        b.Input.Gpr[(int)Emulator.X86.State.Gpr.Rsp] = World.UserRsp;

        // An address register the random instructions must not touch.
        Register spare = Register.None;
        if (kind is Kind.NonCanonical or Kind.JumpAway)
        {
            spare = r.Pick(new[] { Register.RSI, Register.RDI, Register.R8, Register.R9 }.Where(x => !b.IsReserved(x)).ToArray());
            b.Reserve(spare);
        }

        int prefix = r.Range(0, 3);
        for (int tries = 0; b.Count < prefix && tries < 20; tries++)
        {
            b.TryAddCode(r.Pick(Alu));
        }

        var undefinedBefore = b.Undefined;
        for (int tries = 0; tries < 20; tries++)
        {
            if (TryAddFault(b, kind, pages, spare))
            {
                break;
            }

            kind = r.Chance(50) ? Kind.Privileged : Kind.Invalid;
        }

        for (int i = r.Range(0, 2), tries = 0; i > 0 && tries < 10; tries++)
        {
            if (b.TryAddCode(r.Pick(Alu)))
            {
                i--;
            }
        }

        var c = b.Build();
        ulong before = ((ulong)RFlags.Arith & ~DiffCase.ToRflags(undefinedBefore)) | (ulong)RFlags.DF;
        return new WorldCase(c, 64, pages, WorldCase.RegionAround(c), flagsCompared: before);
    }

    private static Kind PickKind(Rng r)
    {
        int total = Weights.Sum(w => w.Weight), x = r.Below(total);
        foreach (var (kind, weight) in Weights)
        {
            if ((x -= weight) < 0)
            {
                return kind;
            }
        }

        return Kind.Invalid;
    }

    private static bool TryAddFault(CaseBuilder b, Kind kind, PageAccess[] pages, Register spare)
    {
        var r = b.R;
        long buffer = (long)(World.DataAddress + CaseBuilder.BaseOffset); // the base register's value
        switch (kind)
        {
            case Kind.CrossStore or Kind.CrossLoad:
            {
                var code = r.Pick(kind == Kind.CrossStore ? Stores : Loads);
                int size = CaseBuilder.MemorySizeOf(code);
                if (size < 2)
                {
                    return false;
                }

                // Across the boundary into the last guard page, or out of the first one into the buffer.
                bool intoLast = r.Chance(60);
                long boundary = intoLast ? (long)(World.RegionAddress + World.RegionBytes - 0x1000) : (long)World.DataAddress;
                int before = r.Range(1, size - 1);
                if (size == 16 && !intoLast && kind == Kind.CrossStore)
                {
                    before = Math.Min(before, 7); // see HostGaps: CR2 of a 16-byte store faulting in its first page
                }

                KeepPresent(code, pages, intoLast ? pages.Length - 1 : 0);
                return b.TryAdd(WithMemory(b, code, b.At(boundary - before - buffer)));
            }

            case Kind.GuardAccess:
            {
                var code = r.Pick(r.Chance(50) ? Stores : Loads);
                bool last = r.Chance(50);
                int size = Math.Max(1, CaseBuilder.MemorySizeOf(code));
                long page = last ? (long)(World.RegionAddress + World.RegionBytes - 0x1000) : (long)World.RegionAddress;
                long address = page + r.Range(0, 0x1000 - size);
                KeepPresent(code, pages, last ? pages.Length - 1 : 0);
                return b.TryAdd(WithMemory(b, code, b.At(address - buffer)));
            }

            case Kind.NonCanonical:
            {
                ulong value = r.Pick(NonCanonicalValues);
                b.Input.Gpr[spare - Register.RAX] = value;
                var code = r.Pick(r.Chance(50) ? Stores : Loads);

                // Just above the canonical gap's lower edge, a negative displacement makes the first
                // bytes canonical: an access that ends in the gap is #GP(0) all the same.
                // (A 16-byte access is checked by halves: it starts at most 7 bytes below the gap, see HostGaps.)
                int disp = value == 0x0000_8000_0000_0000 ? r.Range(1 - Math.Clamp(CaseBuilder.MemorySizeOf(code), 1, 8), 64) : r.Range(-64, 64);
                return b.TryAdd(WithMemory(b, code, new MemoryOperand(spare, Register.None, 1, disp, CaseBuilder.DisplSize(disp))));
            }

            case Kind.StackNonCanonical:
            {
                // Through RSP or RBP the fault is #SS(0), not #GP (SDM Vol. 3A 6.15, interrupt 12).
                bool rsp = r.Chance(50) || b.IsReserved(Register.RBP);
                var reg = rsp ? Register.RSP : Register.RBP;
                b.Input.Gpr[reg - Register.RAX] = r.Pick(NonCanonicalValues);
                if (rsp && r.Chance(50))
                {
                    return b.TryAdd(r.Chance(50) ? Instruction.Create(Code.Push_r64, b.Gpr(64)) : Instruction.Create(Code.Pop_r64, b.Gpr(64)));
                }

                int disp = r.Range(-64, 64);
                return b.TryAdd(WithMemory(b, r.Pick(r.Chance(50) ? Stores : Loads), new MemoryOperand(reg, Register.None, 1, disp, CaseBuilder.DisplSize(disp))));
            }

            case Kind.Misaligned:
            {
                var code = r.Pick(AlignedVector);
                long offset = r.Range(512, HostCpu.DataSize - 512) & ~15;
                if (r.Chance(85))
                {
                    offset += r.Range(1, 15);
                }

                return b.TryAdd(WithMemory(b, code, b.At(offset - CaseBuilder.BaseOffset)));
            }

            case Kind.Privileged:
            {
                if (r.Chance(25))
                {
                    // Descriptor-table loads and INVLPG with an operand in the buffer: the privilege check comes first.
                    var code = r.Pick(new[] { Code.Lgdt_m1664, Code.Lidt_m1664, Code.Invlpg_m });
                    return b.TryAdd(Instruction.Create(code, b.Mem(10)));
                }

                var bytes = r.Pick(Privileged);
                if (bytes[0] == 0xf3)
                {
                    // REP INS/OUTS with a count: at CPL 3 they fault with #GP(0) before any iteration.
                    return b.TryAdd([Instruction.Create(Code.Mov_r32_imm32, Register.ECX, r.Range(1, 4)), Instruction.CreateDeclareByte(bytes)]);
                }

                return b.TryAdd(Instruction.CreateDeclareByte(bytes));
            }

            case Kind.IntN:
            {
                int n;
                do
                {
                    n = r.Below(256);
                }
                while (n is 3 or 4 or 0x80); // DPL-3 gates in Linux's IDT (0x80: the 32-bit system call)
                return b.TryAdd(Instruction.CreateDeclareByte(0xcd, (byte)n));
            }

            case Kind.Breakpoint:
                return b.TryAdd(Instruction.CreateDeclareByte(r.Pick(new byte[][] { [0xcc], [0xcd, 0x03], [0xcd, 0x04] })));

            case Kind.Invalid:
                return b.TryAdd(Instruction.CreateDeclareByte(r.Pick(Invalid)));

            case Kind.Divide:
                return TryAddDivideError(b);

            case Kind.JumpAway:
            {
                ulong target = r.Below(3) switch
                {
                    0 => World.RegionAddress + World.RegionBytes - 0x1000 + (ulong)r.Below(0x1000), // the last guard page
                    1 => World.DataAddress + (ulong)r.Below(HostCpu.DataSize), // data: present, not executable
                    _ => 0x20_0000 + (ulong)r.Below(0x1000), // nothing mapped (a non-canonical target: see HostGaps)
                };
                b.Input.Gpr[spare - Register.RAX] = target;
                return b.TryAdd(r.Chance(50) ? Instruction.Create(Code.Jmp_rm64, spare) : Instruction.Create(Code.Call_rm64, spare));
            }

            default:
                return false;
        }
    }

    /// <summary>A read-modify-write instruction's guard page is made present (read-only) when it was not (see <see cref="HostGaps"/>).</summary>
    private static void KeepPresent(Code code, PageAccess[] pages, int page)
    {
        if (ReadModifyWrite.Contains(code.Mnemonic()) && pages[page] == PageAccess.None)
        {
            pages[page] = PageAccess.Read;
        }
    }

    /// <summary>DIV or IDIV by zero, or with a quotient that does not fit (IDIV of the most negative dividend by -1 included).</summary>
    private static bool TryAddDivideError(CaseBuilder b)
    {
        var r = b.R;
        int size = 1 << r.Below(4);
        int bits = 8 * size;
        bool signed = r.Chance(50);
        Register divisor = Register.None;
        for (int i = 0; i < 20 && divisor == Register.None; i++)
        {
            var candidate = b.Gpr(bits, allowHigh8: false);
            if (candidate.GetFullRegister() is not Register.RAX and not Register.RDX)
            {
                divisor = candidate;
            }
        }

        if (divisor == Register.None)
        {
            return false;
        }

        var list = new List<Instruction>();
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        ulong signBit = 1UL << (bits - 1);
        switch (r.Below(3))
        {
            case 0: // by zero, whatever the dividend
                list.Add(CaseBuilder.MovImm(divisor, 0));
                break;
            case 1 when signed: // most negative / -1
                Dividend(list, size, signBit, mask, negative: true);
                list.Add(CaseBuilder.MovImm(divisor, -1));
                break;
            default: // the high half at least the divisor: the quotient overflows
                ulong d = (ulong)r.Range(1, 200);
                ulong high = signed ? (d + (ulong)r.Range(0, 100)) & (signBit - 1) : d + (ulong)r.Range(0, 1000) & mask;
                if (high < d)
                {
                    high = d;
                }

                Dividend(list, size, high, mask, negative: false);
                list.Add(CaseBuilder.MovImm(divisor, (long)d));
                break;
        }

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
            list.Add(Instruction.Create(CaseBuilder.MovStore(divisor), mem, divisor));
            list.Add(Instruction.Create(code, mem));
        }
        else
        {
            list.Add(Instruction.Create(code, divisor));
        }

        return b.TryAdd(list.ToArray());
    }

    /// <summary>Sets the dividend's high half to <paramref name="high"/> (with <paramref name="negative"/>: all ones, and the low half to the sign bit).</summary>
    private static void Dividend(List<Instruction> list, int size, ulong high, ulong mask, bool negative)
    {
        if (size == 1)
        {
            // AX = high:low
            ulong ax = negative ? 0xff80 : ((high & 0xff) << 8) | 0x12;
            list.Add(CaseBuilder.MovImm(Register.AX, (long)ax));
            return;
        }

        var (rdx, rax) = size switch
        {
            2 => (Register.DX, Register.AX),
            4 => (Register.EDX, Register.EAX),
            _ => (Register.RDX, Register.RAX),
        };
        list.Add(CaseBuilder.MovImm(rdx, negative ? -1 : (long)(high & mask)));
        list.Add(CaseBuilder.MovImm(rax, negative ? (long)(1UL << (8 * size - 1)) : 0x1234));
    }

    /// <summary>An instance of <paramref name="code"/> with <paramref name="mem"/> as its memory operand and random registers and immediates.</summary>
    private static Instruction WithMemory(CaseBuilder b, Code code, MemoryOperand mem)
    {
        var info = code.ToOpCode();
        var r = b.R;
        Register Reg(OpCodeOperandKind k) => k switch
        {
            OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_or_mem => b.Gpr(16),
            OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_or_mem => b.Gpr(32),
            OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_or_mem => b.Gpr(64),
            OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_or_mem => b.Gpr(8),
            _ => b.Xmm(),
        };

        bool IsMem(OpCodeOperandKind k) => k is OpCodeOperandKind.mem or OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem
            or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.xmm_or_mem;

        var k0 = info.GetOpKind(0);
        if (info.OpCount == 1)
        {
            return Instruction.Create(code, mem);
        }

        var k1 = info.GetOpKind(1);
        bool imm1 = k1 is OpCodeOperandKind.imm8 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm8sex64
            or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8_const_1;
        if (IsMem(k0))
        {
            if (k1 == OpCodeOperandKind.imm8_const_1)
            {
                return Instruction.Create(code, mem, 1);
            }

            return imm1 ? Instruction.Create(code, mem, (int)Values.SignedImm(r, k1 is OpCodeOperandKind.imm16 ? 16 : k1 is OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 ? 32 : 8))
                : Instruction.Create(code, mem, Reg(k1));
        }

        return Instruction.Create(code, Reg(k0), mem);
    }
}
