using System.Buffers.Binary;
using Emulator.Devices.AcpiPm;

namespace Emulator.Machine.Acpi;

/// <summary>
/// The Fixed ACPI Description Table, revision 6 (ACPI 6.0, 5.2.9, Table 5-34), 276 bytes.
/// Not hardware-reduced: it points at the PM1a event and control blocks and the PM timer of
/// <see cref="AcpiPmDevice"/>, with SCI_INT 9, the reset register, the FACS and the DSDT.
/// There is no SMI_CMD port, so the OS finds the platform already in ACPI mode.
/// </summary>
public static class Fadt
{
    public const byte Revision = 6;

    /// <summary>FADT Minor Version: 0, the layout of ACPI 6.0.</summary>
    public const byte MinorVersion = 0;

    public const int Length = 276;

    // Field offsets (Table 5-34).
    public const int FirmwareCtrl = 36, Dsdt = 40, PreferredPmProfile = 45, SciInt = 46, SmiCmd = 48,
        Pm1aEvtBlk = 56, Pm1aCntBlk = 64, PmTmrBlk = 76, Gpe0Blk = 80, Pm1EvtLen = 88, Pm1CntLen = 89,
        Pm2CntLen = 90, PmTmrLen = 91, PLvl2Lat = 96, PLvl3Lat = 98, Century = 108, IapcBootArch = 109,
        Flags = 112, ResetReg = 116, ResetValue = 128, FadtMinorVersion = 131, XFirmwareCtrl = 132, XDsdt = 140,
        XPm1aEvtBlk = 148, XPm1bEvtBlk = 160, XPm1aCntBlk = 172, XPm1bCntBlk = 184, XPm2CntBlk = 196, XPmTmrBlk = 208,
        XGpe0Blk = 220, HypervisorVendorIdentity = 268;

    // Fixed Feature Flags (Table 5-35).
    public const uint WBINVD = 1 << 0;
    public const uint PROC_C1 = 1 << 2;
    public const uint PWR_BUTTON = 1 << 4;
    public const uint SLP_BUTTON = 1 << 5;
    public const uint FIX_RTC = 1 << 6;
    public const uint TMR_VAL_EXT = 1 << 8;
    public const uint RESET_REG_SUP = 1 << 10;
    public const uint USE_PLATFORM_CLOCK = 1 << 15;
    public const uint HW_REDUCED_ACPI = 1 << 20;

    // IA-PC Boot Architecture Flags (Table 5-36).
    public const ushort LEGACY_DEVICES = 1 << 0;
    public const ushort I8042 = 1 << 1;
    public const ushort VGA_NOT_PRESENT = 1 << 2;

    /// <summary>
    /// The flags this machine sets: WBINVD works, C1 (HLT) on every CPU; the power button is a
    /// fixed feature (PWR_BUTTON clear), there is no sleep button (SLP_BUTTON set); RTC wake is
    /// not in PM1 (FIX_RTC set); 24-bit timer (TMR_VAL_EXT clear); RESET_REG is valid;
    /// USE_PLATFORM_CLOCK as QEMU sets it.
    /// </summary>
    public const uint MachineFlags = WBINVD | PROC_C1 | SLP_BUTTON | FIX_RTC | RESET_REG_SUP | USE_PLATFORM_CLOCK;

    /// <summary>Builds the FADT; the 32-bit FIRMWARE_CTRL and DSDT fields are zero because the X_ fields are used (5.2.9: only one of each pair may be set).</summary>
    public static byte[] Build(AcpiConfig config, ulong dsdtAddress, ulong facsAddress)
    {
        var body = new byte[Length - AcpiTable.HeaderLength];
        var f = new FieldWriter(body);
        ushort evt = config.PmBase;
        ushort cnt = (ushort)(config.PmBase + AcpiPmRegisters.Pm1Control);
        ushort tmr = (ushort)(config.PmBase + AcpiPmRegisters.PmTimer);

        f.U8(PreferredPmProfile, 0); // unspecified
        f.U16(SciInt, config.SciIrq);
        f.U32(SmiCmd, 0); // no SMM: always in ACPI mode
        f.U32(Pm1aEvtBlk, evt);
        f.U32(Pm1aCntBlk, cnt);
        f.U32(PmTmrBlk, tmr);
        f.U8(Pm1EvtLen, AcpiPmRegisters.Pm1EventLength);
        f.U8(Pm1CntLen, AcpiPmRegisters.Pm1ControlLength);
        f.U8(PmTmrLen, AcpiPmRegisters.PmTimerLength);
        f.U16(PLvl2Lat, 0x0fff); // > 100: C2 not supported
        f.U16(PLvl3Lat, 0x0fff); // > 1000: C3 not supported
        f.U8(Century, 0x32); // CMOS RAM index of the century byte (MC146818 convention, as QEMU)
        f.U16(IapcBootArch, (ushort)(LEGACY_DEVICES | (config.Has8042 ? I8042 : 0) | VGA_NOT_PRESENT));
        f.U32(Flags, MachineFlags);
        f.Gas(ResetReg, GenericAddress.Io(config.ResetPort, 1, GenericAddress.AccessByte));
        f.U8(ResetValue, config.ResetValue);
        f.U8(FadtMinorVersion, MinorVersion);
        f.U64(XFirmwareCtrl, facsAddress);
        f.U64(XDsdt, dsdtAddress);
        f.Gas(XPm1aEvtBlk, GenericAddress.Io(evt, AcpiPmRegisters.Pm1EventLength, GenericAddress.AccessWord));
        f.Gas(XPm1aCntBlk, GenericAddress.Io(cnt, AcpiPmRegisters.Pm1ControlLength, GenericAddress.AccessWord));
        f.Gas(XPmTmrBlk, GenericAddress.Io(tmr, AcpiPmRegisters.PmTimerLength, GenericAddress.AccessDword));
        return AcpiTable.Build("FACP", Revision, body);
    }

    /// <summary>Writes fields at their table offsets into a body that starts after the header.</summary>
    private readonly ref struct FieldWriter(Span<byte> body)
    {
        private readonly Span<byte> body = body;

        public void U8(int offset, byte v) => body[offset - AcpiTable.HeaderLength] = v;

        public void U16(int offset, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(body[(offset - AcpiTable.HeaderLength)..], v);

        public void U32(int offset, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(body[(offset - AcpiTable.HeaderLength)..], v);

        public void U64(int offset, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(body[(offset - AcpiTable.HeaderLength)..], v);

        public void Gas(int offset, GenericAddress gas) => gas.WriteTo(body[(offset - AcpiTable.HeaderLength)..]);
    }
}
