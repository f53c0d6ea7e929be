using System.Buffers.Binary;
using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.X86.DiffTests;

/// <summary>
/// The emulator side of a <see cref="WorldCase"/>: long mode with 4-level paging and a ring-3
/// case, as a Linux process sees the CPU, so faults have the host's vectors, error codes (the
/// U bit of a #PF included) and saved RIPs. Built the way src/Emulator.Cli/Fuzz/FuzzGuest.cs
/// builds its world, with Linux's selectors (user CS 0x33, compatibility CS 0x23, data 0x2b) so
/// even the saved CS compares. The tables, IDT stubs and ring-0 stack sit in supervisor pages;
/// the code page is user read-only; the region (a guard page, the 16 KiB data buffer, a guard
/// page, the same addresses as in the host runner) has per-case permissions; nothing else is
/// mapped. Every gate leads to a stub that stores its vector and halts, so the frame the CPU
/// pushed (error code, RIP, CS, RFLAGS, RSP) is read back from the ring-0 stack.
/// </summary>
public sealed unsafe class World : IDisposable
{
    public const ulong CodeAddress = 0x10000;
    public const ulong RegionAddress = 0xff000;
    public const int RegionPages = 6;
    public const int RegionBytes = RegionPages * 4096;

    /// <summary>The data buffer (<see cref="CaseBuilder"/>'s) is the region's pages 1-4.</summary>
    public const ulong DataAddress = RegionAddress + 0x1000;

    /// <summary>The stack pointer cases start with: user, unmapped (nothing generated uses the stack; a push would fault alike on both sides).</summary>
    public const ulong UserRsp = 0x8_0000;

    /// <summary>16-bit cases: base of the data segment (DS, ES, SS), so the buffer is reachable with 16-bit offsets.</summary>
    public const ulong Data16Base = RegionAddress;

    public const ushort UserCs64 = 0x33, UserCs32 = 0x23, UserDs = 0x2b, Code16Selector = 0x07, Data16Selector = 0x0f;
    private const ushort KernelCs = 0x10, KernelDs = 0x18, TssSelector = 0x40;

    private const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Pt = 0x4000, Gdt = 0x5000, Tss = 0x6000, Idt = 0x7000;
    private const ulong Marker = 0x8000, Stubs = 0x9000, KernelStackTop = 0xf000;
    private const ushort NoVector = 0xffff;
    private const ulong RamSize = 16 << 20;
    private const ulong P = 1, RW = 2, US = 4, XD = 1UL << 63;

    private readonly byte[] code = new byte[HostRunner.CodeSize];

    public World()
    {
        (Memory, Cache) = MachineCode.Create(RamSize, MachineCode.FromEnvironment());
        Cpu = new Cpu(Memory);
        Engine = new ExecutionEngine(Cpu, Cache) { DeliverEvents = true };
        WriteTables();
    }

    public GuestMemory Memory { get; }

    public TranslationCache Cache { get; }

    public Cpu Cpu { get; }

    public ExecutionEngine Engine { get; }

