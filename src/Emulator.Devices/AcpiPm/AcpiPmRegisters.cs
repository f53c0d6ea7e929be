namespace Emulator.Devices.AcpiPm;

/// <summary>
/// The ACPI fixed-hardware register blocks (ACPI 6.0, section 4.8 "ACPI Hardware Features"),
/// laid out as QEMU's PIIX4/ICH9 power-management function does: one 12-byte I/O block at
/// <see cref="DefaultBase"/> with PM1a_EVT_BLK at +0, PM1a_CNT_BLK at +4 and PM_TMR_BLK at +8.
/// The FADT the machine builds points at exactly these offsets.
/// </summary>
public static class AcpiPmRegisters
{
    /// <summary>The I/O base the machine decodes the block at (QEMU's piix4/ich9 pm_io_base).</summary>
    public const ushort DefaultBase = 0x600;

    /// <summary>Bytes of I/O space the block occupies (+6 and +7 are a hole).</summary>
    public const int BlockLength = 12;

    // Offsets within the block.
    /// <summary>PM1a_STS (16 bits, write 1 to clear), first half of PM1a_EVT_BLK (ACPI 6.0, 4.8.3.1.1).</summary>
    public const int Pm1Status = 0;

    /// <summary>PM1a_EN (16 bits), second half of PM1a_EVT_BLK (ACPI 6.0, 4.8.3.1.2).</summary>
    public const int Pm1Enable = 2;

    /// <summary>PM1a_CNT (16 bits) (ACPI 6.0, 4.8.3.2.1).</summary>
    public const int Pm1Control = 4;

    /// <summary>PM_TMR (32-bit read-only register, 24 significant bits) (ACPI 6.0, 4.8.3.3).</summary>
    public const int PmTimer = 8;

    /// <summary>Lengths the FADT reports: PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN.</summary>
    public const int Pm1EventLength = 4, Pm1ControlLength = 2, PmTimerLength = 4;

    // PM1 status / enable bits (ACPI 6.0, Table 4-16 and Table 4-17): an enable bit sits at the
    // same position as its status bit.
    public const ushort TMR_STS = 1 << 0;
    public const ushort BM_STS = 1 << 4;
    public const ushort GBL_STS = 1 << 5;
    public const ushort PWRBTN_STS = 1 << 8;
    public const ushort SLPBTN_STS = 1 << 9;
    public const ushort RTC_STS = 1 << 10;
    public const ushort WAK_STS = 1 << 15;

    public const ushort TMR_EN = 1 << 0;
    public const ushort GBL_EN = 1 << 5;
    public const ushort PWRBTN_EN = 1 << 8;
    public const ushort SLPBTN_EN = 1 << 9;
    public const ushort RTC_EN = 1 << 10;

    /// <summary>Enable bits that exist (the others are reserved and read as zero).</summary>
    public const ushort EnableMask = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN;

    /// <summary>Status bits the OS can see and clear.</summary>
    public const ushort StatusMask = TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | WAK_STS;

    // PM1 control bits (ACPI 6.0, Table 4-18).
    public const ushort SCI_EN = 1 << 0;
    public const ushort BM_RLD = 1 << 1;
    public const ushort GBL_RLS = 1 << 2;
    public const int SLP_TYP_Shift = 10;
    public const ushort SLP_TYP_Mask = 7 << SLP_TYP_Shift;

    /// <summary>Write-only: starts the sleep transition selected by SLP_TYP; reads as zero.</summary>
    public const ushort SLP_EN = 1 << 13;

    /// <summary>
    /// The SLP_TYP value that means S5 (soft off) on this device; the DSDT's \_S5 package
    /// carries the same value. 5 as the brief's Package {5, 5, 0, 0}; no other sleep state is
    /// declared, so no other value is ever written by a conforming OS.
    /// </summary>
    public const int SlpTypS5 = 5;

    /// <summary>The PM timer runs at 3.579545 MHz (ACPI 6.0, 4.8.2.1).</summary>
    public const long PmTimerHz = 3_579_545;

    /// <summary>TMR_VAL_EXT is clear in the FADT: the counter is 24 bits wide.</summary>
    public const uint PmTimerMask = 0xff_ffff;
}

/// <summary>
/// The Reset Control Register at I/O port 0xCF9 (Intel ICH/PCH datasheets, "RST_CNT"), which the
/// FADT's RESET_REG points at with RESET_VALUE 0x06.
/// </summary>
public static class ResetControlRegisters
{
    public const ushort Port = 0xcf9;

    /// <summary>SYS_RST: with RST_CPU, a full (hard) reset rather than an INIT of the CPU.</summary>
    public const byte SYS_RST = 1 << 1;

    /// <summary>RST_CPU: a 0 to 1 transition starts the reset. Self-clearing; reads as zero here.</summary>
    public const byte RST_CPU = 1 << 2;

    /// <summary>FULL_RST: power-cycle style reset (kept and read back, no further meaning here).</summary>
    public const byte FULL_RST = 1 << 3;

    /// <summary>The value the FADT tells the OS to write (SYS_RST | RST_CPU), as QEMU's q35.</summary>
    public const byte ResetValue = SYS_RST | RST_CPU;
}
