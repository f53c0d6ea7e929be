using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// Code written by another vCPU while it is being translated. The translating vCPU marks each page
/// as holding code (taking every vCPU's write permission for it) before it reads the page's bytes,
/// so a store that lands after the read goes through the slow path and is seen.
/// </summary>
public sealed class CrossModifyingCodeTests
{
    [Fact]
    public void AStoreFromAnotherVcpuWhileTheBlockIsTranslatedIsNeverLeftStale()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 1);
            a.hlt();
        });
        const ulong immediate = TestMachine.CodeAddress + 1; // mov eax, imm32: B8 imm32

        // The other vCPU on the same memory and translation cache, which has written to the code's
        // page already (its TLB may write there without asking).
        using var other = new Cpu(m.Memory);
        m.Cache.Attach(other);
        CpuSetup.EnterFlat(other, 64, TestMachine.CodeAddress, TestMachine.StackTop);
        Assert.True(other.Write(TestMachine.CodeAddress + 0x800, 4, 0));

        // The other vCPU stores 2 over the immediate once the page is watched, before its bytes are read.
        int watched = 0;
        m.Cache.CodePageWatched = _ =>
        {
            watched++;
            Assert.True(other.Write(immediate, 4, 2));
        };
        m.Run();
        Assert.Equal(1, watched);
        Assert.Equal(2UL, m[Gpr.Rax]);

        // That store unmarked the page (no block was there yet); registering the block marked it
        // again and took the other vCPU's permission back, so its next store invalidates the block.
        m.Cache.CodePageWatched = null;
        Assert.True(other.Write(immediate, 4, 3));
        m.Cpu.S.Rip = TestMachine.CodeAddress;
        m.Run();
        Assert.Equal(3UL, m[Gpr.Rax]);
    }
}
