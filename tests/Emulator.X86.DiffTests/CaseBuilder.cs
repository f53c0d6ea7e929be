using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// Builds one case: a random input state, then instructions appended one at a time, each
/// checked so that the case cannot fault on the host (memory only inside the data buffer,
/// no #DE, aligned SSE operands) and never reads a flag an earlier instruction left undefined.
/// Memory operands address [base + index*scale + disp] where the base register holds an
/// address in the data buffer and the optional index register a small number; the case never
/// writes either of them, nor RSP.
/// </summary>
public sealed partial class CaseBuilder
{
    /// <summary>The base register points this far into the data buffer.</summary>
    public const int BaseOffset = 0x2000;

    /// <summary>Memory operands stay this far from the buffer's ends (room for BT bit offsets and 16-byte accesses).</summary>
    private const int Margin = 512;

    private static readonly Register[] BaseChoices = [Register.R15, Register.R15, Register.R15, Register.RBX, Register.RBP, Register.R12, Register.R13];
    private static readonly Register[] IndexChoices = [Register.R14, Register.R11, Register.R10];

    // 32-bit code has eight registers: one base, one index, the rest free.
    private static readonly Register[] BaseChoices32 = [Register.RBX, Register.RBX, Register.RBP, Register.RDI];
    private static readonly Register[] IndexChoices32 = [Register.RSI];

    // 16-bit addressing: [bx], [bp], [si] or [di] plus a displacement, no index.
    private static readonly Register[] BaseChoices16 = [Register.RBX, Register.RBX, Register.RBP, Register.RSI, Register.RDI];

    private readonly List<Instruction> instructions = [];
    private readonly ByteWriter writer = new();
    private readonly Encoder encoder;
    private readonly Register[] gprs;
    private readonly Register[] xmms;
    private RflagsBits undefined;

    /// <param name="bitness">64, or 32 for compatibility-mode code (eight registers, upper halves zero, 32-bit addresses), or 16
    /// (16-bit addresses; <paramref name="dataAddress"/> is then the buffer's offset in the data segment).</param>
    public CaseBuilder(string group, ulong seed, long index, ulong dataAddress, int bitness = 64)
    {
        Group = group;
        Seed = seed;
        Index = index;
        DataAddress = dataAddress;
        Bitness = bitness;
        R = Rng.ForCase(seed, group, index);
        encoder = Encoder.Create(bitness, writer);

        Data = new byte[HostCpu.DataSize];
        R.Fill(Data);
        for (int i = 0; i < 16; i++)
        {
            Input.Gpr[i] = Values.Gpr(R);
            Values.Xmm(R, Input.Xmm.AsSpan(2 * i, 2));
            if (bitness != 64)
            {
                Input.Gpr[i] &= 0xffff_ffff;
            }
        }

        // Arithmetic flags and DF at random; never TF or AC, which would trap on the host.
        Input.Rflags = (R.Next() & (ulong)(RFlags.Arith | RFlags.DF)) | (ulong)RFlags.Fixed1;

        // All exceptions masked (an unmasked one would kill the host process); random RC, FTZ,
        // DAZ and sticky exception flags.
        Input.Mxcsr = 0x1f80u | (uint)R.Below(4) << 13 | (R.Chance(25) ? 0x8000u : 0) | (R.Chance(25) ? 0x40u : 0) | (R.Chance(30) ? (uint)R.Below(64) : 0);

        Base = R.Pick(bitness switch { 64 => BaseChoices, 32 => BaseChoices32, _ => BaseChoices16 });
        Input.Gpr[Base - Register.RAX] = dataAddress + BaseOffset;
        IndexReg = bitness != 16 && R.Chance(40) ? R.Pick(bitness == 64 ? IndexChoices : IndexChoices32) : Register.None;
        if (IndexReg != Register.None)
        {
            IndexValue = R.Below(64);
            Input.Gpr[IndexReg - Register.RAX] = (ulong)IndexValue;
        }

        // Most cases work on a few registers, so instructions feed each other.
        var free = new List<Register>();
        for (var r = Register.RAX; r <= (bitness == 64 ? Register.R15 : Register.RDI); r++)
        {
            if (!IsReserved(r))
            {
                free.Add(r);
            }
        }

        gprs = R.Chance(60) ? [.. Enumerable.Range(0, 4).Select(_ => R.Pick(free))] : [.. free];
        xmms = R.Chance(60)
            ? [.. Enumerable.Range(0, 4).Select(_ => Register.XMM0 + R.Below(16))]
            : [.. Enumerable.Range(0, 16).Select(i => Register.XMM0 + i)];
    }

    public string Group { get; }

    public ulong Seed { get; }

    public long Index { get; }

    public Rng R { get; }

    public ulong DataAddress { get; }

    /// <summary>64, or 32 for compatibility-mode code.</summary>
    public int Bitness { get; }

    public MachineState Input { get; } = new();

    public byte[] Data { get; }

    /// <summary>The register holding <see cref="DataAddress"/> + <see cref="BaseOffset"/>.</summary>
    public Register Base { get; private set; }