    private void WriteTables()
    {
        var low = Memory.Span(0, 0x10000);
        low.Clear();
        Write(low, Pml4, Pdpt | P | RW | US);
        Write(low, Pdpt, Pd | P | RW | US);
        Write(low, Pd, Pt | P | RW | US);
        for (ulong page = 1; page < 16; page++)
        {
            Write(low, Pt + page * 8, (page << 12) | P | RW); // tables, stubs, ring-0 stack: supervisor only
        }

        Write(low, Pt + (CodeAddress >> 12) * 8, CodeAddress | P | US); // the code page: user, read-only

        // Linux's GDT layout: null, kernel code32, kernel code64, kernel data, user code32, user data, user code64, -, TSS.
        ulong[] gdt = [0, 0x00cf_9b00_0000_ffff, 0x00af_9b00_0000_ffff, 0x00cf_9300_0000_ffff, 0x00cf_fb00_0000_ffff, 0x00cf_f300_0000_ffff, 0x00af_fb00_0000_ffff, 0];
        for (int i = 0; i < gdt.Length; i++)
        {
            Write(low, Gdt + (ulong)i * 8, gdt[i]);
        }

        Write(low, Gdt + TssSelector, 0x67 | ((Tss & 0xff_ffff) << 16) | (0x89UL << 40));
        Write(low, Tss + 4, KernelStackTop); // RSP0
        BinaryPrimitives.WriteUInt16LittleEndian(low[(int)(Tss + 0x66)..], 0x68); // no I/O bitmap (past the limit): IN/OUT at CPL 3 > IOPL fault, as in a Linux process

        // Interrupt gates to ring 0; #BP and #OF may be raised from ring 3 (INT3, INTO), as in Linux's IDT.
        for (int v = 0; v < 256; v++)
        {
            ulong target = Stubs + (ulong)v * 16;
            ulong type = v is 3 or 4 ? 0xeeUL : 0x8eUL;
            Write(low, Idt + (ulong)v * 16, (target & 0xffff) | ((ulong)KernelCs << 16) | (type << 40) | ((target >> 16 & 0xffff) << 48));
            Write(low, Idt + (ulong)v * 16 + 8, target >> 32);

            // mov word [Marker], v; hlt; jmp back to the hlt
            byte[] stub = [0x66, 0xc7, 0x04, 0x25, (byte)(Marker & 0xff), (byte)(Marker >> 8), 0, 0, (byte)v, 0, 0xf4, 0xeb, 0xfd];
            stub.CopyTo(low[(int)target..]);
        }
    }

