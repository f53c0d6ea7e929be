using Emulator.Ir;
using Emulator.X86.Frontend;
using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class FlowTests
{
    /// <summary>
    /// RIP 0xffff_ffff_ffff_ffff is canonical. The dispatcher once used that value to mean "no stop
    /// address" and compared RIP with it, so a guest that jumped there stopped its vCPU's run
    /// loop before every instruction and never got on (found by `emu fuzz code`).
    /// </summary>
    [Fact]
    public void AJumpToTheLastAddressRunsWhatIsThere()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, ulong.MaxValue);
            a.jmp(rax);
        });
        int vector = m.RunToException(100);
        Assert.True(vector >= 0);
        Assert.Equal(ulong.MaxValue, m.Cpu.S.Rip);
    }

    /// <summary>
    /// A block ends before an instruction that straddles a page boundary, so the block lies in one
    /// page (only such blocks are entered through compiled code's jump cache); the straddling
    /// instruction starts the next block, which alone reaches into the second page.
    /// </summary>
    [Fact]
    public void ABlockEndsBeforeAnInstructionThatStraddlesThePageBoundary()
    {
        using var m = new TestMachine();
        ulong pageEnd = TestMachine.CodeAddress + 0x1000;
        ulong start = pageEnd - 6;
        // inc eax (2 bytes), inc eax, then mov ecx, imm32 (5 bytes) over the boundary, hlt.
        m.LoadBytes([0xff, 0xc0, 0xff, 0xc0, 0xb9, 0x78, 0x56, 0x34, 0x12, 0xf4], start);

        var first = new IrBlock();
        var info = new Translator().Translate(m.Cpu, start, first);
        Assert.Equal(2, info.Instructions);
        Assert.Equal(ulong.MaxValue, info.PhysPage2);
        Assert.Equal(4, info.GuestBytes);

        var second = new IrBlock();
        var straddling = new Translator().Translate(m.Cpu, start + 4, second);
        Assert.NotEqual(ulong.MaxValue, straddling.PhysPage2);

        m.Cpu.S.Rip = start;
        m.Run(100);
        Assert.Equal(2UL, m.Cpu.Reg(Gpr.Rax));
        Assert.Equal(0x12345678UL, m.Cpu.Reg(Gpr.Rcx));
    }

    [Fact]
    public void LoopSumsWithConditionalBranch()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.xor(eax, eax);
            a.mov(ecx, 100);
            a.Label(ref top);
            a.add(eax, ecx);
            a.dec(ecx);
            a.jnz(top);
        }).Run();
        Assert.Equal(5050UL, m[Gpr.Rax]);
    }

    [Fact]
    public void CallAndReturnUseTheStack()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var fn = a.CreateLabel();
            var end = a.CreateLabel();
            a.mov(eax, 1);
            a.call(fn);
            a.add(eax, 100);
            a.jmp(end);
            a.Label(ref fn);
            a.shl_or_add(a);
            a.ret();
            a.Label(ref end);
        }).Run();
        Assert.Equal(TestMachine.StackTop, m[Gpr.Rsp]);
        Assert.Equal(102UL, m[Gpr.Rax]);
    }

    [Theory]
    [InlineData(5, 3, true)]
    [InlineData(-5, 3, false)]
    [InlineData(3, 3, false)]
    public void SignedCompareBranches(int x, int y, bool greater)
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            var yes = a.CreateLabel();
            var end = a.CreateLabel();
            a.mov(eax, x);
            a.cmp(eax, y);
            a.jg(yes);
            a.mov(ebx, 0);
            a.jmp(end);
            a.Label(ref yes);
            a.mov(ebx, 1);
            a.Label(ref end);
        }).Run();
        Assert.Equal(greater ? 1UL : 0UL, m[Gpr.Rbx]);
    }

    [Fact]
    public void SelfModifyingCodeIsSeen()
    {
        using var m = new TestMachine();

        // Patch the immediate of a later "mov eax, imm32", run it, patch again and run again.
        m.Load(a =>
        {
            var patched = a.CreateLabel();
            var loop = a.CreateLabel();
            a.mov(ecx, 2);
            a.xor(ebx, ebx);
            a.Label(ref loop);
            a.lea(rdi, __[patched]);
            a.mov(__dword_ptr[rdi + 1], ecx);
            a.Label(ref patched);
            a.mov(eax, 0x11111111);
            a.add(ebx, eax);
            a.dec(ecx);
            a.jnz(loop);
        }).Run();
        Assert.Equal(3UL, m[Gpr.Rbx]); // 2 + 1: each pass runs the freshly written immediate
        Assert.True(m.Engine.Cache.Invalidations >= 1);
    }

    [Fact]
    public void UndefinedOpcodeRaisesUd()
    {
        using var m = new TestMachine();
        m.LoadBytes([0x0f, 0x0b], TestMachine.CodeAddress);
        m.Cpu.S.Rip = TestMachine.CodeAddress;
        Assert.Equal(Vector.UD, m.RunToException());
        Assert.Equal(TestMachine.CodeAddress, m.Cpu.S.Rip);
    }
}

internal static class AssemblerExtensions
{
    /// <summary>eax += eax: a tiny body for call tests.</summary>
    public static void shl_or_add(this Iced.Intel.Assembler a, Iced.Intel.Assembler _) => a.add(eax, eax);
}

public class StackFrameTests
{
    [Theory]
    [InlineData(64)]
    [InlineData(32)]
    public void LeaveRestoresTheFrame(int bitness)
    {
        using var m = new TestMachine(bitness);
        m.Load(a =>
        {
            if (bitness == 64)
            {
                a.push(rbp);
                a.mov(rbp, rsp);
                a.sub(rsp, 0x40);
                a.leave();
            }
            else
            {
                a.push(ebp);
                a.mov(ebp, esp);
                a.sub(esp, 0x40);
                a.leave();
            }
        });
        m[Emulator.X86.State.Gpr.Rbp] = 0x1234;
        m.Run();
        Assert.Equal(TestMachine.StackTop, m[Emulator.X86.State.Gpr.Rsp]);
        Assert.Equal(0x1234UL, m[Emulator.X86.State.Gpr.Rbp]);
    }
}
