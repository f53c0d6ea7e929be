using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class StackExtraTests
{
    private const ulong S = TestMachine.StackTop;

    [Fact]
    public void EnterLevelZeroInSixtyFourBitCode()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rbp, 0x1234_5678_9abc);
            a.enter(32, 0);
        }).Run();
        Assert.Equal(0x1234_5678_9abcUL, m.ReadMem(S - 8, 8));
        Assert.Equal(S - 8, m[Gpr.Rbp]);
        Assert.Equal(S - 8 - 32, m[Gpr.Rsp]);
    }

    [Fact]
    public void EnterNestedCopiesOuterFramePointers()
    {
        using var m = new TestMachine(32);
        const ulong b = 0x70_0000;
        m.WriteMem(b - 4, 0x1111, 4);
        m.WriteMem(b - 8, 0x2222, 4);
        m.Load(a =>
        {
            a.mov(ebp, (uint)b);
            a.enter(8, 3);
        }).Run();
        ulong frame = S - 4;
        Assert.Equal(b, m.ReadMem(frame, 4));
        Assert.Equal(0x1111UL, m.ReadMem(frame - 4, 4));
        Assert.Equal(0x2222UL, m.ReadMem(frame - 8, 4));
        Assert.Equal(frame, m.ReadMem(frame - 12, 4));
        Assert.Equal(frame, m[Gpr.Rbp]);
        Assert.Equal(frame - 12 - 8, m[Gpr.Rsp]);
    }

    [Fact]
    public void EnterLevelOneInSixtyFourBitCode()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rbp, 0x55);
            a.enter(0, 1);
        }).Run();
        Assert.Equal(0x55UL, m.ReadMem(S - 8, 8));
        Assert.Equal(S - 8, m.ReadMem(S - 16, 8));
        Assert.Equal(S - 8, m[Gpr.Rbp]);
        Assert.Equal(S - 16, m[Gpr.Rsp]);
    }

    [Fact]
    public void EnterInSixteenBitCodeWritesBpAndSp()
    {
        using var m = new TestMachine(16);
        m.WriteMem(0x7ffe, 0xaaaa, 2);
        m.Load(a =>
        {
            a.mov(esp, 0xabcd_9000);
            a.mov(ebp, 0x1234_8000);
            a.enter(0x10, 2);
        }, 0x1000).Run();
        Assert.Equal(0x8000UL, m.ReadMem(0x8ffe, 2));
        Assert.Equal(0xaaaaUL, m.ReadMem(0x8ffc, 2));
        Assert.Equal(0x8ffeUL, m.ReadMem(0x8ffa, 2));
        Assert.Equal(0x1234_8ffeUL, m[Gpr.Rbp]);
        Assert.Equal(0xabcd_8feaUL, m[Gpr.Rsp]);
    }

    [Fact]
    public void PushadPopadRoundTripAndLayout()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 1);
            a.mov(ecx, 2);
            a.mov(edx, 3);
            a.mov(ebx, 4);
            a.mov(ebp, 6);
            a.mov(esi, 7);
            a.mov(edi, 8);
            a.pushad();
            a.mov(eax, 0);
            a.mov(ecx, 0);
            a.mov(edx, 0);
            a.mov(ebx, 0);
            a.mov(ebp, 0);
            a.mov(esi, 0);
            a.mov(edi, 0);
            a.mov(__dword_ptr[esp + 12], 0x9999); // the saved ESP is ignored by POPAD
            a.popad();
        }).Run();
        for (int r = 0; r < 8; r++)
        {
            ulong expected = r == (int)Gpr.Rsp ? 0x9999 : (ulong)(r + 1);
            Assert.Equal(expected, m.ReadMem(S - (ulong)(4 * (r + 1)), 4));
        }

        Assert.Equal(1UL, m[Gpr.Rax]);
        Assert.Equal(2UL, m[Gpr.Rcx]);
        Assert.Equal(3UL, m[Gpr.Rdx]);
        Assert.Equal(4UL, m[Gpr.Rbx]);
        Assert.Equal(S, m[Gpr.Rsp]);
        Assert.Equal(6UL, m[Gpr.Rbp]);
        Assert.Equal(7UL, m[Gpr.Rsi]);
        Assert.Equal(8UL, m[Gpr.Rdi]);
    }

    [Fact]
    public void PushaSavesOriginalSpAndPopaKeepsUpperHalves()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(esp, 0x9000);
            a.mov(eax, 0xffff_0001);
            a.mov(edi, 0x0008);
            a.pusha();
            a.mov(eax, 0x1234_0000);
            a.mov(edi, 0x5678_0000);
            a.popa();
        }, 0x1000).Run();
        Assert.Equal(0x0001UL, m.ReadMem(0x8ffe, 2)); // AX
        Assert.Equal(0x9000UL, m.ReadMem(0x8ff6, 2)); // SP before PUSHA
        Assert.Equal(0x0008UL, m.ReadMem(0x8ff0, 2)); // DI
        Assert.Equal(0x1234_0001UL, m[Gpr.Rax]);
        Assert.Equal(0x5678_0008UL, m[Gpr.Rdi]);
        Assert.Equal(0x9000UL, m[Gpr.Rsp]);
    }

    [Fact]
    public void PushaIsInvalidInSixtyFourBitMode()
    {
        using var m = new TestMachine();
        m.Load(a => a.db(0x60));
        Assert.Equal(Vector.UD, m.RunToException());
    }
}
