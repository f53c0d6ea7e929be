using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Emulator.Devices.State;
using Xunit;
using static Emulator.Devices.Apic.IoApicRegisters;

namespace Emulator.Devices.Tests;

/// <summary>The 82093AA I/O APIC driven through IOREGSEL/IOWIN, as the OS programs it.</summary>
public class IoApicTests
{
    private readonly RecordingApicBus bus = new();
    private readonly IoApic ioapic;

    public IoApicTests()
    {
        ioapic = new IoApic(bus, ioApicId: 4);
    }

    private uint ReadReg(uint reg)
    {
        ioapic.Write(IoRegSel, 4, reg);
        return (uint)ioapic.Read(IoWin, 4);
    }

    private void WriteReg(uint reg, uint value)
    {
        ioapic.Write(IoRegSel, 4, reg);
        ioapic.Write(IoWin, 4, value);
    }

    private void Program(int pin, uint low, byte destination = 0)
    {
        WriteReg((uint)(RedirectionTableBase + (2 * pin) + 1), (uint)destination << 24);
        WriteReg((uint)(RedirectionTableBase + (2 * pin)), low);
    }

    private uint Low(int pin) => ReadReg((uint)(RedirectionTableBase + (2 * pin)));

    [Fact]
    public void IdentificationRegistersMatchTheDatasheet()
    {
        Assert.Equal(4u << 24, ReadReg(IoApicId));
        Assert.Equal(0x0017_0020u, ReadReg(IoApicVer)); // 24 entries, version 0x20
        Assert.Equal(4u << 24, ReadReg(IoApicArb));
        WriteReg(IoApicId, 0xFFFF_FFFF);
        Assert.Equal(0x0F00_0000u, ReadReg(IoApicId)); // 4-bit ID in bits 27:24
        WriteReg(IoApicVer, 0);
        Assert.Equal(0x0017_0020u, ReadReg(IoApicVer));
        ioapic.Write(IoRegSel, 4, 0x1234_5613);
        Assert.Equal(0x13ul, ioapic.Read(IoRegSel, 4));
    }

    [Fact]
    public void RedirectionEntriesResetMaskedAndKeepReadOnlyBits()
    {
        for (int pin = 0; pin < PinCount; pin++)
        {
            Assert.Equal(0x1_0000u, Low(pin));
            Assert.Equal(0u, ReadReg((uint)(RedirectionTableBase + (2 * pin) + 1)));
        }

        WriteReg(RedirectionTableBase + 6, 0xFFFF_FFFF);
        Assert.Equal(0x1_AFFFu, Low(3)); // delivery status and remote IRR are read-only
        WriteReg(RedirectionTableBase + 7, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, ReadReg(RedirectionTableBase + 7)); // destination field only
    }

    [Fact]
    public void EdgeTriggeredPinSendsOnEachRisingEdge()
    {
        Program(4, 0x34, destination: 1); // fixed, physical, edge, active high
        ioapic.SetIrq(4, true);
        ioapic.SetIrq(4, true);
        var m = Assert.Single(bus.Messages);
        Assert.Equal(new ApicMessage(ApicDeliveryMode.Fixed, 0x34, 1, false, ApicShorthand.None, false, true, -1), m);
        ioapic.SetIrq(4, false);
        ioapic.Pin(4).Set(true);
        Assert.Equal(2, bus.Messages.Count);
    }

    [Fact]
    public void MaskedEdgeIsDropped()
    {
        // 82093AA 3.2.4: edge interrupts on a masked pin are neither delivered nor held pending.
        Program(4, (uint)Masked | 0x34);
        ioapic.SetIrq(4, true);
        Program(4, 0x34);
        Assert.Empty(bus.Messages);
    }

    [Fact]
    public void ActiveLowPinIsAssertedByALowInput()
    {
        ioapic.SetIrq(5, true); // idle high
        Program(5, (uint)ActiveLow | 0x35);
        ioapic.SetIrq(5, false);
        Assert.Single(bus.Messages);
    }

    [Fact]
    public void LevelTriggeredPinWaitsForItsEoiAndSendsAgainIfStillAsserted()
    {
        Program(9, (uint)LevelTriggered | (uint)LogicalDestination | 0x49, destination: 0x0F);
        ioapic.SetIrq(9, true);
        var m = Assert.Single(bus.Messages);
        Assert.True(m.LevelTriggered);
        Assert.True(m.LogicalDestination);
        Assert.NotEqual(0u, Low(9) & (uint)RemoteIrr);

        ioapic.SetIrq(9, true); // still asserted, Remote IRR set: nothing new
        Assert.Single(bus.Messages);
        ioapic.EndOfInterrupt(0x48); // another vector: no effect
        Assert.Single(bus.Messages);

        ioapic.EndOfInterrupt(0x49); // the device has not been serviced: the line is still high
        Assert.Equal(2, bus.Messages.Count);
        Assert.NotEqual(0u, Low(9) & (uint)RemoteIrr);

        ioapic.SetIrq(9, false);
        ioapic.Write(Eoi, 4, 0x49); // the EOI register does the same as a broadcast
        Assert.Equal(0u, Low(9) & (uint)RemoteIrr);
        Assert.Equal(2, bus.Messages.Count);
    }