    /// <summary>A register holding <see cref="IndexValue"/> for scaled-index operands, or None.</summary>
    public Register IndexReg { get; private set; }

    public int IndexValue { get; private set; }

    /// <summary>When set, 16-byte memory operands of SSE instructions are 16-byte aligned (unless the instruction allows any alignment).</summary>
    public bool AlignVectorMemory { get; set; }

    public int Count => instructions.Count;

    /// <summary>Restricts memory operands to a base register with no index (for groups whose instructions use the index registers implicitly).</summary>
    public void UseBaseOnly(Register baseReg)
    {
        Input.Gpr[Base - Register.RAX] = Values.Gpr(R) & (Bitness == 64 ? ulong.MaxValue : 0xffff_ffff);
        if (IndexReg != Register.None)
        {
            Input.Gpr[IndexReg - Register.RAX] = Values.Gpr(R) & (Bitness == 64 ? ulong.MaxValue : 0xffff_ffff);
        }

        Base = baseReg;
        IndexReg = Register.None;
        Input.Gpr[Base - Register.RAX] = DataAddress + BaseOffset;
    }

    public bool IsReserved(Register full) => full == Register.RSP || full == Base || full == IndexReg || full == Reserved;

    /// <summary>A register the case's random instructions never name (a loop counter), or None.</summary>
    public Register Reserved { get; private set; }

    /// <summary>Keeps <paramref name="full"/> out of the random operands from now on.</summary>
    public void Reserve(Register full)
    {
        Reserved = full;
        if (gprs.All(IsReserved))
        {
            gprs[0] = Enumerable.Range(0, Bitness == 64 ? 16 : 8).Select(i => Register.RAX + i).First(r => !IsReserved(r));
        }
    }

    /// <summary>The flags no instruction so far has defined (or whose last writer left undefined).</summary>
    public RflagsBits Undefined
    {
        get => undefined;
        set => undefined = value;
    }

    /// <summary>The encoded length of instruction <paramref name="index"/> (no instruction here is IP-relative but branches, which take a fixed rel32 form).</summary>
    public int LengthOf(int index)
    {
        int length = (int)encoder.Encode(instructions[index], EmulatorCpu.CodeAddress);
        writer.Clear();
        return length;
    }

    /// <summary>Replaces instruction <paramref name="index"/> (a branch whose target is known once the instructions after it are).</summary>
    public void ReplaceAt(int index, in Instruction insn) => instructions[index] = insn;

    /// <summary>A random writable general register of <paramref name="bits"/> bits (8-bit may be AH-BH).</summary>
    public Register Gpr(int bits, bool allowHigh8 = true)
    {
        for (int tries = 0; ; tries++)
        {
            var full = R.Pick(gprs);
            if (IsReserved(full))
            {
                continue;
            }

            int n = full - Register.RAX;
            if (bits == 8 && Bitness != 64 && n >= 4)
            {
                // SPL-DIL need a REX prefix: 32-bit code has only AL-BL and AH-BH.
                if (tries < 8)
                {
                    continue;
                }

                n = Enumerable.Range(0, 4).First(i => !IsReserved(Register.RAX + i));
            }

            return bits switch
            {
                8 when n < 4 && allowHigh8 && R.Chance(30) => Register.AH + n,
                8 => n < 4 ? Register.AL + n : Register.AL + n + 4,
                16 => Register.AX + n,
                32 => Register.EAX + n,
                _ => full,
            };
        }
    }

    public Register Xmm() => R.Pick(xmms);

    /// <summary>
    /// A memory operand of <paramref name="size"/> bytes inside the buffer, aligned to
    /// <paramref name="align"/>; its input bytes are often set to an interesting value.
    /// </summary>
    public MemoryOperand Mem(int size, int align = 1, bool vector = false)
    {
        int offset = R.Range(Margin, HostCpu.DataSize - Margin - 16) & ~(align - 1);
        SeedMemory(offset, size, vector);
        bool indexed = IndexReg != Register.None && align == 1 && R.Chance(60);
        int scale = indexed ? 1 << R.Below(4) : 1;

        long disp = offset - BaseOffset - (indexed ? (long)IndexValue * scale : 0);
        return At(disp, indexed ? IndexReg : Register.None, scale);
    }

    /// <summary>[Base + index * scale + disp], with 32-bit registers in 32-bit code.</summary>
    public MemoryOperand At(long disp, Register index = Register.None, int scale = 1) =>
        new(Address(Base), Address(index), scale, Bitness == 64 ? disp : (int)disp, DisplSizeFor(disp));

    /// <summary>Iced's displacement size for this builder's addressing.</summary>
    public int DisplSizeFor(long disp) => Bitness switch
    {
        64 => DisplSize(disp),
        32 => DisplSize32(disp),
        _ => disp == 0 ? 0 : disp is >= sbyte.MinValue and <= sbyte.MaxValue ? 1 : 2,
    };

    /// <summary>A 64-bit register as an address register of this builder's code.</summary>
    public Register Address(Register full) => full == Register.None || Bitness == 64 ? full
        : Bitness == 32 ? full - Register.RAX + Register.EAX : full - Register.RAX + Register.AX;

