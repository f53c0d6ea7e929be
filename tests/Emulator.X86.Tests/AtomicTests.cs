using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class AtomicTests
{
    private const ulong Data = TestMachine.DataAddress;

    [Fact]
    public void XchgRegistersAndSameRegisterZeroExtends()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x1111_1111_2222_2222);
            a.mov(rbx, 0x3333_3333_4444_4444);
            a.xchg(rax, rbx);
            a.mov(rcx, 0xffff_ffff_0000_0005);
            a.db(0x87, 0xc9); // xchg ecx, ecx
            a.mov(rdx, 0xaaaa_bbbb_cccc_12ef);
            a.xchg(dl, dh);
        }).Run();
        Assert.Equal(0x3333_3333_4444_4444UL, m[Gpr.Rax]);
        Assert.Equal(0x1111_1111_2222_2222UL, m[Gpr.Rbx]);
        Assert.Equal(5UL, m[Gpr.Rcx]);
        Assert.Equal(0xaaaa_bbbb_cccc_ef12UL, m[Gpr.Rdx]);
    }

    [Fact]
    public void XchgWithMemorySwapsInSixteenBitCode()
    {
        using var m = new TestMachine(16);
        m.WriteMem(0x6000, 0xbeef, 2);
        m.Load(a =>
        {
            a.mov(bx, 0x6000);
            a.mov(ax, 0x1234);
            a.xchg(__word_ptr[bx], ax);
        }, 0x1000).Run();
        Assert.Equal(0x1234UL, m.ReadMem(0x6000, 2));
        Assert.Equal(0xbeefUL, m[Gpr.Rax] & 0xffff);
    }

    /// <summary>
    /// CMPXCHG r32, r32 that does not match: EAX gets the destination (zero-extending RAX) and the
    /// destination register is not written, so its upper half stays (as hardware and QEMU do).
    /// </summary>
    [Fact]
    public void CmpxchgRegisterMismatchKeepsUpperHalfOfDestination()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xaaaa_aaaa_0000_0001);
            a.mov(rbx, 0x1234_5678_0000_0002);
            a.mov(rcx, 0xffff_ffff_0000_0003);
            a.cmpxchg(ebx, ecx);
        }).Run();
        Assert.Equal(0x1234_5678_0000_0002UL, m[Gpr.Rbx]);
        Assert.Equal(2UL, m[Gpr.Rax]);
        Assert.False(m.Flag(RFlags.ZF));
    }

    /// <summary>CMPXCHG r32, r32 that matches: the destination gets the source zero-extended; RAX is untouched.</summary>
    [Fact]
    public void CmpxchgRegisterMatchZeroExtendsDestination()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xaaaa_aaaa_0000_0002);
            a.mov(rbx, 0x1234_5678_0000_0002);
            a.mov(rcx, 0xffff_ffff_0000_0003);
            a.cmpxchg(ebx, ecx);
        }).Run();
        Assert.Equal(3UL, m[Gpr.Rbx]);
        Assert.Equal(0xaaaa_aaaa_0000_0002UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void CmpxchgSuccessKeepsUpperRaxAndStoresSource()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 7, 4);
        m.Load(a =>
        {
            a.mov(rax, 0xffff_ffff_0000_0007);
            a.mov(ecx, 99);
            a.mov(rbx, Data);
            a.@lock.cmpxchg(__dword_ptr[rbx], ecx);
        }).Run();
        Assert.Equal(99UL, m.ReadMem(Data, 4));
        Assert.Equal(0xffff_ffff_0000_0007UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void CmpxchgFailureLoadsAccumulatorAndSetsFlagsLikeCmp()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 9, 4);
        m.Load(a =>
        {
            a.mov(rax, 0xffff_ffff_0000_0007);
            a.mov(ecx, 99);
            a.mov(rbx, Data);
            a.cmpxchg(__dword_ptr[rbx], ecx);
        }).Run();
        Assert.Equal(9UL, m.ReadMem(Data, 4));
        Assert.Equal(9UL, m[Gpr.Rax]); // EAX written: RAX zero-extended
        Assert.False(m.Flag(RFlags.ZF));
        Assert.True(m.Flag(RFlags.CF)); // 7 - 9 borrows
        Assert.True(m.Flag(RFlags.SF));
    }

    [Fact]
    public void CmpxchgRegisterDestinationAllSizes()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            // 8-bit success: BL = AL, so BL = CL.
            a.mov(eax, 0x55);
            a.mov(ebx, 0x1155);
            a.mov(ecx, 0x66);
            a.cmpxchg(bl, cl);
            a.mov(r8, rbx);

            // 64-bit failure: RAX = RDX, RDX unchanged.
            a.mov(rax, 1);
            a.mov(rdx, 0x1_0000_0000);
            a.mov(rsi, 2);
            a.cmpxchg(rdx, rsi);
            a.mov(r9, rax);

            // 32-bit failure: the destination register is not written (its upper half stays, as on hardware).
            a.mov(rax, 1);
            a.mov(rdi, 0xffff_ffff_0000_0002);
            a.cmpxchg(edi, esi);
        }).Run();
        Assert.Equal(0x1166UL, m[Gpr.R8]);
        Assert.Equal(0x1_0000_0000UL, m[Gpr.R9]);
        Assert.Equal(0x1_0000_0000UL, m[Gpr.Rdx]);
        Assert.Equal(0xffff_ffff_0000_0002UL, m[Gpr.Rdi]);
        Assert.Equal(2UL, m[Gpr.Rax]);
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void CmpxchgByteInThirtyTwoBitCode()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Data, 0x80, 1);
        m.Load(a =>
        {
            a.mov(eax, 0x1234_5680);
            a.mov(ecx, 0x01);
            a.mov(ebx, (uint)Data);
            a.@lock.cmpxchg(__byte_ptr[ebx], cl);
        }).Run();
        Assert.Equal(1UL, m.ReadMem(Data, 1));
        Assert.True(m.Flag(RFlags.ZF));
        Assert.Equal(0x1234_5680UL, m[Gpr.Rax]);
    }

    [Fact]
    public void XaddRegistersAndSameRegister()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x7fff_ffff);
            a.mov(ebx, 1);
            a.xadd(eax, ebx);
            a.seto(r8b);
            a.mov(rcx, 21);
            a.xadd(rcx, rcx);
        }).Run();
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax]);
        Assert.Equal(0x7fff_ffffUL, m[Gpr.Rbx]);
        Assert.Equal(1UL, m[Gpr.R8] & 0xff);
        Assert.Equal(42UL, m[Gpr.Rcx]);
    }

    [Fact]
    public void LockXaddOnMemoryReturnsOldValueAndSetsCarry()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Data, 0xffff, 2);
        m.WriteMem(Data + 4, 10, 4);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.mov(ecx, 0x7777_0001);
            a.@lock.xadd(__word_ptr[ebx], cx);
            a.setc(dl);
            a.mov(esi, 5);
            a.xadd(__dword_ptr[ebx + 4], esi);
        }).Run();
        Assert.Equal(0UL, m.ReadMem(Data, 2));
        Assert.Equal(0x7777_ffffUL, m[Gpr.Rcx]);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff);
        Assert.Equal(15UL, m.ReadMem(Data + 4, 4));
        Assert.Equal(10UL, m[Gpr.Rsi]);
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void Cmpxchg8bSucceedsAndFailsKeepingOtherFlags()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Data, 0x1111_2222_3333_4444, 8);
        m.WriteMem(Data + 8, 0x5555_6666_7777_8888, 8);
        m.Load(a =>
        {
            a.mov(esi, (uint)Data);
            a.mov(edx, 0x1111_2222);
            a.mov(eax, 0x3333_4444);
            a.mov(ecx, 0xaaaa_bbbb);
            a.mov(ebx, 0xcccc_dddd);
            a.stc();
            a.@lock.cmpxchg8b(__qword_ptr[esi]);
            a.setz(bl); // ZF = 1
            a.setc(bh); // CF kept
            a.mov(edi, ebx);

            // Mismatch: EDX:EAX gets the memory value.
            a.mov(ebx, 0);
            a.cmpxchg8b(__qword_ptr[esi + 8]);
        }).Run();
        Assert.Equal(0xaaaa_bbbb_cccc_ddddUL, m.ReadMem(Data, 8));
        Assert.Equal(0x0101UL, m[Gpr.Rdi] & 0xffff);
        Assert.Equal(0x5555_6666_7777_8888UL, m.ReadMem(Data + 8, 8));
        Assert.Equal(0x5555_6666UL, m[Gpr.Rdx]);
        Assert.Equal(0x7777_8888UL, m[Gpr.Rax]);
        Assert.False(m.Flag(RFlags.ZF));
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void Cmpxchg8bInSixtyFourBitModeWritesHalvesAsThirtyTwoBit()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 0x0000_0002_0000_0001, 8);
        m.Load(a =>
        {
            a.mov(rsi, Data);
            a.mov(rax, 0xffff_ffff_0000_0000);
            a.mov(rdx, 0xffff_ffff_0000_0000);
            a.cmpxchg8b(__qword_ptr[rsi]);
        }).Run();
        Assert.Equal(1UL, m[Gpr.Rax]);
        Assert.Equal(2UL, m[Gpr.Rdx]);
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void Cmpxchg16bSucceedsThenFails()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 0x1111, 8);
        m.WriteMem(Data + 8, 0x2222, 8);
        m.Load(a =>
        {
            a.mov(rsi, Data);
            a.mov(rax, 0x1111);
            a.mov(rdx, 0x2222);
            a.mov(rbx, 0xaaaa_0000_0000_0001);
            a.mov(rcx, 0xbbbb_0000_0000_0002);
            a.@lock.cmpxchg16b(__oword_ptr[rsi]);
            a.setz(r8b);

            a.xor(eax, eax);
            a.xor(edx, edx);
            a.@lock.cmpxchg16b(__oword_ptr[rsi]);
        }).Run();
        Assert.Equal(1UL, m[Gpr.R8] & 0xff);
        Assert.Equal(0xaaaa_0000_0000_0001UL, m.ReadMem(Data, 8));
        Assert.Equal(0xbbbb_0000_0000_0002UL, m.ReadMem(Data + 8, 8));
        Assert.Equal(0xaaaa_0000_0000_0001UL, m[Gpr.Rax]);
        Assert.Equal(0xbbbb_0000_0000_0002UL, m[Gpr.Rdx]);
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void Cmpxchg16bMisalignedRaisesGeneralProtection()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rsi, Data + 8);
            a.mov(eax, 1);
            a.cmpxchg16b(__oword_ptr[rsi]);
        });
        Assert.Equal(Vector.GP, m.RunToException());
        Assert.Equal(1UL, m[Gpr.Rax]);
        Assert.Equal(Data + 8, m[Gpr.Rsi]);
    }
}
