using Emulator.Devices.Apic;
using Emulator.Devices.Bus;

namespace Emulator.Devices.Tests;

/// <summary>An APIC bus that records messages instead of routing them.</summary>
internal sealed class RecordingApicBus : IApicBus
{
    public List<ApicMessage> Messages { get; } = [];

    public void Deliver(ApicMessage message) => Messages.Add(message);
}

/// <summary>Register access helpers shared by the APIC tests (32-bit accesses, as the SDM requires).</summary>
internal static class ApicTestKit
{
    public static uint R(this LocalApic apic, int offset) => (uint)apic.Read((ulong)offset, 4);

    public static void W(this LocalApic apic, int offset, uint value) => apic.Write((ulong)offset, 4, value);

    public static LocalApic NewApic(ManualTimerService timers, IApicBus? bus = null, int id = 0, bool bsp = true) =>
        new(id, bsp, bus ?? new RecordingApicBus(), timers, () => timers.NowNs);

    /// <summary>SVR = 0x1FF: software-enabled, spurious vector 0xFF (what Linux writes, plus the enable bit).</summary>
    public static LocalApic Enabled(this LocalApic apic)
    {
        apic.W(LocalApicRegisters.Svr, 0x1FF);
        return apic;
    }

    /// <summary>Whether the bitmap register family at <paramref name="baseOffset"/> (ISR, TMR, IRR) has <paramref name="vector"/> set.</summary>
    public static bool Bit(this LocalApic apic, int baseOffset, int vector) =>
        (apic.R(baseOffset + ((vector >> 5) * 0x10)) & (1u << (vector & 31))) != 0;

    /// <summary>Takes one interrupt as the vCPU would and ends it with an EOI.</summary>
    public static int AckAndEoi(this LocalApic apic)
    {
        int v = apic.Acknowledge();
        apic.W(LocalApicRegisters.Eoi, 0);
        return v;
    }
}
