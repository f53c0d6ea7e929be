using Emulator.Devices.Virtio;
using Emulator.X86.Memory;
using Xunit;

namespace Emulator.Devices.Tests;

/// <summary>Device DMA marks the dirty-page log live migration reads (GuestMemory.SwapDirtyLog).</summary>
public sealed class DirtyLogDmaTests
{
    private const ulong RamBytes = 16 << 20, Page = 0x200000;

    [Fact]
    public void Device_writes_mark_their_pages_after_the_bytes_land_and_only_inside_RAM()
    {
        using var memory = new GuestMemory(RamBytes);
        memory.SwapDirtyLog(keepLogging: true);
        var dma = new GuestRamAccess(memory, codeWritten: null);
        Assert.True(dma.TryWrite(Page + 0xff0, new byte[0x20])); // crosses into the next page
        Assert.False(dma.TryWrite(RamBytes - 8, new byte[16])); // past the end: refused, nothing marked
        memory.MarkDirty(RamBytes + 0x1000, 0x1000); // outside RAM (the vCPU areas): ignored
        var log = memory.SwapDirtyLog(keepLogging: false);
        Assert.True(Marked(log, Page) && Marked(log, Page + 0x1000));
        Assert.Equal(2, Count(log));
    }

    private static bool Marked(ulong[] log, ulong pa) => (log[pa >> 18] & (1UL << (int)((pa >> 12) & 63))) != 0;

    private static int Count(ulong[] log) => log.Sum(w => System.Numerics.BitOperations.PopCount(w));
}
