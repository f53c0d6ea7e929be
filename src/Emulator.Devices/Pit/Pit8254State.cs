using Emulator.Devices.State;
using static Emulator.Devices.Pit.Pit8254Registers;

namespace Emulator.Devices.Pit;

internal sealed partial class PitChannel
{
    /// <summary>One 8254 counter, inside the PIT's section. Counts are 16-bit registers; a count of 0 stands for the modulus.</summary>
    internal static StateDescription<PitChannel> SavedState { get; } = new StateDescription<PitChannel>("pit-counter", version: Pit8254.StateVersion)
        .Int("Mode", c => c.Mode, (c, v) => c.Mode = v, StateRule.Within(0, 5))
        .Int("Access", c => c.Access, (c, v) => c.Access = v, StateRule.Within(1, 3)) // LSB, MSB, LSB then MSB
        .Flag("Bcd", c => c.Bcd, (c, v) => c.Bcd = v)
        .Flag("Gate", c => c.Gate, (c, v) => c.Gate = v)
        .Int("CountRegister", c => c.countRegister, (c, v) => c.countRegister = v, StateRule.Within(0, 0xFFFF))
        .Flag("CountWritten", c => c.countWritten, (c, v) => c.countWritten = v)
        .Flag("LsbWritten", c => c.lsbWritten, (c, v) => c.lsbWritten = v)
        .Int("LsbLatch", c => c.lsbLatch, (c, v) => c.lsbLatch = v)
        .Flag("ReadMsbNext", c => c.readMsbNext, (c, v) => c.readMsbNext = v)
        .Flag("CountLatched", c => c.countLatched, (c, v) => c.countLatched = v)
        .Int("LatchedCount", c => c.latchedCount, (c, v) => c.latchedCount = v, StateRule.Within(0, 0xFFFF))
        .Flag("LatchedMsbNext", c => c.latchedMsbNext, (c, v) => c.latchedMsbNext = v)
        .Flag("StatusLatched", c => c.statusLatched, (c, v) => c.statusLatched = v)
        .Int("LatchedStatus", c => c.latchedStatus, (c, v) => c.latchedStatus = v)
        .Flag("NullCount", c => c.nullCount, (c, v) => c.nullCount = v)
        .Flag("Counting", c => c.counting, (c, v) => c.counting = v)
        .Int("StartNs", c => c.startNs, (c, v) => c.startNs = v)
        .Int("StartValue", c => c.startValue, (c, v) => c.startValue = v, StateRule.Within(0, 0x10000))
        .Int("FrozenValue", c => c.frozenValue, (c, v) => c.frozenValue = v, StateRule.Within(0, 0xFFFF))
        .Flag("TerminalDone", c => c.terminalDone, (c, v) => c.terminalDone = v)
        .Flag("ReloadPending", c => c.reloadPending, (c, v) => c.reloadPending = v)
        .Int("ReloadNs", c => c.reloadNs, (c, v) => c.reloadNs = v)
        .Int("ReloadValue", c => c.reloadValue, (c, v) => c.reloadValue = v, StateRule.Within(0, 0x10000))
        // The counting element runs from 1 to the modulus; a pending reload loads a count of at least 1.
        .Check("StartValue", (_, s) => s.Get<bool>("Counting") && s.Get<int>("StartValue") < 1 ? "at least 1 while counting" : null)
        .Check("ReloadValue", (_, s) => s.Get<bool>("ReloadPending") && s.Get<int>("ReloadValue") < 1 ? "at least 1 while a reload is pending" : null);
}

public sealed partial class Pit8254
{
    internal const int StateVersion = 1;

    /// <summary>
    /// Saved state (section "pit"): the three counters and port 0x61. Version 1: every field. The
    /// post-load hook re-derives OUT0 and re-arms its timer from the restored machine clock.
    /// </summary>
    public static StateDescription<Pit8254> SavedState { get; } = new StateDescription<Pit8254>("pit", version: StateVersion)
        .Struct("Counter0", p => p.channels[0], PitChannel.SavedState)
        .Struct("Counter1", p => p.channels[1], PitChannel.SavedState)
        .Struct("Counter2", p => p.channels[2], PitChannel.SavedState)
        .Int("PortB", p => p.PortB.Latched, (p, v) => p.PortB.Latched = v, StateRule.Bits(PortBWritable)) // bits 3:0 as last written
        .Flag("RefreshToggle", p => p.PortB.Refresh, (p, v) => p.PortB.Refresh = v)
        .AfterLoad(p =>
        {
            long now = p.nowNs();
            p.irq0Level = !p.channels[0].Out(now);
            p.UpdateOut0(now);
        });
}
