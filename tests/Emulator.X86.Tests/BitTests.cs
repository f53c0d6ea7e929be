using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class BitTests
{
    private const ulong Data = TestMachine.DataAddress;

    [Fact]
    public void BtRegisterCopiesBitToCarryAndKeepsZero()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.xor(edx, edx); // ZF = 1
            a.mov(eax, 0x10);
            a.bt(eax, 36); // immediate offset modulo 32: bit 4
            a.setc(cl);
            a.mov(ebx, 3);
            a.bt(eax, ebx);
        }).Run();
        Assert.Equal(1UL, m[Gpr.Rcx] & 0xff);
        Assert.False(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void BtsBtrBtcOnRegisters()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.xor(eax, eax);
            a.mov(ecx, 65); // modulo 64: bit 1
            a.bts(rax, rcx);
            a.setc(dl);
            a.mov(rbx, rax);
            a.btc(rbx, 1);
            a.setc(dh);
            a.mov(esi, 0xFF);
            a.btr(si, 7);
        }).Run();
        Assert.Equal(2UL, m[Gpr.Rax]);
        Assert.Equal(0x0100UL, m[Gpr.Rdx] & 0xffff);
        Assert.Equal(0UL, m[Gpr.Rbx]);
        Assert.Equal(0x7FUL, m[Gpr.Rsi]);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void RegisterOffsetReachesBeyondMemoryOperand()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Data - 4, 0x8000_0000, 4);
        m.WriteMem(Data, 0, 4);
        m.WriteMem(Data + 4, 0x8, 4);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.mov(ecx, 35); // dword at +4, bit 3
            a.bt(__dword_ptr[ebx], ecx);
            a.setc(dl);
            a.mov(ecx, -1); // dword at -4, bit 31
            a.btr(__dword_ptr[ebx], ecx);
            a.setc(dh);
            a.mov(ecx, 32 + 5);
            a.bts(__dword_ptr[ebx], ecx);
        }).Run();
        Assert.Equal(0x0101UL, m[Gpr.Rdx] & 0xffff);
        Assert.Equal(0UL, m.ReadMem(Data - 4, 4));
        Assert.Equal(0x28UL, m.ReadMem(Data + 4, 4));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void RegisterOffsetIn16And64BitCode()
    {
        using var m16 = new TestMachine(16);
        const ulong d16 = 0x2000;
        m16.Load(a =>
        {
            a.mov(bx, (ushort)d16);
            a.mov(ax, 17); // word at +2, bit 1
            a.bts(__word_ptr[bx], ax);
            a.mov(ax, -16); // word at -2, bit 0
            a.btc(__word_ptr[bx], ax);
        }, 0x1000).Run();
        Assert.Equal(2UL, m16.ReadMem(d16 + 2, 2));
        Assert.Equal(1UL, m16.ReadMem(d16 - 2, 2));

        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rbx, Data);
            a.mov(ecx, 130); // qword at +16, bit 2
            a.bts(__qword_ptr[rbx], rcx);
            a.mov(rcx, unchecked((ulong)-63L)); // qword at -8, bit 1
            a.bts(__qword_ptr[rbx], rcx);
        }).Run();
        Assert.Equal(4UL, m.ReadMem(Data + 16, 8));
        Assert.Equal(2UL, m.ReadMem(Data - 8, 8));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void LockedBitUpdates()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 0xF0, 4);
        m.Load(a =>
        {
            a.mov(rbx, Data);
            a.@lock.bts(__dword_ptr[rbx], 0);
            a.setc(dl);
            a.@lock.btr(__dword_ptr[rbx], 4);
            a.setc(dh);
            a.mov(ecx, 40); // dword at +4, bit 8
            a.@lock.btc(__dword_ptr[rbx], ecx);
        }).Run();
        Assert.Equal(0xE1UL, m.ReadMem(Data, 4));
        Assert.Equal(0x100UL, m.ReadMem(Data + 4, 4));
        Assert.Equal(0x0100UL, m[Gpr.Rdx] & 0xffff);
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void BsfAndBsrFindBits()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ebx, 0xF0);
            a.bsf(eax, ebx);
            a.bsr(ecx, ebx);
            a.mov(rdx, 0x8000_0000_0000_0000);
            a.bsr(rsi, rdx);
        }).Run();
        Assert.Equal(4UL, m[Gpr.Rax]);
        Assert.Equal(7UL, m[Gpr.Rcx]);
        Assert.Equal(63UL, m[Gpr.Rsi]);
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void BsfOfZeroSetsZeroAndKeepsDestination()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xFFFF_FFFF_1234_5678);
            a.xor(ecx, ecx);
            a.bsf(eax, ecx); // Intel: the 32-bit destination is kept but zero-extended
            a.mov(rbx, 0x1111_2222_3333_4444);
            a.bsr(rbx, rcx);
            a.mov(rdx, 0x5555);
            a.bsf(dx, cx);
        }).Run();
        Assert.Equal(0x1234_5678UL, m[Gpr.Rax]);
        Assert.Equal(0x1111_2222_3333_4444UL, m[Gpr.Rbx]);
        Assert.Equal(0x5555UL, m[Gpr.Rdx]);
        Assert.True(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void TzcntAndLzcnt()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.xor(ebx, ebx);
            a.tzcnt(eax, ebx); // 32, CF = 1
            a.setc(r8b);
            a.mov(edx, 1);
            a.lzcnt(rcx, rdx); // 63
            a.setc(r9b);
            a.tzcnt(si, dx); // 0, ZF = 1
            a.setz(r10b);
            a.mov(edx, 0x8000_0000);
            a.lzcnt(edi, edx); // 0, ZF = 1
        }).Run();
        Assert.Equal(32UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.R8] & 0xff);
        Assert.Equal(63UL, m[Gpr.Rcx]);
        Assert.Equal(0UL, m[Gpr.R9] & 0xff);
        Assert.Equal(0UL, m[Gpr.Rsi] & 0xffff);
        Assert.Equal(1UL, m[Gpr.R10] & 0xff);
        Assert.Equal(0UL, m[Gpr.Rdi]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void PopcntSetsOnlyZero()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(ebx, 0xFF00FF);
            a.stc();
            a.popcnt(eax, ebx);
            a.setc(cl);
            a.setz(ch);
            a.xor(edx, edx);
            a.stc();
            a.popcnt(dx, dx);
        }).Run();
        Assert.Equal(16UL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.Rcx] & 0xffff);
        Assert.Equal(0UL, m[Gpr.Rdx]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.PF));
    }

    [Fact]
    public void BswapReversesBytes()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xFFFF_FFFF_1234_5678);
            a.bswap(eax);
            a.mov(rbx, 0x0102_0304_0506_0708);
            a.bswap(rbx);
        }).Run();
        Assert.Equal(0x7856_3412UL, m[Gpr.Rax]);
        Assert.Equal(0x0807_0605_0403_0201UL, m[Gpr.Rbx]);
    }

    [Fact]
    public void Bswap16ClearsLowWord()
    {
        using var m = new TestMachine(32);
        m.LoadBytes([0x66, 0x0F, 0xC8, 0xF4], TestMachine.CodeAddress); // bswap ax; hlt
        m.Cpu.S.Rip = TestMachine.CodeAddress;
        m[Gpr.Rax] = 0x1234_5678;
        m.Run();
        Assert.Equal(0x1234_0000UL, m[Gpr.Rax]);
    }

    [Fact]
    public void MovbeLoadsAndStoresSwapped()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 0x1122_3344, 4);
        m.Load(a =>
        {
            a.mov(rbx, Data);
            a.movbe(eax, __dword_ptr[rbx]);
            a.mov(ecx, 0xABCD);
            a.movbe(__word_ptr[rbx + 8], cx);
        }).Run();
        Assert.Equal(0x4433_2211UL, m[Gpr.Rax]);
        Assert.Equal(0xCDABUL, m.ReadMem(Data + 8, 2));
    }

    [Fact]
    public void AndnAndBextr()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ebx, 0xF0F0);
            a.mov(ecx, 0xFFFF);
            a.andn(eax, ebx, ecx);
            a.mov(rdx, 0x1234_5678_9ABC_DEF0);
            a.mov(esi, 0x0804); // 8 bits from bit 4
            a.bextr(rdi, rdx, rsi);
            a.mov(esi, 0x4010); // 64 bits from bit 16
            a.bextr(r8, rdx, rsi);
            a.mov(esi, 0x0000); // no bits: ZF
            a.bextr(r9d, edx, esi);
        }).Run();
        Assert.Equal(0x0F0FUL, m[Gpr.Rax]);
        Assert.Equal(0xEFUL, m[Gpr.Rdi]);
        Assert.Equal(0x1234_5678_9ABCUL, m[Gpr.R8]);
        Assert.Equal(0UL, m[Gpr.R9]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void BlsiBlsmskBlsr()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ebx, 0b1011_0100);
            a.blsi(eax, ebx);
            a.setc(r8b); // source non-zero
            a.blsmsk(ecx, ebx);
            a.blsr(edx, ebx);
            a.xor(esi, esi);
            a.blsr(rdi, rsi); // CF = source zero, ZF = result zero
        }).Run();
        Assert.Equal(0b100UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.R8] & 0xff);
        Assert.Equal(0b111UL, m[Gpr.Rcx]);
        Assert.Equal(0b1011_0000UL, m[Gpr.Rdx]);
        Assert.Equal(0UL, m[Gpr.Rdi]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void BzhiClearsHighBits()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ebx, 0xFFFF_FFFF);
            a.mov(ecx, 12);
            a.bzhi(eax, ebx, ecx);
            a.setc(r8b);
            a.mov(ecx, 40);
            a.bzhi(edx, ebx, ecx); // index past the top: source kept, CF = 1
        }).Run();
        Assert.Equal(0xFFFUL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.R8] & 0xff);
        Assert.Equal(0xFFFF_FFFFUL, m[Gpr.Rdx]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.SF));
    }

    [Fact]
    public void PdepAndPext()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.stc();
            a.mov(ebx, 0b101);
            a.mov(ecx, 0xF0F0);
            a.pdep(eax, ebx, ecx); // bits 1, 0, 1 to positions 4, 5, 6
            a.mov(rdx, 0xFF00_0000_0000_00A5);
            a.mov(rsi, 0xF000_0000_0000_00F0);
            a.pext(rdi, rdx, rsi); // 0xA then 0xF above it
        }).Run();
        Assert.Equal(0x50UL, m[Gpr.Rax]);
        Assert.Equal(0xFAUL, m[Gpr.Rdi]);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void AdcxAndAdoxUseSeparateCarries()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.xor(edi, edi);
            a.mov(al, 0x7F);
            a.add(al, 1); // OF = 1, CF = 0, SF = 1
            a.mov(rbx, ulong.MaxValue);
            a.mov(ecx, 1);
            a.adcx(rbx, rcx); // CF in 0: wraps to 0, CF = 1
            a.mov(edx, 5);
            a.adox(edx, ecx); // OF in 1: 7, OF = 0
            a.mov(esi, 0xFFFF_FFFF);
            a.adcx(esi, edi); // CF in 1: wraps to 0, CF = 1
        }).Run();
        Assert.Equal(0UL, m[Gpr.Rbx]);
        Assert.Equal(7UL, m[Gpr.Rdx]);
        Assert.Equal(0UL, m[Gpr.Rsi]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
        Assert.True(m.Flag(RFlags.SF)); // from the ADD, untouched by ADCX and ADOX
    }
}
