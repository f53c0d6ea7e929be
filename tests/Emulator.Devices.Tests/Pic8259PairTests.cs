using Emulator.Devices.Bus;
using Emulator.Devices.Pic;
using Xunit;

namespace Emulator.Devices.Tests;

public class Pic8259PairTests
{
    private readonly Pic8259Pair pic = new();

    private void Out(ushort port, int value)
    {
        var (dev, off) = Route(port);
        dev.Write(off, 1, (ulong)value);
    }

    private byte In(ushort port)
    {
        var (dev, off) = Route(port);
        return (byte)dev.Read(off, 1);
    }

    private (IIoDevice, ulong) Route(ushort port) => port switch
    {
        0x20 or 0x21 => (pic.MasterPorts, (ulong)(port - 0x20)),
        0xA0 or 0xA1 => (pic.SlavePorts, (ulong)(port - 0xA0)),
        _ => (pic.ElcrPorts, (ulong)(port - 0x4D0)),
    };

    // Linux arch/x86/kernel/i8259.c init_8259A(auto_eoi = 0), then unmask everything but the cascade as listed.
    private void LinuxInit(byte masterMask = 0x00, byte slaveMask = 0x00, bool autoEoi = false)
    {
        Out(0x21, 0xFF);
        Out(0xA1, 0xFF);
        Out(0x20, 0x11);               // ICW1: edge, cascade, ICW4 needed
        Out(0x21, 0x30);               // ICW2: vectors 0x30-0x37
        Out(0x21, 0x04);               // ICW3: slave on IR2
        Out(0x21, autoEoi ? 0x03 : 0x01); // ICW4: 8086 mode (+AEOI)
        Out(0xA0, 0x11);
        Out(0xA1, 0x38);               // vectors 0x38-0x3F
        Out(0xA1, 0x02);               // slave ID 2
        Out(0xA1, 0x01);
        Out(0x21, masterMask);
        Out(0xA1, slaveMask);
    }

    [Fact]
    public void LinuxInitSequenceSetsVectorsAndMasks()
    {
        LinuxInit(0xFB, 0xFF);
        Assert.Equal(0x30, pic.MasterVectorBase);
        Assert.Equal(0x38, pic.SlaveVectorBase);
        Assert.Equal(0xFB, In(0x21));
        Assert.Equal(0xFF, In(0xA1));
        Assert.False(pic.HasInterrupt);
    }

    [Fact]
    public void ProbeReadsBackTheMask()
    {
        // Linux probe_8259A writes 0xFB to the master IMR and expects to read it back.
        Out(0x21, 0xFB);
        Assert.Equal(0xFB, In(0x21));
    }

