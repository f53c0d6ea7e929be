namespace Emulator.Devices.Rtc;

/// <summary>Saved state of a <see cref="CmosRtc"/> (snapshot section "rtc").</summary>
public sealed record CmosRtcState
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public byte Index { get; init; }
    public bool NmiMasked { get; init; }
    public byte RegisterA { get; init; }
    public byte RegisterB { get; init; }
    public byte SecondsAlarm { get; init; }
    public byte MinutesAlarm { get; init; }
    public byte HoursAlarm { get; init; }

    /// <summary>Register C flags (PF, AF, UF) not yet read.</summary>
    public byte Flags { get; init; }

    /// <summary>Machine time of the last register C read; flags are derived from time since then.</summary>
    public long FlagsClearedNs { get; init; }

    /// <summary>The RTC time (DateTime ticks) at machine time <see cref="BaseNs"/>.</summary>
    public long BaseTicks { get; init; }

    public long BaseNs { get; init; }

    /// <summary>Time fields as written while SET is held (seconds, minutes, hours, day, month, full year).</summary>
    public int HeldSeconds { get; init; }
    public int HeldMinutes { get; init; }
    public int HeldHours { get; init; }
    public int HeldDay { get; init; }
    public int HeldMonth { get; init; }
    public int HeldYear { get; init; }

    /// <summary>The 128 bytes of CMOS; the clock and control registers in it are not used.</summary>
    public byte[] Ram { get; init; } = [];
}
