using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Emulator.Devices.State;
using Xunit;
using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Tests;

public class LocalApicTests
{
    private readonly ManualTimerService timers = new();

    private static ApicMessage Fixed(int vector, bool level = false) =>
        new(ApicDeliveryMode.Fixed, (byte)vector, 0, false, LevelTriggered: level);

    [Fact]
    public void RegistersHoldTheirPowerUpValues()
    {
        // SDM Vol. 3A 11.4.7.1: LVTs masked, SVR 0xFF, DFR all ones, everything else 0.
        var ap = ApicTestKit.NewApic(timers, id: 3, bsp: false);
        Assert.Equal(3u << 24, ap.R(Id));
        Assert.Equal(0x0005_0014u, ap.R(LocalApicRegisters.Version));
        Assert.Equal(0xFFu, ap.R(Svr));
        Assert.Equal(0xFFFF_FFFFu, ap.R(Dfr));
        Assert.Equal(0u, ap.R(Ldr));
        Assert.Equal(0u, ap.R(Tpr));
        foreach (int lvt in new[] { LvtTimer, LvtThermal, LvtPerf, LvtLint0, LvtLint1, LvtError, LvtCmci })
        {
            Assert.Equal(0x1_0000u, ap.R(lvt));
        }

        Assert.Equal(0u, ap.R(TimerInitialCount));
        Assert.Equal(0u, ap.R(TimerCurrentCount));
        Assert.Equal(0xFEE0_0800ul, ap.ApicBaseMsr); // enabled, not BSP
        Assert.True(ap.WaitingForSipi);

        // The BSP: BSP flag set; LINT0 in virtual-wire mode (ExtINT, unmasked) as firmware leaves it.
        var bsp = ApicTestKit.NewApic(timers, id: 0, bsp: true);
        Assert.Equal(0xFEE0_0900ul, bsp.ApicBaseMsr);
        Assert.Equal(0x700u, bsp.R(LvtLint0));
        Assert.False(bsp.WaitingForSipi);
    }

    [Fact]
    public void WritableBitsAreThoseTheSdmDefines()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(Id, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, apic.R(Id));
        apic.W(Tpr, 0xFFFF_FFFF);
        Assert.Equal(0xFFu, apic.R(Tpr));
        apic.W(Ldr, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, apic.R(Ldr));
        apic.W(Dfr, 0);
        Assert.Equal(0x0FFF_FFFFu, apic.R(Dfr)); // cluster model; bits 27:0 read as ones
        apic.W(LvtTimer, 0xFFFF_FFFF);
        Assert.Equal(0x7_00FFu, apic.R(LvtTimer)); // vector, mask, mode 18:17
        apic.W(LvtLint0, 0xFFFF_FFFF);
        Assert.Equal(0x1_A7FFu, apic.R(LvtLint0)); // no delivery status, no remote IRR
        apic.W(LvtError, 0xFFFF_FFFF);
        Assert.Equal(0x1_00FFu, apic.R(LvtError));
        apic.W(TimerDivideConfig, 0xFFFF_FFFF);
        Assert.Equal(0xBu, apic.R(TimerDivideConfig));
        apic.W(IcrHigh, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, apic.R(IcrHigh));

