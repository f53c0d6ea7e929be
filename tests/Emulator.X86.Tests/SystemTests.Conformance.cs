using Emulator.Execution;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// Faults at the edges that a third-party CPU test found wrong (issue 15): a store that crosses
/// into or out of a not-present page writes nothing, string I/O at CPL 3 raises #GP(0), and an
/// INT n refused by its gate's DPL reports the INT instruction itself.
/// </summary>
public sealed partial class SystemTests
{
    /// <summary>The 2 MiB page below this address is made not present; the page from it on stays mapped.</summary>
    private const ulong Hole = 0xe00000;

    public static TheoryData<string, int, bool> CrossingStores()
    {
        var d = new TheoryData<string, int, bool>();
        // Each store form and its size in bytes; k < size puts the page boundary inside the store.
        var forms = new (string Form, int Size)[]
        {
            ("movdqu", 16), ("movups", 16), ("movupd", 16), ("movq", 8), ("movsd", 8), ("mmx-movq", 8),
            ("fstp-m80", 10), ("fbstp", 10), ("fxsave", 512), ("fnsave", 108), ("fnstenv", 28), ("sgdt", 10),
        };
        foreach (var (form, size) in forms)
        {
            foreach (int k in new[] { 2, 4, 8, 12 }.Where(k => k < size))
            {
                d.Add(form, k, true);
                d.Add(form, k, false);
            }
        }

        return d;
    }

