using Emulator.Devices.State;
using static Emulator.Devices.AcpiPm.AcpiPmRegisters;

namespace Emulator.Devices.AcpiPm;

public sealed partial class AcpiPmDevice
{
    /// <summary>
    /// Saved state (section "acpi-pm"). Version 1: every field. The PM timer is not saved: it is a
    /// function of the machine clock, which is saved with the machine. Each register holds only the
    /// bits the device defines (ACPI 6.0, 4.8.3); SCI_EN is hard-wired to 1.
    /// </summary>
    public static StateDescription<AcpiPmDevice> SavedState { get; } = new StateDescription<AcpiPmDevice>("acpi-pm", version: 1)
        .Int("Pm1Status", d => d.status, (d, v) => d.status = v, StateRule.Bits(StatusMask))
        .Int("Pm1Enable", d => d.enable, (d, v) => d.enable = v, StateRule.Bits(EnableMask))
        .Int("Pm1Control", d => d.control, (d, v) => d.control = v, StateRule.Bits(BM_RLD | SLP_TYP_Mask | SCI_EN).And(StateRule.AllSet(SCI_EN)))
        .AfterLoad(d => d.UpdateSci());
}

public sealed partial class ResetControlDevice
{
    /// <summary>Saved state (section "reset"). Version 1: the readable bits of RST_CNT (SYS_RST, FULL_RST).</summary>
    public static StateDescription<ResetControlDevice> SavedState { get; } = new StateDescription<ResetControlDevice>("reset", version: 1)
        .Int("Value", d => d.value, (d, v) => d.value = v, StateRule.Bits(ResetControlRegisters.SYS_RST | ResetControlRegisters.FULL_RST));
}
