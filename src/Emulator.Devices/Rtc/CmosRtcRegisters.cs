namespace Emulator.Devices.Rtc;

/// <summary>
/// The PC's CMOS RTC (Motorola MC146818A, datasheet "Address Map" and "Registers A-D") behind
/// the index/data ports 0x70/0x71, with the century byte at 0x32 (the ACPI FADT CENTURY field).
/// </summary>
public static class CmosRtcRegisters
{
    public const ushort Base = 0x70;
    public const int IndexPort = 0, DataPort = 1;
    public const int Irq = 8;

    /// <summary>Index port bit 7 disables NMI on a PC; bits 6:0 select the register.</summary>
    public const byte IndexNmiDisable = 0x80;

    public const int Size = 128;

    public const int Seconds = 0x00;
    public const int SecondsAlarm = 0x01;
    public const int Minutes = 0x02;
    public const int MinutesAlarm = 0x03;
    public const int Hours = 0x04;
    public const int HoursAlarm = 0x05;
    public const int Weekday = 0x06;
    public const int DayOfMonth = 0x07;
    public const int Month = 0x08;
    public const int Year = 0x09;
    public const int RegisterA = 0x0A;
    public const int RegisterB = 0x0B;
    public const int RegisterC = 0x0C;
    public const int RegisterD = 0x0D;
    public const int Century = 0x32;

    // Register A: UIP (read-only), DV2-DV0 (time base), RS3-RS0 (periodic rate).
    public const byte AUip = 0x80;
    public const byte ADividerMask = 0x70;
    public const byte ADivider32Khz = 0x20;
    public const byte ARateMask = 0x0F;

    // Register B
    public const byte BSet = 0x80;
    public const byte BPie = 0x40;
    public const byte BAie = 0x20;
    public const byte BUie = 0x10;
    public const byte BSqwe = 0x08;
    public const byte BDm = 0x04;      // 1 = binary, 0 = BCD
    public const byte B24Hour = 0x02;
    public const byte BDse = 0x01;

    // Register C: IRQF, then the flags of each source.
    public const byte CIrqf = 0x80;
    public const byte CPf = 0x40;
    public const byte CAf = 0x20;
    public const byte CUf = 0x10;

    // Register D: valid RAM and time.
    public const byte DVrt = 0x80;

    /// <summary>Hours bit 7 in 12-hour mode: PM.</summary>
    public const byte HoursPm = 0x80;

    /// <summary>An alarm byte with both top bits set matches every value ("don't care").</summary>
    public const byte AlarmDontCare = 0xC0;

    /// <summary>UIP is set this long before each update (datasheet tBUC).</summary>
    public const long UpdateInProgressNs = 244_000;

    /// <summary>
    /// The periodic interrupt period for rate select <paramref name="rs"/> with the 32.768 kHz
    /// time base, in 32.768 kHz ticks (datasheet Table 5: RS 1 and 2 repeat rates 8 and 9;
    /// RS = n >= 3 gives 2^(n-1) ticks), or 0 for RS = 0 (none).
    /// </summary>
    public static long PeriodicTicks(int rs) => rs switch
    {
        0 => 0,
        1 or 2 => 1L << (rs + 7 - 1),
        _ => 1L << (rs - 1),
    };
}