    [Fact]
    public void UnmaskingAnAssertedLevelPinSendsIt()
    {
        Program(10, (uint)Masked | (uint)LevelTriggered | 0x4A);
        ioapic.SetIrq(10, true);
        Assert.Empty(bus.Messages);
        Program(10, (uint)LevelTriggered | 0x4A);
        Assert.Single(bus.Messages);
    }

    [Fact]
    public void DeliveryModesAreCarriedInTheMessage()
    {
        Program(2, (4u << DeliveryModeShift) | 0x00); // NMI
        Program(3, (7u << DeliveryModeShift) | 0x00); // ExtINT (Linux's "through 8259A" timer route)
        Program(6, (2u << DeliveryModeShift) | 0x00); // SMI: not emulated
        ioapic.SetIrq(2, true);
        ioapic.SetIrq(3, true);
        ioapic.SetIrq(6, true);
        Assert.Equal([ApicDeliveryMode.Nmi, ApicDeliveryMode.ExtInt], bus.Messages.Select(m => m.DeliveryMode));
    }

    [Fact]
    public void LevelTriggeredNmiEntrySendsOnceWhileAsserted()
    {
        Program(7, (uint)LevelTriggered | (4u << DeliveryModeShift));
        ioapic.SetIrq(7, true);
        ioapic.SetIrq(7, true);
        Assert.Single(bus.Messages);
        Assert.Equal(0u, Low(7) & (uint)RemoteIrr);
    }

    [Fact]
    public void OddAccessesAreCountedAndHarmless()
    {
        Assert.Equal(0ul, ioapic.Read(IoWin, 1));
        ioapic.Write(0x20, 4, 1);
        Assert.Equal(0u, ReadReg(0x40)); // no register 0x40
        ioapic.SetIrq(24, true);
        Assert.Equal(4, ioapic.Unexpected.Count);
    }

    [Fact]
    public void SavedStateRestoresEntriesAndLevels()
    {
        Program(9, (uint)LevelTriggered | 0x49, destination: 2);
        ioapic.SetIrq(9, true);
        var copy = new IoApic(bus);
        IoApic.SavedState.Copy(ioapic, copy);
        Assert.Equal(ioapic.RedirectionEntry(9), copy.RedirectionEntry(9));
        copy.EndOfInterrupt(0x49); // still asserted in the copy: sends again
        Assert.Equal(2, bus.Messages.Count);
        Assert.Throws<DeviceStateException>(() => IoApic.SavedState.Load(copy, 2, IoApic.SavedState.Save(ioapic)));
    }

    [Fact]
    public void LevelInterruptRoundTripThroughLocalApicEoiBroadcast()
    {
        // IOAPIC -> local APIC (IRR, TMR) -> vCPU acknowledge -> EOI -> broadcast -> IOAPIC re-sends.
        var timers = new ManualTimerService();
        var router = new ApicBusRouter();
        var lapic = new LocalApic(0, true, router, timers, () => timers.NowNs).Enabled();
        router.Attach(lapic);
        var io = new IoApic(router);
        lapic.EoiBroadcast = io.EndOfInterrupt;
        io.Write(IoRegSel, 4, RedirectionTableBase + (2 * 11));
        io.Write(IoWin, 4, (uint)LevelTriggered | 0x5B);

        io.SetIrq(11, true);
        Assert.True(lapic.Bit(LocalApicRegisters.TmrBase, 0x5B));
        Assert.Equal(0x5B, lapic.Acknowledge());
        lapic.W(LocalApicRegisters.Eoi, 0); // handler ran but the device still asserts
        Assert.True(lapic.Bit(LocalApicRegisters.IrrBase, 0x5B));
        Assert.Equal(0x5B, lapic.Acknowledge());
        io.SetIrq(11, false); // the device is serviced
        lapic.W(LocalApicRegisters.Eoi, 0);
        Assert.False(lapic.HasPendingInterrupt);
        Assert.Equal(0ul, io.RedirectionEntry(11) & RemoteIrr);
    }
}