    private static void Write(Span<byte> memory, ulong at, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(memory[(int)at..], value);

    /// <summary>Runs <paramref name="c"/> (its code followed by HLT) at CPL 3 and returns the exception that ended it, with the state at that point.</summary>
    public WorldOutcome Run(WorldCase c, long maxInstructions = 1_000_000)
    {
        var low = Memory.Span(0, 0x10000);
        for (int p = 0; p < RegionPages; p++)
        {
            ulong page = RegionAddress + (ulong)p * 4096;
            ulong pte = c.Pages[p] switch
            {
                PageAccess.None => 0,
                PageAccess.Read => page | P | US | XD,
                _ => page | P | RW | US | XD, // data: not executable, as the host runner maps it
            };
            Write(low, Pt + (page >> 12) * 8, pte);
        }

        c.Region.CopyTo(Memory.Span(RegionAddress, RegionBytes));
        Array.Clear(code);
        c.Code.CopyTo(code, 0);
        code[c.Code.Length] = 0xf4; // HLT: #GP(0) at CPL 3
        code.CopyTo(Memory.Span(CodeAddress, code.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(low[(int)Marker..], NoVector);

        // The code and tables were written behind the translation cache's back: drop stale blocks.
        Engine.Cache.Flush();
        Enter(c);
        var reason = Engine.Run(maxInstructions);

        ref var s = ref Cpu.S;
        var o = new WorldOutcome();
        int vector = BinaryPrimitives.ReadUInt16LittleEndian(low[(int)Marker..]);
        if (reason != StopReason.Halted || vector == NoVector || Cpu.Cpl != 0)
        {
            o.Failure = $"the emulator stopped with {reason} at rip=0x{s.Rip:x} (cpl {Cpu.Cpl}) without reaching an exception handler" +
                (reason == StopReason.TripleFault ? " (triple fault)" : "");
            return o;
        }

        // The frame: [error code,] RIP, CS, RFLAGS, RSP, SS (SDM Vol. 3A 6.14.2).
        ulong frame = Cpu.Reg(Gpr.Rsp);
        var stack = Memory.Span(frame, 48);
        if (Cpu.HasErrorCode(vector))
        {
            o.ErrorCode = BinaryPrimitives.ReadUInt64LittleEndian(stack);
            stack = Memory.Span(frame + 8, 40);
        }

        o.Vector = vector;
        o.Rip = BinaryPrimitives.ReadUInt64LittleEndian(stack);
        o.Cs = (ushort)BinaryPrimitives.ReadUInt64LittleEndian(stack[8..]);
        o.Rflags = BinaryPrimitives.ReadUInt64LittleEndian(stack[16..]);
        o.Cr2 = s.Cr2;
        for (int i = 0; i < 16; i++)
        {
            o.Gpr[i] = Cpu.Reg((Gpr)i);
        }

        o.Gpr[(int)Gpr.Rsp] = BinaryPrimitives.ReadUInt64LittleEndian(stack[24..]);
        X87Image.Save(Cpu, o.Fx);
        Memory.Span(RegionAddress, RegionBytes).CopyTo(o.Region);
        return o;
    }

    /// <summary>The state a Linux process runs with (CR0/CR4/EFER as Linux sets them), at CPL 3 in the case's mode.</summary>
    private void Enter(WorldCase c)
    {
        Cpu.Reset();
        ref var s = ref Cpu.S;
        s.Cr0 = 0x8005_0033; // PG, AM, WP, NE, ET, MP, PE
        s.Cr3 = Pml4;
        s.Cr4 = 0x6a0; // OSXMMEXCPT, OSFXSR, PGE, PAE
        s.Efer = 0xd01; // NXE, LMA, LME, SCE
        s.Gdtr.Base = Gdt;
        s.Gdtr.Limit = 0x4f;
        s.Idtr.Base = Idt;
        s.Idtr.Limit = 0xfff;
        s.Tr.Selector = TssSelector;
        s.Tr.Base = Tss;
        s.Tr.Limit = 0x67;
        s.Tr.Attrs = 0x8b; // present, busy 64-bit TSS
        for (int i = 0; i < 6; i++)
        {
            ref var seg = ref Cpu.Segment((Seg)i);
            seg.Selector = UserDs;
            seg.Base = 0;
            seg.Limit = 0xffff_ffff;
            seg.Attrs = 0xc0f3;
        }

        s.Fs.Selector = 0;
        s.Gs.Selector = 0;
        switch (c.Bitness)
        {
            case 64:
                s.Cs = new SegmentReg { Selector = UserCs64, Base = 0, Limit = 0xffff_ffff, Attrs = 0xa0fb };
                s.Rip = CodeAddress;
                break;
            case 32:
                s.Cs = new SegmentReg { Selector = UserCs32, Base = 0, Limit = 0xffff_ffff, Attrs = 0xc0fb };
                s.Rip = CodeAddress;
                break;
            default:
                // The host runner's LDT segments (modify_ldt): 16-bit code at CodeAddress, 16-bit data at Data16Base.
                s.Cs = new SegmentReg { Selector = Code16Selector, Base = CodeAddress, Limit = 0xffff, Attrs = 0x00fb };
                var data16 = new SegmentReg { Selector = Data16Selector, Base = Data16Base, Limit = 0xffff, Attrs = 0x00f3 };
                s.Ds = data16;
                s.Es = data16;
                s.Ss = data16;
                s.Rip = 0;
                break;
        }

        for (int i = 0; i < 16; i++)
        {
            Cpu.Reg((Gpr)i) = c.Input.Gpr[i];
        }

        Cpu.Rflags = c.Input.Rflags | (ulong)RFlags.IF;
        X87Image.Load(Cpu, c.FxImage());
        s.Halted = 0;
        s.ExceptionVector = -1;
        Cpu.FlushTlb();
        Cpu.OnPrivilegeChange();
    }

    public void Dispose()
    {
        Engine.Dispose();
        Cpu.Dispose();
        Cache.Dispose();
        Memory.Dispose();
    }
}

/// <summary>How a page of the region is mapped for a case.</summary>
public enum PageAccess
{
    None = 0,
    Read = 1,
    ReadWrite = 3,
}
