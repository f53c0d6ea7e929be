using Emulator.Devices.DebugPort;
using Xunit;

namespace Emulator.Devices.Tests;

public class DebugPort0x80Tests
{
    [Fact]
    public void WritesAreCountedAndReadsGiveAllOnes()
    {
        var port = new DebugPort0x80();
        port.Write(0, 1, 0x12);
        port.Write(0, 1, 0x34);
        Assert.Equal(0x34, port.LastPostCode);
        Assert.Equal(2, port.Writes);
        Assert.Equal(0xFFUL, port.Read(0, 1));
        var copy = new DebugPort0x80();
        DebugPort0x80.SavedState.Copy(port, copy);
        Assert.Equal(0x34, copy.LastPostCode);
        Assert.Equal(0, port.Unexpected.Count);
    }
}
