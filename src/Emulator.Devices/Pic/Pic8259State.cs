using Emulator.Devices.State;

namespace Emulator.Devices.Pic;

internal sealed partial class Pic8259Chip
{
    /// <summary>One 8259A of the pair, inside the pair's section.</summary>
    internal static StateDescription<Pic8259Chip> SavedState { get; } = new StateDescription<Pic8259Chip>("pic8259", version: Pic8259Pair.StateVersion)
        .Int("Irr", c => c.irr, (c, v) => c.irr = v)
        .Int("Isr", c => c.isr, (c, v) => c.isr = v)
        .Int("Imr", c => c.imr, (c, v) => c.imr = v)
        .Int("Elcr", c => c.elcr, (c, v) => c.elcr = v,
            StateRule.Where<Pic8259Chip>((c, v) => (v & ~(Int128)c.ElcrMask) == 0, c => $"only bits 0x{c.ElcrMask:x} set (the inputs that can be level-triggered)"))
        .Int("Lines", c => c.lines, (c, v) => c.lines = v)
        // ICW2: in x86 mode bits 2:0 of the vector base are the IR number (8259A datasheet, ICW2).
        .Int("VectorBase", c => c.vectorBase, (c, v) => c.vectorBase = v, StateRule.Aligned(8))
        .Int("LowestPriority", c => c.lowestPriority, (c, v) => c.lowestPriority = v, StateRule.Within(0, 7))
        .Int("InitStep", c => c.initStep, (c, v) => c.initStep = v, StateRule.Within(0, 3))
        .Flag("ExpectIcw4", c => c.expectIcw4, (c, v) => c.expectIcw4 = v)
        .Flag("SingleMode", c => c.singleMode, (c, v) => c.singleMode = v)
        .Flag("LevelTriggeredMode", c => c.levelTriggeredMode, (c, v) => c.levelTriggeredMode = v)
        .Flag("AutoEoi", c => c.autoEoi, (c, v) => c.autoEoi = v)
        .Flag("RotateOnAutoEoi", c => c.rotateOnAutoEoi, (c, v) => c.rotateOnAutoEoi = v)
        .Flag("SpecialFullyNested", c => c.specialFullyNested, (c, v) => c.specialFullyNested = v)
        .Flag("SpecialMask", c => c.specialMask, (c, v) => c.specialMask = v)
        .Flag("ReadIsr", c => c.readIsr, (c, v) => c.readIsr = v)
        .Flag("Poll", c => c.poll, (c, v) => c.poll = v);
}

public sealed partial class Pic8259Pair
{
    internal const int StateVersion = 1;

    /// <summary>Saved state (section "pic"). Version 1: both chips, every field.</summary>
    public static StateDescription<Pic8259Pair> SavedState { get; } = new StateDescription<Pic8259Pair>("pic", version: StateVersion)
        .Struct("Master", p => p.master, Pic8259Chip.SavedState)
        .Struct("Slave", p => p.slave, Pic8259Chip.SavedState)
        .AfterLoad(p =>
        {
            p.intr = p.master.PendingRequest() >= 0;
            p.Update();
        });
}
