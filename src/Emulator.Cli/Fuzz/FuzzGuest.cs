using System.Buffers.Binary;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.Cli.Fuzz;

/// <summary>
/// The little world each random-code case starts from, written afresh before every case (the
/// case before may have overwritten any of it): long mode with 4-level paging, a GDT with ring-0
/// and ring-3 segments and a TSS, and an IDT whose 256 gates lead to stubs that record their
/// vector and halt. The first 2 MiB (these tables, the stubs, the ring-0 stack) are
/// supervisor-only; code, data and the rest of the first 4 GiB (RAM and the devices' MMIO
/// windows) are mapped 1:1 for both rings.
/// </summary>
internal static class FuzzGuest
{
    public const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Gdt = 0x4000, Tss = 0x5000, Idt = 0x6000;

    /// <summary>A stub stores its vector here (0x100 for SYSCALL); 0xffff until one runs.</summary>
    public const ulong Marker = 0x8000;
    public const ulong Stubs = 0x9000, SyscallStub = 0xa000, KernelStack = 0x9f000;

    /// <summary>Where a case's code goes, and the data its registers point into.</summary>
    public const ulong Code = 0x20_0000, CodeBytes = 0x1000, Data = 0x40_0000, DataBytes = 0x1_0000;
    public const ulong UserStack = 0x7f_f000;
    public const ushort NoVector = 0xffff, SyscallVector = 0x100;

    private const ushort KernelCs = 0x08, KernelDs = 0x10, UserCs32 = 0x1b, UserDs = 0x23, UserCs = 0x2b, TssSel = 0x30;

    /// <summary>The regions <see cref="Write"/> fills (the translation cache must forget code there).</summary>
    public static IEnumerable<(ulong Address, int Bytes)> Regions =>
        [(0, 0xb000), (Code, (int)CodeBytes), (Data, (int)DataBytes)];

