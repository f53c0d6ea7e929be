using Emulator.Devices.Bus;
using Emulator.Devices.Keyboard;
using Xunit;

namespace Emulator.Devices.Tests;

public class I8042Tests
{
    private readonly RecordingInterruptLine irq1 = new();
    private readonly RecordingInterruptLine irq12 = new();
    private readonly I8042 kbc;
    private int resets;

    public I8042Tests()
    {
        kbc = new I8042(irq1, irq12);
        kbc.ResetRequested += () => resets++;
    }

    private byte Status() => (byte)kbc.CommandPort.Read(0, 1);

    private byte Data() => (byte)kbc.DataPort.Read(0, 1);

    private void Command(int c) => kbc.CommandPort.Write(0, 1, (ulong)c);

    private void WriteData(int v) => kbc.DataPort.Write(0, 1, (ulong)v);

    [Fact]
    public void SelfTestAnswers55AndSetsTheSystemFlag()
    {
        Assert.Equal(0, Status() & 0x05);
        Command(0xAA);
        Assert.Equal(0x01, Status() & 0x03); // output full, input empty
        Assert.Equal(0x55, Data());
        Assert.Equal(0x04, Status() & 0x05); // system flag, output empty
    }

    [Fact]
    public void CommandByteReadAndWrite()
    {
        Command(0x60);
        WriteData(0x65);
        Assert.Equal(0, Status() & 0x08); // last write went to the data port
        Command(0x20);
        Assert.Equal(0x08, Status() & 0x08);
        Assert.Equal(0x65, Data());
        Assert.Equal(0x04, Status() & 0x04); // command byte bit 2 is the system flag
    }

    [Fact]
    public void DisableAndEnableKeyboardAndAuxToggleCommandByteBits()
    {
        Command(0xAD);
        Command(0xA7);
        Command(0x20);
        Assert.Equal(0x30, Data() & 0x30);
        Command(0xAE);
        Command(0xA8);
        Command(0x20);
        Assert.Equal(0x00, Data() & 0x30);
    }

    [Fact]
    public void ReadingDataWithNothingPendingReturnsTheLastByte()
    {
        Command(0xAA);
        Assert.Equal(0x55, Data());
        Assert.Equal(0x55, Data());
        Assert.Equal(0, Status() & 0x01);
    }

    [Fact]
    public void ResponsesRaiseIrq1WhenTheCommandByteEnablesIt()
    {
        Command(0x60);
        WriteData(0x01); // keyboard interrupt only
        Command(0xAB);
        Assert.True(irq1.Level);
        Assert.Equal(0x00, Data()); // interface test passed
        Assert.False(irq1.Level);
        Command(0x60);
        WriteData(0x00);
        Command(0xAA);
        Assert.False(irq1.Level);
    }

    [Fact]
    public void WriteAuxOutputBufferLooksLikeMouseData()
    {
        Command(0x60);
        WriteData(0x02);
        Command(0xD3);
        WriteData(0x5A);
        Assert.Equal(0x21, Status() & 0x21);
        Assert.True(irq12.Level);
        Assert.False(irq1.Level);
        Assert.Equal(0x5A, Data());
        Assert.False(irq12.Level);
    }

    [Fact]
    public void PulseResetCommandRaisesReset()
    {
        // Linux reboot=k: wait for input buffer empty, then 0xFE to port 0x64.
        Assert.Equal(0, Status() & 0x02);
        Command(0xFE);
        Assert.Equal(1, resets);
        Command(0xFF); // pulses nothing
        Assert.Equal(1, resets);
    }

    [Fact]
    public void WritingOutputPortWithBit0ClearResetsAndBit1IsA20()
    {
        Command(0xD0);
        Assert.Equal(0x03, Data() & 0x03);
        Command(0xD1);
        WriteData(0x01); // reset inactive, A20 off
        Assert.Equal(0, resets);
        Assert.False(kbc.A20Enabled);
        Command(0xD1);
        WriteData(0x02);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void BytesForTheAbsentKeyboardAreDropped()
    {
        WriteData(0xFF); // keyboard reset command: no keyboard answers
        Assert.Equal(0, Status() & 0x01);
        Assert.Equal(0, kbc.Unexpected.Count);
    }

    [Fact]
    public void OneDeviceViewUsesOffsetsZeroAndFour()
    {
        kbc.Write(4, 1, 0xAA);
        Assert.Equal(0x55UL, kbc.Read(0, 1));
        kbc.Read(1, 1);
        Command(0x12);
        Assert.Equal(2, kbc.Unexpected.Count);
    }

    [Fact]
    public void SaveRestoreKeepsPendingCommandAndOutput()
    {
        Command(0xAA);
        Command(0x60);
        var copy = new I8042();
        I8042.SavedState.Copy(kbc, copy);
        copy.DataPort.Write(0, 1, 0x47);
        Assert.Equal(0x47, copy.CommandByte);
    }
}
