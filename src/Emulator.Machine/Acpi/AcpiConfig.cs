using Emulator.Devices.AcpiPm;

namespace Emulator.Machine.Acpi;

/// <summary>What the ACPI tables describe: CPUs, interrupt controllers and the fixed hardware.</summary>
public sealed record AcpiConfig
{
    /// <summary>vCPUs; vCPU i has APIC ID i and ACPI processor UID i.</summary>
    public int CpuCount { get; init; } = 1;

    public uint LocalApicAddress { get; init; } = 0xfee0_0000;

    /// <summary>The I/O APIC's ID. 0, as QEMU (its 82093AA resets its ID register to 0).</summary>
    public byte IoApicId { get; init; }

    public uint IoApicAddress { get; init; } = 0xfec0_0000;

    /// <summary>Base port of the <see cref="AcpiPmDevice"/> block (PM1a_EVT at +0, PM1a_CNT at +4, PM_TMR at +8).</summary>
    public ushort PmBase { get; init; } = AcpiPmRegisters.DefaultBase;

    /// <summary>The SCI's ISA IRQ (and GSI): 9, level-triggered active high, as on PIIX4/ICH.</summary>
    public byte SciIrq { get; init; } = 9;

    /// <summary>Whether an i8042 keyboard controller is present (FADT IAPC_BOOT_ARCH bit 1).</summary>
    public bool Has8042 { get; init; } = true;

    /// <summary>Where the FADT's RESET_REG points (I/O port) and the value to write there.</summary>
    public ushort ResetPort { get; init; } = ResetControlRegisters.Port;

    public byte ResetValue { get; init; } = ResetControlRegisters.ResetValue;
}

/// <summary>
/// Where the tables live in guest memory by default: the RSDP at the start of the BIOS area
/// 0xE0000-0xFFFFF (found there by Linux's legacy scan when boot_params.acpi_rsdp_addr is not
/// used), the other tables from the next page up. The whole area is e820 reserved.
/// </summary>
public static class AcpiLayout
{
    public const ulong RsdpAddress = 0xe_0000;
    public const ulong TablesAddress = 0xe_1000;

    /// <summary>The tables must end below this address (end of the BIOS area).</summary>
    public const ulong TablesLimit = 0x10_0000;
}