    [Fact]
    public void EdgeRequestIsDeliveredThenEndOfInterruptClearsIsr()
    {
        LinuxInit();
        pic.SetIrq(0, true);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x01, In(0x20)); // IRR (read register defaults to IRR)
        Assert.Equal(0x30, pic.Acknowledge());
        Assert.False(pic.HasInterrupt);
        Out(0x20, 0x0B);              // OCW3: read ISR
        Assert.Equal(0x01, In(0x20));
        Out(0x20, 0x0A);              // OCW3: read IRR
        Assert.Equal(0x00, In(0x20)); // edge request cleared by INTA
        Out(0x20, 0x20);              // non-specific EOI
        Out(0x20, 0x0B);
        Assert.Equal(0x00, In(0x20));
    }

    [Fact]
    public void EdgeInputNeedsANewRisingEdge()
    {
        LinuxInit();
        pic.SetIrq(1, true);
        Assert.Equal(0x31, pic.Acknowledge());
        Out(0x20, 0x20);
        pic.SetIrq(1, true); // still high: no new edge
        Assert.False(pic.HasInterrupt);
        pic.SetIrq(1, false);
        pic.SetIrq(1, true);
        Assert.True(pic.HasInterrupt);
    }

    [Fact]
    public void MaskedRequestStaysInIrrUntilUnmasked()
    {
        LinuxInit(masterMask: 0x10);
        pic.SetIrq(4, true);
        Assert.False(pic.HasInterrupt);
        Assert.Equal(0x10, In(0x20));
        Out(0x21, 0x00);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x34, pic.Acknowledge());
    }

    [Fact]
    public void LowerNumberedIrqWinsAndInServiceBlocksLowerPriority()
    {
        LinuxInit();
        pic.SetIrq(4, true);
        pic.SetIrq(3, true);
        Assert.Equal(0x33, pic.Acknowledge());
        Assert.False(pic.HasInterrupt); // IRQ4 is lower priority than IRQ3 in service
        pic.SetIrq(1, true);
        Assert.True(pic.HasInterrupt);  // IRQ1 is higher: nests
        Assert.Equal(0x31, pic.Acknowledge());
        Out(0x20, 0x20);                // EOI clears the highest in service: IRQ1
        Out(0x20, 0x0B);
        Assert.Equal(0x08, In(0x20));
        Out(0x20, 0x63);                // specific EOI for IRQ3
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x34, pic.Acknowledge());
    }

    [Fact]
    public void SlaveInterruptGoesThroughTheCascade()
    {
        LinuxInit();
        pic.SetIrq(12, true);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x3C, pic.Acknowledge());
        Out(0x20, 0x0B);
        Out(0xA0, 0x0B);
        Assert.Equal(0x04, In(0x20)); // master: cascade in service
        Assert.Equal(0x10, In(0xA0)); // slave: IR4 in service
        // Linux mask_and_ack_8259A: specific EOI to the slave, then to the master's IR2.
        Out(0xA0, 0x60 + 4);
        Out(0x20, 0x60 + 2);
        Assert.Equal(0x00, In(0x20));
        Assert.Equal(0x00, In(0xA0));
        Assert.False(pic.HasInterrupt);
    }

    [Fact]
    public void MaskingTheCascadeBlocksTheSlave()
    {
        LinuxInit(masterMask: 0x04);
        pic.SetIrq(8, true);
        Assert.False(pic.HasInterrupt);
        Out(0x21, 0x00);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x38, pic.Acknowledge());
    }

    [Fact]
    public void VanishedLevelRequestGivesSpuriousIrq7WithoutIsr()
    {
        LinuxInit();
        Out(0x4D0, 0x20); // IRQ5 level-triggered
        pic.SetIrq(5, true);
        Assert.True(pic.HasInterrupt);
        pic.SetIrq(5, false); // request gone before INTA
        Assert.False(pic.HasInterrupt);
        Assert.Equal(0x37, pic.Acknowledge());
        Out(0x20, 0x0B);
        Assert.Equal(0x00, In(0x20)); // Linux's spurious check: IR7 not in service
    }

    [Fact]
    public void VanishedSlaveRequestGivesSpuriousIrq15WithCascadeInService()
    {
        LinuxInit();
        Out(0x4D1, 0x08); // IRQ11 level
        pic.SetIrq(11, true);
        Assert.True(pic.HasInterrupt);
        // The master latched the cascade edge; the slave's request drops before INTA.
        pic.SetIrq(11, false);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x3F, pic.Acknowledge());
        Out(0x20, 0x0B);
        Out(0xA0, 0x0B);
        Assert.Equal(0x04, In(0x20));
        Assert.Equal(0x00, In(0xA0));
    }

    [Fact]
    public void LevelTriggeredRequestStaysWhileTheLineIsHigh()
    {
        LinuxInit();
        Out(0x4D1, 0x08); // IRQ11
        Assert.Equal(0x08, In(0x4D1));
        pic.SetIrq(11, true);
        Assert.Equal(0x3B, pic.Acknowledge());
        Out(0xA0, 0x20);
        Out(0x20, 0x20);
        Assert.True(pic.HasInterrupt); // the device still holds the line
        Assert.Equal(0x3B, pic.Acknowledge());
    }

    [Fact]
    public void ElcrCannotMakeTimerKeyboardCascadeRtcOrFpuLevelTriggered()
    {
        Out(0x4D0, 0xFF);
        Out(0x4D1, 0xFF);
        Assert.Equal(0xF8, In(0x4D0));
        Assert.Equal(0xDE, In(0x4D1));
    }

    [Fact]
    public void AutoEoiLeavesNothingInService()
    {
        LinuxInit(autoEoi: true);
        pic.SetIrq(3, true);
        Assert.Equal(0x33, pic.Acknowledge());
        Out(0x20, 0x0B);
        Assert.Equal(0x00, In(0x20));
        pic.SetIrq(4, true);
        Assert.Equal(0x34, pic.Acknowledge());
    }

    [Fact]
    public void RotateOnNonSpecificEoiMakesTheServicedLevelLowest()
    {
        LinuxInit();
        pic.SetIrq(0, true);
        Assert.Equal(0x30, pic.Acknowledge());
        Out(0x20, 0xA0); // rotate on non-specific EOI: IR0 becomes lowest, IR1 highest
        pic.SetIrq(0, false);
        pic.SetIrq(0, true);
        pic.SetIrq(5, true);
        Assert.Equal(0x35, pic.Acknowledge());
    }

    [Fact]
    public void SetPriorityCommandRotates()
    {
        LinuxInit();
        Out(0x20, 0xC0 | 4); // IR4 lowest, IR5 highest
        pic.SetIrq(3, true);
        pic.SetIrq(6, true);
        Assert.Equal(0x36, pic.Acknowledge());
    }

    [Fact]
    public void SpecialMaskModeLetsLowerPrioritiesInterruptAMaskedInServiceLevel()
    {
        LinuxInit();
        pic.SetIrq(3, true);
        Assert.Equal(0x33, pic.Acknowledge());
        pic.SetIrq(5, true);
        Assert.False(pic.HasInterrupt);
        Out(0x21, 0x08);     // mask IR3 (in service)
        Out(0x20, 0x68);     // OCW3: set special mask mode
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x35, pic.Acknowledge());
    }

    [Fact]
    public void PollCommandReturnsTheLevelAndAcknowledges()
    {
        LinuxInit();
        pic.SetIrq(6, true);
        Out(0x20, 0x0C); // OCW3 poll
        Assert.Equal(0x86, In(0x20));
        Out(0x20, 0x0B);
        Assert.Equal(0x40, In(0x20));
        Out(0x20, 0x0C);
        Assert.Equal(0x00, In(0x20)); // nothing more pending
    }

    [Fact]
    public void NothingPendingAtIntaIsSpuriousOnTheMaster()
    {
        LinuxInit();
        Assert.Equal(0x37, pic.Acknowledge());
    }

    [Fact]
    public void OutputChangedReportsIntrEdges()
    {
        var seen = new List<bool>();
        pic.OutputChanged = seen.Add;
        LinuxInit();
        pic.Input(8).Set(true);
        pic.Acknowledge();
        Assert.Equal([true, false], seen);
    }

    [Fact]
    public void Icw1ClearsMaskAndInServiceAndNeedsFreshEdges()
    {
        LinuxInit();
        pic.SetIrq(1, true);
        pic.Acknowledge();
        Out(0x21, 0xAA);
        Out(0x20, 0x11);
        Out(0x21, 0x30);
        Out(0x21, 0x04);
        Out(0x21, 0x01);
        Assert.Equal(0x00, In(0x21));
        Out(0x20, 0x0B);
        Assert.Equal(0x00, In(0x20));
        Assert.False(pic.HasInterrupt);
    }

    [Fact]
    public void SaveRestoreKeepsPendingAndInService()
    {
        LinuxInit();
        pic.SetIrq(3, true);
        pic.Acknowledge();
        pic.SetIrq(1, true);
        var copy = new Pic8259Pair();
        Pic8259Pair.SavedState.Copy(pic, copy);
        Assert.True(copy.HasInterrupt);
        Assert.Equal(0x31, copy.Acknowledge());
        Assert.Equal(pic.Registers.Isr | 0x02, copy.Registers.Isr);
    }

    [Fact]
    public void WrongSizeAccessIsCounted()
    {
        Assert.Equal(0xFFFFUL, pic.MasterPorts.Read(0, 2));
        pic.SetIrq(2, true);
        Assert.Equal(2, pic.Unexpected.Count);
    }
}