    /// <summary>
    /// A store that crosses from a not-present page into a mapped one (or from a mapped page into
    /// a not-present one), k bytes before the boundary, faults with #PF and leaves the mapped
    /// page untouched (SDM Vol. 3A 4.7: the access is not performed). The 16-byte stores used
    /// to write their upper half first.
    /// </summary>
    [Theory]
    [MemberData(nameof(CrossingStores))]
    public void PageCrossingStoreThatFaultsWritesNothing(string form, int k, bool firstPageMissing)
    {
        Write64(Pd + (firstPageMissing ? 6UL : 7UL) * 8, 0); // 0xc00000..0xdfffff or 0xe00000..0xffffff not present
        ulong mappedStart = firstPageMissing ? Hole : Hole - 512;
        memory.Span(mappedStart, 512).Fill(0xa5);
        ulong at = Hole - (ulong)k;
        if (form == "fxsave")
        {
            at = Hole - 0x100; // 16-byte aligned, the image crosses at byte 256
        }

        ulong expectedCr2 = firstPageMissing ? at : Hole;

        SetGate(14, Handlers);
        Place(64, Handlers, a =>
        {
            a.pop(r14);
            a.mov(r13, cr2);
            a.hlt();
        });
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.mov(rax, 0x5555_5555_5555_5555UL);
            a.movq(xmm0, rax);
            a.punpcklqdq(xmm0, xmm0);
            a.movq(mm0, rax);
            a.fninit();
            a.fld1();
            a.mov(rbx, at);
            switch (form)
            {
                case "movdqu": a.movdqu(__xmmword_ptr[rbx], xmm0); break;
                case "movups": a.movups(__xmmword_ptr[rbx], xmm0); break;
                case "movupd": a.movupd(__xmmword_ptr[rbx], xmm0); break;
                case "movq": a.movq(__qword_ptr[rbx], xmm0); break;
                case "movsd": a.movsd(__qword_ptr[rbx], xmm0); break;
                case "mmx-movq": a.movq(__qword_ptr[rbx], mm0); break;
                case "fstp-m80": a.fstp(__tword_ptr[rbx]); break;
                case "fbstp": a.fbstp(__tword_ptr[rbx]); break;
                case "fxsave": a.fxsave(__[rbx]); break;
                case "fnsave": a.fnsave(__[rbx]); break;
                case "fnstenv": a.fnstenv(__[rbx]); break;
                case "sgdt": a.sgdt(__[rbx]); break;
            }

            a.mov(r12, 1); // not reached
            a.hlt();
        });
        cpu.Reg(Gpr.R12) = 0;
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(0UL, cpu.Reg(Gpr.R12));
        if (firstPageMissing && k >= 8 && form is "movdqu" or "movups" or "movupd")
        {
            // The IR stores 8 bytes at a time; the one that straddles the boundary goes first and
            // names its own first byte (Translator.StraddlingQwordAddress): in the same page.
            Assert.InRange(cpu.Reg(Gpr.R13), at, Hole - 1);
        }
        else
        {
            Assert.Equal(expectedCr2, cpu.Reg(Gpr.R13)); // CR2: the first byte in the not-present page
        }

        Assert.Equal(2UL, cpu.Reg(Gpr.R14)); // a supervisor write to a not-present page
        Assert.True(memory.Span(mappedStart, 512).ToArray().All(x => x == 0xa5), $"{form} at page end - {k} wrote into the mapped page");
    }

    /// <summary>REP INSB and REP OUTSB at CPL 3 with IOPL 0 and no I/O bitmap raise #GP(0), as IN and OUT do (SDM Vol. 2B INS, 18.5.2).</summary>
    [Theory]
    [InlineData("rep insb")]
    [InlineData("rep outsb")]
    [InlineData("insb")]
    [InlineData("outsw")]
    public void StringIoAtCpl3WithoutPermissionRaisesGp(string form)
    {
        Write16(Tss + 102, 0x68); // the I/O bitmap base beyond the TSS limit: no port is allowed
        cpu.S.Star = ((ulong)(0x18 | 3) << 48) | ((ulong)Code64Sel << 32);
        SetGate(13, Handlers);
        SetGate(6, Handlers + 0x100);
        Place(64, Handlers, a =>
        {
            a.mov(r12, 13);
            a.pop(r14); // error code
            a.mov(r13, __qword_ptr[rsp]); // saved RIP
            a.hlt();
        });
        Place(64, Handlers + 0x100, a =>
        {
            a.mov(r12, 6);
            a.hlt();
        });
        Place(64, User, a =>
        {
            a.mov(edx, 0x80);
            a.mov(rdi, User + 0x1000);
            a.mov(rsi, User + 0x1000);
            a.mov(ecx, 4);
            a.jmp(User + 0x100);
        });
        Place(64, User + 0x100, a =>
        {
            switch (form)
            {
                case "rep insb": a.rep.insb(); break;
                case "rep outsb": a.rep.outsb(); break;
                case "insb": a.insb(); break;
                case "outsw": a.outsw(); break;
            }

            a.hlt();
        });
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
        Assert.Equal(13UL, cpu.Reg(Gpr.R12));
        Assert.Equal(0UL, cpu.Reg(Gpr.R14));
        Assert.Equal(User + 0x100, cpu.Reg(Gpr.R13)); // the string instruction itself
        Assert.Equal(4UL, cpu.Reg(Gpr.Rcx)); // nothing was done
    }

    /// <summary>
    /// INT n through a gate whose DPL is below CPL is #GP(n*8+2) (IDT, not external), a fault:
    /// the saved RIP is that of the INT instruction, not the one after it (SDM Vol. 3A 6.12.1.1).
    /// </summary>
    [Fact]
    public void IntThroughPrivilegedGateFaultsAtTheIntInstruction()
    {
        cpu.S.Star = ((ulong)(0x18 | 3) << 48) | ((ulong)Code64Sel << 32);
        SetGate(13, Handlers);
        SetGate(0x80, Handlers + 0x100); // DPL 0
        Place(64, Handlers, a =>
        {
            a.pop(r14);
            a.mov(r13, __qword_ptr[rsp]);
            a.hlt();
        });
        Place(64, Handlers + 0x100, a =>
        {
            a.mov(r12, 1);
            a.hlt();
        });
        Place(64, User, a =>
        {
            a.nop();
            a.@int(0x80);
            a.hlt();
        });
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.mov(ax, TssSel);
            a.ltr(ax);
            a.mov(rcx, User);
            a.mov(r11, 0x2);
            a.sysretq();
        });
        cpu.Reg(Gpr.R12) = 0;
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(0UL, cpu.Reg(Gpr.R12));
        Assert.Equal((0x80UL << 3) | 2, cpu.Reg(Gpr.R14)); // selector index 0x80, IDT bit
        Assert.Equal(User + 1, cpu.Reg(Gpr.R13));
    }
    /// <summary>
    /// A data access to a non-canonical address in 64-bit mode raises #GP(0) before any page walk
    /// (SDM Vol. 3A 3.3.7.1), with the faulting instruction's RIP and CR2 untouched; it used to
    /// walk the tables and report #PF with the non-canonical address in CR2. Found by the host
    /// differential's fault group.
    /// </summary>
    [Theory]
    [InlineData(0x8000_0000_0000_0000UL, false)]
    [InlineData(0x0000_8000_0000_0000UL, true)]
    [InlineData(0xffff_7fff_ffff_fff8UL, false)]
    [InlineData(0x7fff_ffff_fffcUL, true)] // starts canonical (and not present), ends in the gap
    [InlineData(0x7fff_ffff_fffcUL, false)]
    public void NonCanonicalDataAccessRaisesGp(ulong address, bool store)
    {
        SetGate(13, Handlers);
        SetGate(14, Handlers + 0x100);
        Place(64, Handlers, a =>
        {
            a.mov(r12, 13);
            a.pop(r14); // error code
            a.mov(r13, __qword_ptr[rsp]); // saved RIP
            a.hlt();
        });
        Place(64, Handlers + 0x100, a =>
        {
            a.mov(r12, 14);
            a.hlt();
        });
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.mov(rbx, address);
            a.mov(rax, cr2);
            a.jmp(Lm64 + 0x80);
        });
        Place(64, Lm64 + 0x80, a =>
        {
            if (store)
            {
                a.mov(__qword_ptr[rbx], rax);
            }
            else
            {
                a.mov(rcx, __qword_ptr[rbx]);
            }

            a.hlt();
        });
        cpu.S.Cr2 = 0x1234;
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(13UL, cpu.Reg(Gpr.R12));
        Assert.Equal(0UL, cpu.Reg(Gpr.R14));
        Assert.Equal(Lm64 + 0x80, cpu.Reg(Gpr.R13));
        Assert.Equal(0x1234UL, cpu.S.Cr2);
    }

    /// <summary>
    /// INT 14, INT 13 or INT 8 refused by a DPL-0 gate is #GP(n*8+2) like any INT n: a software
    /// interrupt is not an exception, so the rules that make a double fault of a #PF or a
    /// contributory exception followed by #GP, or a triple fault of a fault while delivering #DF,
    /// do not apply (SDM Vol. 3A 6.15, interrupt 8). It used to be delivered as #DF (INT 8: a
    /// triple fault). Found by the host differential's fault group.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(14)]
    public void IntOfAnExceptionVectorRefusedByItsGateIsGpNotDoubleFault(int vector)
    {
        cpu.S.Star = ((ulong)(0x18 | 3) << 48) | ((ulong)Code64Sel << 32);
        SetGate(13, Handlers);
        SetGate(8, Handlers + 0x100);
        if (vector != 13)
        {
            SetGate(vector, Handlers + 0x100);
        }

        Place(64, Handlers, a =>
        {
            a.mov(r12, 13);
            a.pop(r14);
            a.mov(r13, __qword_ptr[rsp]);
            a.hlt();
        });
        Place(64, Handlers + 0x100, a =>
        {
            a.mov(r12, 8);
            a.hlt();
        });
        Place(64, User, a =>
        {
            a.nop();
            a.@int((byte)vector);
            a.hlt();
        });
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
        Assert.Equal(13UL, cpu.Reg(Gpr.R12));
        Assert.Equal(((ulong)vector << 3) | 2, cpu.Reg(Gpr.R14));
        Assert.Equal(User + 1, cpu.Reg(Gpr.R13));
    }
    /// <summary>
    /// A 16-byte store wholly inside a not-present page reports its first byte in CR2, as the CPU
    /// does; it used to write its high half first and name the byte 8 further on. Found by the
    /// host differential's fault group.
    /// </summary>
    [Theory]
    [InlineData("movdqu")]
    [InlineData("movups")]
    public void SixteenByteStoreInANotPresentPageNamesItsFirstByte(string form)
    {
        Write64(Pd + 6 * 8, 0); // 0xc00000..0xdfffff not present
        ulong at = Hole - 0x1000 + 0x123;
        SetGate(14, Handlers);
        Place(64, Handlers, a =>
        {
            a.pop(r14);
            a.mov(r13, cr2);
            a.hlt();
        });
        Place(64, Lm64, a =>
        {
            LoadIdt(a);
            a.mov(rbx, at);
            if (form == "movdqu")
            {
                a.movdqu(__xmmword_ptr[rbx], xmm0);
            }
            else
            {
                a.movups(__xmmword_ptr[rbx], xmm0);
            }

            a.hlt();
        });
        Assert.Equal(StopReason.Halted, engine.Run(10_000));
        Assert.Equal(2UL, cpu.Reg(Gpr.R14));
        Assert.Equal(at, cpu.Reg(Gpr.R13));
    }
}