    /// <summary>Writes the tables and stubs, <paramref name="code"/> (random bytes after it to the page end) and random data.</summary>
    public static void Write(GuestMemory memory, ReadOnlySpan<byte> code, FuzzRng rng)
    {
        var low = memory.Span(0, 0xb000);
        low.Clear();

        // Paging: PML4[0] -> PDPT; PDPT[0] -> a directory of 2 MiB pages (the first supervisor-only),
        // PDPT[1..3] are 1 GiB pages. P, RW, US (+ PS on the large pages).
        const ulong P = 1, RW = 2, US = 4, PS = 0x80;
        BinaryPrimitives.WriteUInt64LittleEndian(low[(int)Pml4..], Pdpt | P | RW | US);
        BinaryPrimitives.WriteUInt64LittleEndian(low[(int)Pdpt..], Pd | P | RW | US);
        for (ulong gib = 1; gib < 4; gib++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Pdpt + gib * 8)..], (gib << 30) | P | RW | US | PS);
        }

        for (ulong i = 0; i < 512; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Pd + i * 8)..], (i << 21) | P | RW | PS | (i == 0 ? 0 : US));
        }

        // GDT: null, kernel code64, kernel data, user code32, user data, user code64, TSS (two slots).
        ulong[] gdt = [0, 0x00af_9b00_0000_ffff, 0x00cf_9300_0000_ffff, 0x00cf_fb00_0000_ffff, 0x00cf_f300_0000_ffff, 0x00af_fb00_0000_ffff];
        for (int i = 0; i < gdt.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Gdt + (ulong)i * 8)..], gdt[i]);
        }

        ulong tssLow = 0x67 | ((Tss & 0xff_ffff) << 16) | (0x89UL << 40) | ((Tss >> 24 & 0xff) << 56);
        BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Gdt + 0x30)..], tssLow);
        BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Tss + 4)..], KernelStack); // RSP0

        // IDT: interrupt gates to the stubs; vectors 0x80 and up may be raised with INT n from ring 3.
        for (int v = 0; v < 256; v++)
        {
            ulong target = Stubs + (ulong)v * 16;
            ulong type = v >= 0x80 ? 0xeeUL : 0x8eUL;
            ulong lowHalf = (target & 0xffff) | ((ulong)KernelCs << 16) | (type << 40) | ((target >> 16 & 0xffff) << 48);
            BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Idt + (ulong)v * 16)..], lowHalf);
            BinaryPrimitives.WriteUInt64LittleEndian(low[(int)(Idt + (ulong)v * 16 + 8)..], target >> 32);
            WriteStub(low[(int)(Stubs + (ulong)v * 16)..], (ushort)v);
        }

        WriteStub(low[(int)SyscallStub..], SyscallVector);
        BinaryPrimitives.WriteUInt16LittleEndian(low[(int)Marker..], NoVector);

        var codeSpan = memory.Span(Code, (int)CodeBytes);
        code.CopyTo(codeSpan);
        rng.Fill(codeSpan[code.Length..]);
        rng.Fill(memory.Span(Data, (int)DataBytes));
    }

    /// <summary>mov word [Marker], vector; hlt; jmp back to the hlt (so an interrupt that wakes it halts again).</summary>
    private static void WriteStub(Span<byte> at, ushort vector)
    {
        byte[] stub = [0x66, 0xc7, 0x04, 0x25, (byte)(Marker & 0xff), (byte)(Marker >> 8), 0, 0, (byte)vector, (byte)(vector >> 8), 0xf4, 0xeb, 0xfd];
        stub.CopyTo(at);
    }

    /// <summary>Puts the vCPU at the start of the case: ring 0 or 3, random registers, flags and vector registers.</summary>
    public static unsafe void Enter(Cpu cpu, FuzzRng rng, bool user)
    {
        cpu.Reset();
        ref var s = ref cpu.S;
        s.Cr0 = 0x8005_0033; // PG, AM, WP, NE, ET, MP, PE
        s.Cr3 = Pml4;
        s.Cr4 = 0x6a0; // OSXMMEXCPT, OSFXSR, PGE, PAE
        s.Efer = 0xd01; // NXE, LMA, LME, SCE
        s.ApicBase = 0xfee0_0900; // enabled, BSP
        s.Star = ((ulong)UserCs32 << 48) | ((ulong)KernelCs << 32);
        s.Lstar = SyscallStub;
        s.Sfmask = 0x4700; // TF, IF, DF, NT
        s.Gdtr.Base = Gdt;
        s.Gdtr.Limit = 0x37;
        s.Idtr.Base = Idt;
        s.Idtr.Limit = 0xfff;
        s.Tr.Selector = TssSel;
        s.Tr.Base = Tss;
        s.Tr.Limit = 0x67;
        s.Tr.Attrs = 0x8b; // present, busy 64-bit TSS

        ushort cs = user ? UserCs : KernelCs, ds = user ? UserDs : KernelDs;
        for (int i = 0; i < 6; i++)
        {
            ref var seg = ref cpu.Segment((Seg)i);
            seg.Selector = ds;
            seg.Base = 0;
            seg.Limit = 0xffff_ffff;
            seg.Attrs = (ushort)(user ? 0xc0f3 : 0xc093);
        }

        s.Cs.Selector = cs;
        s.Cs.Attrs = (ushort)(user ? 0xa0fb : 0xa09b);
        s.Rip = Code;
        for (var r = Gpr.Rax; r <= Gpr.R15; r++)
        {
            cpu.Reg(r) = rng.Below(3) == 0 ? Data + (ulong)rng.Below((int)DataBytes) : rng.Interesting();
        }

        cpu.Reg(Gpr.Rsp) = user ? UserStack : KernelStack - 0x100;

        // Arithmetic flags and DF at random; IF in a third of the cases (device interrupts then arrive).
        ulong flags = 0x2 | (rng.Next() & 0xcd5);
        if (rng.Below(3) == 0)
        {
            flags |= 0x200;
        }

        cpu.Rflags = flags;
        for (int i = 0; i < 32; i++)
        {
            s.Xmm[i] = rng.Interesting();
        }

        s.Halted = 0;
        s.ExceptionVector = -1;
        cpu.FlushTlb();
        cpu.OnPrivilegeChange();
    }
}
