using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Xunit;
using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Tests;

/// <summary>IPIs through the ICR (SDM Vol. 3A 11.6) between four local APICs on one bus.</summary>
public class ApicIpiTests
{
    private const uint LevelAssert = IcrLevelAssert;
    private readonly ManualTimerService timers = new();
    private readonly ApicBusRouter bus = new();
    private readonly LocalApic[] cpus;
    private readonly List<int> woken = [];

    public ApicIpiTests()
    {
        cpus = new LocalApic[4];
        for (int i = 0; i < cpus.Length; i++)
        {
            cpus[i] = new LocalApic(i, i == 0, bus, timers, () => timers.NowNs).Enabled();
            bus.Attach(cpus[i]);
        }

        bus.Delivered = apic => woken.Add(apic.ApicId);
    }

    private void Send(int from, uint destination, uint low)
    {
        cpus[from].W(IcrHigh, destination << 24);
        cpus[from].W(IcrLow, low);
    }

    /// <summary>The APIC IDs whose IRR holds <paramref name="vector"/>.</summary>
    private int[] Holding(int vector) => [.. cpus.Where(c => c.Bit(IrrBase, vector)).Select(c => c.ApicId)];

    [Fact]
    public void PhysicalDestinationAddressesOneApicId()
    {
        Send(0, 2, LevelAssert | 0x41);
        Assert.Equal([2], Holding(0x41));
        Assert.Equal([2], woken);
        Assert.Equal(LevelAssert | 0x41, cpus[0].R(IcrLow)); // delivery status (bit 12) reads idle
        Assert.Equal(0x0200_0000u, cpus[0].R(IcrHigh));
    }

    [Fact]
    public void PhysicalBroadcastReachesEveryApic()
    {
        Send(1, 0xFF, LevelAssert | 0x42);
        Assert.Equal([0, 1, 2, 3], Holding(0x42));
    }

    [Fact]
    public void LogicalFlatModelMatchesTheLdrBitmask()
    {
        for (int i = 0; i < 4; i++)
        {
            cpus[i].W(Ldr, (1u << i) << 24); // what Linux's flat APIC driver programs
        }

        Send(0, 0x06, LevelAssert | IcrLogicalDestination | 0x43);
        Assert.Equal([1, 2], Holding(0x43));
    }

    [Fact]
    public void LogicalClusterModelMatchesClusterAndMemberBits()
    {
        uint[] logical = [0x11, 0x12, 0x21, 0x22]; // cluster 1 members 0,1; cluster 2 members 0,1
        for (int i = 0; i < 4; i++)
        {
            cpus[i].W(Dfr, 0x0FFF_FFFF);
            cpus[i].W(Ldr, logical[i] << 24);
        }

        Send(3, 0x13, LevelAssert | IcrLogicalDestination | 0x44);
        Assert.Equal([0, 1], Holding(0x44));
        Send(3, 0x22, LevelAssert | IcrLogicalDestination | 0x45);
        Assert.Equal([3], Holding(0x45));
        Send(3, 0x31, LevelAssert | IcrLogicalDestination | 0x46); // no cluster 3
        Assert.Empty(Holding(0x46));
    }

    [Theory]
    [InlineData(1u, new[] { 2 })] // self
    [InlineData(2u, new[] { 0, 1, 2, 3 })] // all including self
    [InlineData(3u, new[] { 0, 1, 3 })] // all excluding self
    public void ShorthandsIgnoreTheDestinationField(uint shorthand, int[] expected)
    {
        Send(2, 0, LevelAssert | (shorthand << IcrShorthandShift) | 0x47);
        Assert.Equal(expected, Holding(0x47));
    }

    [Fact]
    public void LowestPriorityGoesToOneMatchingApic()
    {
        // Arbitration picks the lowest APIC ID among the targets (an implementation choice the SDM allows).
        Send(3, 0xFF, LevelAssert | (1 << IcrDeliveryModeShift) | 0x48);
        Assert.Equal([0], Holding(0x48));
        for (int i = 0; i < 4; i++)
        {
            cpus[i].W(Ldr, (1u << i) << 24);
        }

        Send(0, 0x0C, LevelAssert | IcrLogicalDestination | (1 << IcrDeliveryModeShift) | 0x49);
        Assert.Equal([2], Holding(0x49));
    }

    [Fact]
    public void NmiIpiRecordsAnNmi()
    {
        Send(0, 1, LevelAssert | (4 << IcrDeliveryModeShift));
        Assert.True(cpus[1].NmiPending);
        Assert.False(cpus[2].NmiPending);
    }

    [Fact]
    public void InitAndStartupIpisStartAnApplicationProcessor()
    {
        // Linux's wakeup_secondary_cpu_via_init: INIT assert, INIT de-assert, SIPI twice.
        cpus[1].W(Ldr, 0x0200_0000);
        cpus[1].TakeStartupVector();
        Assert.True(cpus[1].WaitingForSipi); // APs wait for SIPI from power-up

        Send(0, 1, IcrLevelTriggered | LevelAssert | (5 << IcrDeliveryModeShift));
        Assert.True(cpus[1].InitPending);
        Assert.Equal(0u, cpus[1].R(Ldr)); // INIT reset the APIC ...
        Assert.Equal(1u << 24, cpus[1].R(Id)); // ... but not its ID
        Assert.Equal(0xFFu, cpus[1].R(Svr));
        Assert.True(cpus[1].TakeInit());

        woken.Clear();
        Send(0, 1, IcrLevelTriggered | (5 << IcrDeliveryModeShift)); // de-assert: nothing is sent
        Assert.Empty(woken);
        Assert.False(cpus[1].InitPending);

        Send(0, 1, LevelAssert | (6 << IcrDeliveryModeShift) | 0x08);
        Assert.Equal(0x08, cpus[1].StartupVector);
        Assert.False(cpus[1].WaitingForSipi);
        Send(0, 1, LevelAssert | (6 << IcrDeliveryModeShift) | 0x09); // the second SIPI is ignored once started
        Assert.Equal(0x08, cpus[1].TakeStartupVector());
        Assert.Equal(-1, cpus[1].StartupVector);
        Assert.False(cpus[2].InitPending);
    }

    [Fact]
    public void SipiToARunningProcessorIsIgnored()
    {
        Send(1, 0, LevelAssert | (6 << IcrDeliveryModeShift) | 0x10);
        Assert.Equal(-1, cpus[0].StartupVector);
    }

    [Fact]
    public void IllegalVectorIsNotSentAndSetsTheSendError()
    {
        woken.Clear();
        Send(0, 1, LevelAssert | 0x0E);
        Assert.Empty(woken);
        cpus[0].W(Esr, 0);
        Assert.Equal(EsrSendIllegalVector, cpus[0].R(Esr));
    }

    [Fact]
    public void SmiIsNotDelivered()
    {
        Send(0, 0xFF, LevelAssert | (2 << IcrDeliveryModeShift));
        Assert.Empty(woken);
    }

    [Fact]
    public void IcrWritesSendFullMessagesOnTheBus()
    {
        var recording = new RecordingApicBus();
        var apic = ApicTestKit.NewApic(timers, recording, id: 5).Enabled();
        apic.W(IcrHigh, 0x0300_0000);
        apic.W(IcrLow, IcrLevelTriggered | LevelAssert | IcrLogicalDestination | 0x51);
        var m = Assert.Single(recording.Messages);
        Assert.Equal(new ApicMessage(ApicDeliveryMode.Fixed, 0x51, 3, true, ApicShorthand.None, true, true, 5), m);
    }
}
