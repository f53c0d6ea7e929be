using Emulator.Devices.State;
using static Emulator.Devices.Apic.IoApicRegisters;

namespace Emulator.Devices.Apic;

public sealed partial class IoApic
{
    /// <summary>
    /// Saved state (section "ioapic"). Version 1: every field. One element per input pin, exactly
    /// <see cref="IoApicRegisters.PinCount"/>: its redirection entry (the writable bits and Remote
    /// IRR; 82093AA datasheet 3.2.4) and the electrical level of its input.
    /// </summary>
    public static StateDescription<IoApic> SavedState { get; } = new StateDescription<IoApic>("ioapic", version: 1)
        .Int("Id", a => a.id, (a, v) => a.id = v, StateRule.Bits(IdMask))
        .Int("IoRegSel", a => a.ioRegSel, (a, v) => a.ioRegSel = v, StateRule.Within(0, 0xFF))
        .Structs("Pins", a => a.Pins, PinView.SavedState);

    private PinView[] Pins => field ??= [.. Enumerable.Range(0, PinCount).Select(p => new PinView(this, p))];

    /// <summary>A view of one input pin's entry and level, for the saved state.</summary>
    private sealed class PinView(IoApic owner, int pin)
    {
        public static StateDescription<PinView> SavedState { get; } = new StateDescription<PinView>("ioapic-pin", version: 1)
            .Position("Pin")
            .Int("Entry", p => p.owner.entries[p.pin], (p, v) => p.owner.entries[p.pin] = v, StateRule.Bits(EntryWritable | RemoteIrr))
            .Flag("Level", p => p.owner.pinLevels[p.pin], (p, v) => p.owner.pinLevels[p.pin] = v);

        private readonly IoApic owner = owner;
        private readonly int pin = pin;
    }
}