        // Read-only registers ignore writes.
        apic.W(LocalApicRegisters.Version, 0);
        apic.W(Ppr, 0xFF);
        Assert.Equal(0x0005_0014u, apic.R(LocalApicRegisters.Version));
        Assert.Equal(0u, apic.Unexpected.Count);
    }

    [Fact]
    public void AccessesThatAreNotAlignedDwordsAreCountedAndHarmless()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        Assert.Equal(0ul, apic.Read(Svr, 1));
        Assert.Equal(0ul, apic.Read(Svr + 4, 4));
        apic.Write(Tpr, 8, 0xFF);
        Assert.Equal(0u, apic.R(Tpr));
        Assert.Equal(3, apic.Unexpected.Count);
    }

    [Fact]
    public void EsrLatchesErrorsOnWriteAndReadsThemAfterwards()
    {
        // SDM Vol. 3A 11.5.3: the ESR is updated by a write; reads return what the last write latched.
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(0x40, 1); // reserved register: illegal register address
        Assert.Equal(0u, apic.R(Esr));
        apic.W(Esr, 0);
        Assert.Equal(EsrIllegalRegisterAddress, apic.R(Esr));
        apic.W(Esr, 0);
        Assert.Equal(0u, apic.R(Esr));
        Assert.Equal(1, apic.Unexpected.Count);
    }

    [Fact]
    public void ErrorLvtSignalsAnError()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(LvtError, 0xFE);
        apic.Accept(Fixed(5)); // vectors 0-15 are illegal: receive illegal vector
        Assert.False(apic.Bit(IrrBase, 5));
        Assert.True(apic.Bit(IrrBase, 0xFE));
        apic.W(Esr, 0);
        Assert.Equal(EsrReceiveIllegalVector, apic.R(Esr));
    }

    [Fact]
    public void SoftwareDisableMasksEveryLvtAndKeepsThemMasked()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(LvtLint1, 0x400);
        Assert.Equal(0x400u, apic.R(LvtLint1));
        apic.W(Svr, 0xFF); // SDM Vol. 3A 11.4.7.2
        Assert.Equal(0x1_0400u, apic.R(LvtLint1));
        apic.W(LvtLint1, 0x400);
        Assert.Equal(0x1_0400u, apic.R(LvtLint1));
        apic.W(Svr, 0x1FF);
        apic.W(LvtLint1, 0x400);
        Assert.Equal(0x400u, apic.R(LvtLint1));
    }

    [Fact]
    public void InterruptsAreTakenByPriorityClassAgainstThePpr()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.Accept(Fixed(0x31));
        Assert.True(apic.Bit(IrrBase, 0x31));
        Assert.True(apic.HasPendingInterrupt);
        Assert.Equal(0x31, apic.Acknowledge());
        Assert.False(apic.Bit(IrrBase, 0x31));
        Assert.True(apic.Bit(IsrBase, 0x31));
        Assert.Equal(0x30u, apic.R(Ppr)); // TPR 0 < ISR class 3: PPR = 0x30

        apic.Accept(Fixed(0x35)); // same class as the one in service: held
        Assert.False(apic.HasPendingInterrupt);
        apic.Accept(Fixed(0x41)); // higher class: nests
        Assert.True(apic.HasPendingInterrupt);
        Assert.Equal(0x41, apic.Acknowledge());
        Assert.Equal(0x40u, apic.R(Ppr));

        apic.W(Eoi, 0); // retires 0x41, the highest in service
        Assert.False(apic.Bit(IsrBase, 0x41));
        Assert.True(apic.Bit(IsrBase, 0x31));
        Assert.False(apic.HasPendingInterrupt);
        apic.W(Eoi, 0); // retires 0x31; 0x35 becomes deliverable
        Assert.Equal(0u, apic.R(Ppr));
        Assert.True(apic.HasPendingInterrupt);
        Assert.Equal(0x35, apic.AckAndEoi());
        Assert.False(apic.HasPendingInterrupt);
    }

    [Fact]
    public void TprBlocksClassesAtOrBelowIt()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(Tpr, 0x5F);
        Assert.Equal(0x5Fu, apic.R(Ppr)); // TPR class >= ISR class: PPR = TPR
        apic.Accept(Fixed(0x5E));
        Assert.False(apic.HasPendingInterrupt);
        apic.Accept(Fixed(0x61));
        Assert.True(apic.HasPendingInterrupt);
        Assert.Equal(0x61, apic.Acknowledge());
        Assert.Equal(0x60u, apic.R(Ppr));
        apic.W(Eoi, 0);
        apic.W(Tpr, 0x40);
        Assert.Equal(0x5E, apic.Acknowledge());
    }

    [Fact]
    public void AcknowledgeGivesTheSpuriousVectorWhenNothingIsDeliverable()
    {
        // SDM Vol. 3A 11.9: the TPR rose between the request and the acknowledge.
        var apic = ApicTestKit.NewApic(timers);
        apic.W(Svr, 0x1EF);
        apic.Accept(Fixed(0x45));
        Assert.True(apic.HasPendingInterrupt);
        apic.W(Tpr, 0x50);
        Assert.Equal(0xEF, apic.Acknowledge());
        Assert.True(apic.Bit(IrrBase, 0x45));
        Assert.False(apic.Bit(IsrBase, 0x45));
    }

    [Fact]
    public void SoftwareDisabledApicHoldsRequestsWithoutDeliveringThem()
    {
        var apic = ApicTestKit.NewApic(timers, bsp: false);
        apic.Accept(Fixed(0x50));
        Assert.True(apic.Bit(IrrBase, 0x50));
        Assert.False(apic.HasPendingInterrupt);
        apic.Enabled();
        Assert.Equal(0x50, apic.Acknowledge());
    }

    [Fact]
    public void EoiOfALevelTriggeredVectorIsBroadcast()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        var broadcasts = new List<int>();
        apic.EoiBroadcast = broadcasts.Add;
        apic.Accept(Fixed(0x60, level: true));
        apic.Accept(Fixed(0x70));
        Assert.True(apic.Bit(TmrBase, 0x60));
        Assert.False(apic.Bit(TmrBase, 0x70));
        Assert.Equal(0x70, apic.AckAndEoi());
        Assert.Empty(broadcasts); // edge-triggered: no broadcast
        Assert.Equal(0x60, apic.AckAndEoi());
        Assert.Equal([0x60], broadcasts);
    }

    [Fact]
    public void ArbitrationPriorityFollowsTheSdmDefinition()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(Tpr, 0x35);
        Assert.Equal(0x35u, apic.R(Apr)); // TPR class above IRR and ISR classes
        apic.Accept(Fixed(0x81));
        Assert.Equal(0x80u, apic.R(Apr)); // the IRR class is higher
    }

    [Fact]
    public void VirtualWireModePassesThePicThroughLint0()
    {
        var bsp = ApicTestKit.NewApic(timers);
        bool picIntr = false;
        bsp.PicHasInterrupt = () => picIntr;
        bsp.PicAcknowledge = () => 0x20;
        Assert.False(bsp.HasPendingInterrupt);
        picIntr = true;
        Assert.True(bsp.HasPendingInterrupt); // ExtINT ignores the SVR and the PPR
        Assert.Equal(0x20, bsp.Acknowledge());

        bsp.Enabled();
        bsp.W(LvtLint0, 0x1_0700); // Linux masks LINT0 once the IOAPIC routes the PIC's interrupts
        Assert.False(bsp.HasPendingInterrupt);
    }

    [Fact]
    public void GloballyDisabledApicLeavesThePicInChargeAndHidesItsPage()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.PicHasInterrupt = () => true;
        apic.PicAcknowledge = () => 0x28;
        apic.W(LvtLint0, 0x1_0700);
        apic.SetApicBaseMsr(0xFEE0_0000); // EN clear (SDM Vol. 3A 11.4.3)
        Assert.Equal(0xFEE0_0100ul, apic.ApicBaseMsr); // the BSP flag is read-only
        Assert.False(apic.GloballyEnabled);
        Assert.Equal(0xFFFF_FFFFu, apic.R(LocalApicRegisters.Version));
        Assert.True(apic.HasPendingInterrupt);
        Assert.Equal(0x28, apic.Acknowledge());
        Assert.False(apic.Matches(new ApicMessage(ApicDeliveryMode.Fixed, 0x40, 0xFF, false)));

        apic.SetApicBaseMsr(0xFED0_0800); // re-enabled and moved
        Assert.Equal(0xFED0_0000ul, apic.BaseAddress);
        Assert.Equal(0xFFu, apic.R(Svr)); // back to the power-up state
    }

    [Fact]
    public void Lint1InNmiModeRecordsAnNmi()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        int wakeups = 0;
        apic.InterruptRequested = () => wakeups++;
        apic.W(LvtLint1, 0x400); // NMI
        apic.Lint1.Set(true);
        apic.Lint1.Set(true); // no new edge
        Assert.True(apic.NmiPending);
        Assert.Equal(1, wakeups);
        Assert.True(apic.TakeNmi());
        Assert.False(apic.NmiPending);
        apic.Lint1.Set(false);
        apic.W(LvtLint1, 0x1_0400); // masked: ignored
        apic.Lint1.Set(true);
        Assert.False(apic.NmiPending);
    }

    [Fact]
    public void Lint0InFixedModeRequestsItsVector()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(LvtLint0, 0x8031); // fixed, level-triggered, vector 0x31
        apic.SetLint(0, true);
        Assert.True(apic.Bit(IrrBase, 0x31));
        Assert.True(apic.Bit(TmrBase, 0x31));
    }

    [Fact]
    public void SavedStateRestoresIntoAFreshApic()
    {
        var apic = ApicTestKit.NewApic(timers).Enabled();
        apic.W(Tpr, 0x20);
        apic.W(Ldr, 0x0400_0000);
        apic.Accept(Fixed(0x61, level: true));
        apic.Accept(Fixed(0x45));
        Assert.Equal(0x61, apic.Acknowledge());
        var state = LocalApic.SavedState.Save(apic);
        var fields = System.Text.Json.Nodes.JsonNode.Parse(state)!;
        Assert.Equal("[97]", fields["InServiceVectors"]!.ToJsonString());
        Assert.Equal("[69]", fields["RequestedVectors"]!.ToJsonString());

        var copy = ApicTestKit.NewApic(timers);
        LocalApic.SavedState.Restore(copy, state);
        foreach (int reg in new[] { Id, Tpr, Ppr, Ldr, Dfr, Svr, IsrBase + 0x30, TmrBase + 0x30, IrrBase + 0x20, LvtLint0 })
        {
            Assert.Equal(apic.R(reg), copy.R(reg));
        }

        Assert.Throws<DeviceStateException>(() => LocalApic.SavedState.Load(copy, 99, state));
    }
}