    /// <summary>Iced's displacement size for 64-bit addressing: 0, 1 (disp8) or 8 (disp32 sign-extended to 64 bits).</summary>
    public static int DisplSize(long disp) => disp == 0 ? 0 : disp is >= sbyte.MinValue and <= sbyte.MaxValue ? 1 : 8;

    /// <summary>The same for 32-bit addressing: 0, 1 or 4.</summary>
    public static int DisplSize32(long disp) => disp == 0 ? 0 : disp is >= sbyte.MinValue and <= sbyte.MaxValue ? 1 : 4;

    /// <summary>The offset in the data buffer that a memory operand of this builder addresses (index and base at their input values).</summary>
    public long OffsetOf(in Instruction insn) =>
        (long)insn.MemoryDisplacement64 + (insn.MemoryIndex == Register.None ? 0 : (long)IndexValue * insn.MemoryIndexScale) + BaseOffset;

    /// <summary>The offset in the data buffer that <paramref name="m"/> (made by <see cref="Mem"/>) addresses.</summary>
    public long OffsetOfOperand(in MemoryOperand m) =>
        m.Displacement + (m.Index == Register.None ? 0 : (long)IndexValue * m.Scale) + BaseOffset;

    private void SeedMemory(int offset, int size, bool vector)
    {
        if (!R.Chance(60))
        {
            return;
        }

        Span<ulong> q = stackalloc ulong[2];
        if (vector)
        {
            Values.Xmm(R, q);
        }
        else
        {
            q[0] = Values.Gpr(R);
            q[1] = Values.Gpr(R);
        }

        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(q);
        bytes[..Math.Min(16, Math.Max(size, 8))].CopyTo(Data.AsSpan(offset));
    }

    /// <summary>
    /// Appends <paramref name="list"/> if every instruction encodes and none reads a flag left
    /// undefined before it. <paramref name="conditionalFlags"/>: the last instruction may leave
    /// the flags unchanged (a count in CL, a REP prefix), so it cannot make undefined flags defined.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<Instruction> list, bool conditionalFlags = false)
    {
        var undef = undefined;
        for (int i = 0; i < list.Length; i++)
        {
            ref readonly var insn = ref list[i];
            var (read, modified, undefinedByInsn) = FlagEffects(insn);
            if ((read & undef) != 0)
            {
                return false;
            }

            if (!encoder.TryEncode(insn, EmulatorCpu.CodeAddress, out _, out _))
            {
                writer.Clear();
                return false;
            }

            writer.Clear();
            undef = conditionalFlags && i == list.Length - 1
                ? undef | undefinedByInsn
                : (undef & ~modified) | undefinedByInsn;
        }

        undefined = undef;
        instructions.AddRange(list);
        return true;
    }

    /// <summary>
    /// The flags an instruction reads, writes and leaves undefined: Iced's tables, except for
    /// rotates by an immediate, where Iced treats a count that is a multiple of the rotate width
    /// as no-op; the SDM (Vol. 2B RCL/RCR/ROL/ROR) makes OF undefined for every masked count
    /// other than 1, and real hardware does change it.
    /// </summary>
    public static (RflagsBits Read, RflagsBits Modified, RflagsBits Undefined) FlagEffects(in Instruction insn)
    {
        if (insn.Mnemonic is Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr && insn.OpCount == 2 && insn.Op1Kind == OpKind.Immediate8)
        {
            int size = insn.Op0Kind == OpKind.Register ? insn.Op0Register.GetSize() : insn.MemorySize.GetSize();
            int count = insn.Immediate8 & (size == 8 ? 0x3f : 0x1f);
            if (count == 0)
            {
                return (RflagsBits.None, RflagsBits.None, RflagsBits.None);
            }

            var read = insn.Mnemonic is Mnemonic.Rcl or Mnemonic.Rcr ? RflagsBits.CF : RflagsBits.None;
            return (read, RflagsBits.CF | RflagsBits.OF, count == 1 ? RflagsBits.None : RflagsBits.OF);
        }

        return (insn.RflagsRead, insn.RflagsModified, insn.RflagsUndefined);
    }

    public bool TryAdd(in Instruction insn, bool conditionalFlags = false) => TryAdd([insn], conditionalFlags);

    public DiffCase Build()
    {
        foreach (var insn in instructions)
        {
            encoder.Encode(insn, EmulatorCpu.CodeAddress);
        }

        var code = writer.ToArray();
        writer.Clear();
        ulong compared = ((ulong)RFlags.Arith & ~DiffCase.ToRflags(undefined)) | (ulong)RFlags.DF;
        return new DiffCase(Group, Seed, Index, Input, Data, [.. instructions], code, compared);
    }

    private sealed class ByteWriter : CodeWriter
    {
        private readonly List<byte> bytes = [];

        public override void WriteByte(byte value) => bytes.Add(value);

        public void Clear() => bytes.Clear();

        public byte[] ToArray() => [.. bytes];
    }
}
