using Emulator.Execution;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// The system-level CPU, exercised the way a kernel does: starting from the reset state in real
/// mode, through protected mode into long mode with 4-level paging, then exceptions delivered
/// through the IDT and privilege changes with SYSRET/SYSCALL.
/// </summary>
public sealed partial class SystemTests : IDisposable
{
    private const ulong Gdt = 0x1000, Idt = 0x2000, Tss = 0x3000, Pml4 = 0x10000, Pdpt = 0x11000, Pd = 0x12000;
    private const ulong Boot = 0x8000, Pm32 = 0x8100, Lm64 = 0x8200, Handlers = 0x9000, User = 0x400000;
    private const ushort Code32Sel = 0x08, DataSel = 0x10, Code64Sel = 0x18, TssSel = 0x30;

    private readonly GuestMemory memory;
    private readonly TranslationCache cache;
    private readonly Cpu cpu;
    private readonly ExecutionEngine engine;

    public SystemTests()
    {
        (memory, cache) = Emulator.Execution.Tiering.MachineCode.Create(16 << 20, Emulator.Execution.Tiering.MachineCode.FromEnvironment());
        cpu = new Cpu(memory);
        engine = new ExecutionEngine(cpu, cache) { DeliverEvents = true };

        // GDT: null, code32, data, code64, user data (0x20 | 3 via STAR + 8), user code64 (0x28 | 3), TSS (16 bytes).
        Write64(Gdt + 0x08, 0x00cf9a000000ffff);
        Write64(Gdt + 0x10, 0x00cf92000000ffff);
        Write64(Gdt + 0x18, 0x00af9a000000ffff);
        Write64(Gdt + 0x20, 0x00cff2000000ffff);
        Write64(Gdt + 0x28, 0x00affa000000ffff);
        ulong tssLow = 0x67 | ((Tss & 0xffffff) << 16) | (0x89UL << 40) | ((Tss >> 24) << 56);
        Write64(Gdt + 0x30, tssLow);
        Write64(Gdt + 0x38, 0);
        Write64(Tss + 4, 0x7f0000); // RSP0 for interrupts from ring 3

        // Identity-map the first 16 MiB with 2 MiB pages, user-accessible and writable.
        Write64(Pml4, Pdpt | 7);
        Write64(Pdpt, Pd | 7);
        for (ulong i = 0; i < 8; i++)
        {
            Write64(Pd + i * 8, (i << 21) | 0x87);
        }

        // The GDTR image at 0x7000 for LGDT.
        Write16(0x7000, 0x3f);
        Write64(0x7002, Gdt);

        // Real mode -> protected mode.
        Place(16, Boot, a =>
        {
            a.lgdt(__[0x7000]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(Code32Sel, (uint)Pm32);
        });

        // Protected mode -> long mode: PAE, CR3, EFER.LME, paging, far jump to 64-bit code.
        Place(32, Pm32, a =>
        {
            a.mov(ax, DataSel);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(esp, 0x7ff000);
            a.mov(eax, cr4);
            a.or(eax, 0x20);
            a.mov(cr4, eax);
            a.mov(eax, (uint)Pml4);
            a.mov(cr3, eax);
            a.mov(ecx, 0xc0000080);
            a.rdmsr();
            a.or(eax, 0x901); // SCE, LME, NXE
            a.wrmsr();
            a.mov(eax, cr0);
            a.or(eax, 0x80000000);
            a.mov(cr0, eax);
            a.jmp(Code64Sel, (uint)Lm64);
        });

        cpu.S.Rip = Boot;
        cpu.S.Cs.Selector = 0;
        cpu.S.Cs.Base = 0;
    }

    [Fact]
    public void BootsFromRealModeIntoLongModeWithPaging()
    {
        Place(64, Lm64, a =>
        {
            a.mov(rax, 0x1122334455667788);
            a.mov(__qword_ptr[0x500000], rax);
            a.hlt();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.True(cpu.Mode.Is64, cpu.Mode.ToString());
        Assert.Equal(0x1122334455667788UL, cpu.Reg(Gpr.Rax));
        Assert.Equal(0x1122334455667788UL, Read64(0x500000));
        Assert.Equal(0x500UL, cpu.S.Efer & 0x500); // LME and LMA

        // The walk set the accessed bits, and the dirty bit of the written 2 MiB page.
        Assert.NotEqual(0UL, Read64(Pml4) & 0x20);
        Assert.NotEqual(0UL, Read64(Pd + 2 * 8) & 0x40);
    }

    [Fact]
    public void DivideErrorGoesThroughTheIdtAndIretqResumes()
    {
        SetGate(0, Handlers);
        Place(64, Handlers, a =>
        {
            // #DE handler: count, skip the 2-byte DIV by moving the saved RIP, return.
            a.inc(r15);
            a.add(__qword_ptr[rsp], 2);
            a.iretq();
        });
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.xor(ecx, ecx);
            a.xor(r15d, r15d);
            a.mov(eax, 7);
            a.div(ecx); // 2 bytes: f7 f1
            a.mov(rbx, 0x42);
            a.hlt();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(1UL, cpu.Reg(Gpr.R15));
        Assert.Equal(0x42UL, cpu.Reg(Gpr.Rbx));
        Assert.Equal(0x7ff000UL, cpu.Reg(Gpr.Rsp)); // the frame was popped again
    }

    [Fact]
    public void PageFaultReportsCr2AndErrorCode()
    {
        SetGate(14, Handlers);
        Place(64, Handlers, a =>
        {
            a.pop(r14); // error code
            a.mov(r13, cr2);
            a.hlt();
        });
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.mov(rax, 0x40000000UL); // above the 16 MiB mapped: not present
            a.mov(__qword_ptr[rax + 8], rbx);
            a.hlt();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(0x40000008UL, cpu.Reg(Gpr.R13));
        Assert.Equal(2UL, cpu.Reg(Gpr.R14)); // a write (bit 1) to a not-present page (bit 0 clear) at CPL 0
    }

    [Fact]
    public void SysretToUserModeAndSyscallBack()
    {
        cpu.S.Star = ((ulong)(0x18 | 3) << 48) | ((ulong)Code64Sel << 32); // user CS = 0x28|3, SS = 0x20|3
        Place(64, Handlers, a =>
        {
            // The syscall entry: remember the user's RIP and the CPL we came from, then stop.
            a.mov(r12, rcx);
            a.mov(r13, r11);
            a.hlt();
        });
        Place(64, User, a =>
        {
            a.mov(r14, cs);
            a.syscall();
        });
        Place(64, Lm64, a =>
        {
            a.mov(rax, Handlers);
            a.mov(ecx, 0xc0000082);
            a.mov(edx, 0);
            a.wrmsr(); // LSTAR
            a.mov(rcx, User);
            a.mov(r11, 0x202);
            a.sysretq();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(0x2bUL, cpu.Reg(Gpr.R14)); // CS seen in user mode: 0x28 | RPL 3
        Assert.Equal(User + 3 + 2, cpu.Reg(Gpr.R12)); // RCX = the RIP after SYSCALL
        Assert.Equal(0x202UL, cpu.Reg(Gpr.R13) & 0x202);
        Assert.Equal(0, cpu.Cpl);
    }

    [Fact]
    public void PrivilegedInstructionInUserModeRaisesGp()
    {
        cpu.S.Star = ((ulong)(0x18 | 3) << 48) | ((ulong)Code64Sel << 32);
        SetGate(13, Handlers);
        Place(64, Handlers, a =>
        {
            a.pop(r14); // error code
            a.mov(r13, __qword_ptr[rsp + 8]); // saved CS
            a.hlt();
        });
        Place(64, User, a => a.cli());
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.mov(ax, TssSel);
            a.ltr(ax);
            a.mov(rcx, User);
            a.mov(r11, 0x2);
            a.sysretq();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(0UL, cpu.Reg(Gpr.R14));
        Assert.Equal(0x2bUL, cpu.Reg(Gpr.R13));
        Assert.Equal(0x7f0000UL - 40, cpu.Reg(Gpr.Rsp)); // RSP0 from the TSS, minus the 48-byte frame, plus the popped error code
    }

    [Fact]
    public void FarReturnAndIndirectFarJumpReloadCs()
    {
        Place(64, Lm64, a =>
        {
            var after = a.CreateLabel();
            var viaPointer = a.CreateLabel();

            // Linux's startup_64 reloads CS this way: push the selector and target, LRETQ.
            a.push(Code64Sel);
            a.lea(rax, __[after]);
            a.push(rax);
            a.AddInstruction(Instruction.Create(Code.Retfq)); // lretq
            a.Label(ref after);
            a.mov(r12, 1);

            // JMP m16:32 through a far pointer in memory (offset, then selector).
            a.lea(rax, __[viaPointer]);
            a.mov(__dword_ptr[0x7100], eax);
            a.mov(__word_ptr[0x7104], Code64Sel);
            a.jmp(__fword_ptr[0x7100]);
            a.Label(ref viaPointer);
            a.mov(r13, 2);
            a.hlt();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(1UL, cpu.Reg(Gpr.R12));
        Assert.Equal(2UL, cpu.Reg(Gpr.R13));
        Assert.Equal(Code64Sel, cpu.S.Cs.Selector);
    }

    [Fact]
    public void NmiIsDeliveredThroughVector2AndBlockedUntilIret()
    {
        SetGate(2, Handlers);
        Place(64, Handlers, a =>
        {
            a.inc(r15);
            a.iretq();
        });
        Place(64, Lm64, a =>
        {
            var spin = a.CreateLabel();
            LoadIdt(a);
            a.xor(r15d, r15d);
            a.Label(ref spin);
            a.cmp(r15, 2);
            a.jb(spin);
            a.hlt();
        });

        // Run into the spin loop, then raise two NMIs back to back: the second waits for the first's IRET.
        engine.Run(2_000);
        Assert.Equal(DeliveryResult.Delivered, cpu.DeliverNmi());
        Assert.Equal(DeliveryResult.Delivered, cpu.DeliverNmi());
        Assert.True(cpu.NmiPending, "the second NMI is held while the first handler runs");
        engine.Run(100);
        Assert.False(cpu.NmiBlocked, "IRET unblocked NMIs");
        Assert.Equal(DeliveryResult.Delivered, cpu.DeliverNmi());
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(2UL, cpu.Reg(Gpr.R15));
    }

    private void LoadIdt(Assembler a)
    {
        // IDTR image at 0x7010: limit for 256 16-byte gates, base Idt.
        Write16(0x7010, 256 * 16 - 1);
        Write64(0x7012, Idt);
        a.lidt(__[0x7010]);
        a.mov(rsp, 0x7ff000);
    }

    private void SetGate(int vector, ulong handler)
    {
        // 64-bit interrupt gate, DPL 0, present, selector Code64Sel.
        ulong low = (handler & 0xffff) | ((ulong)Code64Sel << 16) | (0x8eUL << 40) | (((handler >> 16) & 0xffff) << 48);
        Write64(Idt + (ulong)vector * 16, low);
        Write64(Idt + (ulong)vector * 16 + 8, handler >> 32);
    }

    private void Place(int bitness, ulong address, Action<Assembler> build)
    {
        var a = new Assembler(bitness);
        build(a);
        var bytes = TestMachine.Assemble(a, address);
        bytes.CopyTo(memory.Span(address, bytes.Length));
    }

    private void Write64(ulong pa, ulong v) => BitConverter.TryWriteBytes(memory.Span(pa, 8), v);

    private void Write16(ulong pa, ushort v) => BitConverter.TryWriteBytes(memory.Span(pa, 2), v);

    private ulong Read64(ulong pa) => BitConverter.ToUInt64(memory.Span(pa, 8));

    public void Dispose()
    {
        engine.Dispose();
        cpu.Dispose();
        cache.Dispose();
        memory.Dispose();
    }
}
