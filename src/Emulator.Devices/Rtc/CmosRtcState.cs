using Emulator.Devices.State;
using static Emulator.Devices.Rtc.CmosRtcRegisters;

namespace Emulator.Devices.Rtc;

public sealed partial class CmosRtc
{
    /// <summary>
    /// Saved state (section "rtc"). Version 1: every field. Flags (register C's PF, AF, UF) are
    /// derived from the time since the last read: they are collected before saving, and the
    /// interrupt line and timers are re-derived after loading. Held* are the time fields as
    /// written while SET is held (any value a register byte decodes to).
    /// </summary>
    public static StateDescription<CmosRtc> SavedState { get; } = new StateDescription<CmosRtc>("rtc", version: 1)
        .Int("Index", r => r.index, (r, v) => r.index = v, StateRule.Within(0, Size - 1))
        .Flag("NmiMasked", r => r.NmiMasked, (r, v) => r.NmiMasked = v)
        .Int("RegisterA", r => r.regA, (r, v) => r.regA = v, StateRule.Bits(0xFF & ~AUip)) // UIP is computed, never stored
        .Int("RegisterB", r => r.regB, (r, v) => r.regB = v)
        .Int("SecondsAlarm", r => r.secondsAlarm, (r, v) => r.secondsAlarm = v)
        .Int("MinutesAlarm", r => r.minutesAlarm, (r, v) => r.minutesAlarm = v)
        .Int("HoursAlarm", r => r.hoursAlarm, (r, v) => r.hoursAlarm = v)
        .Int("Flags", r => r.flags, (r, v) => r.flags = v, StateRule.Bits(CPf | CAf | CUf))
        .Int("FlagsClearedNs", r => r.flagsClearedNs, (r, v) => r.flagsClearedNs = v)
        .Int("BaseTicks", r => r.baseTicks, (r, v) => r.baseTicks = v, StateRule.Within(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks))
        .Int("BaseNs", r => r.baseNs, (r, v) => r.baseNs = v)
        .Int("HeldSeconds", r => r.held.Second, (r, v) => r.held.Second = v, StateRule.Within(0, 0xFF))
        .Int("HeldMinutes", r => r.held.Minute, (r, v) => r.held.Minute = v, StateRule.Within(0, 0xFF))
        .Int("HeldHours", r => r.held.Hour, (r, v) => r.held.Hour = v, StateRule.Within(0, 0xFF))
        .Int("HeldDay", r => r.held.Day, (r, v) => r.held.Day = v, StateRule.Within(0, 0xFF))
        .Int("HeldMonth", r => r.held.Month, (r, v) => r.held.Month = v, StateRule.Within(0, 0xFF))
        .Int("HeldYear", r => r.held.Year, (r, v) => r.held.Year = v, StateRule.Within(0, 0xFF * 100 + 99)) // century register * 100 + year
        .Bytes("Ram", r => (byte[])r.ram.Clone(), (r, v) => v.CopyTo(r.ram, 0), length: Size)
        .BeforeSave(r => r.CollectFlags(r.nowNs()))
        .AfterLoad(r =>
        {
            r.irqLevel = !((r.flags & r.regB & (CPf | CAf | CUf)) != 0);
            r.UpdateIrq();
            r.Rearm();
        });
}
