using Emulator.Devices.State;
using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Apic;

public sealed partial class LocalApic
{
    /// <summary>
    /// Saved state (section "lapic"). Version 1: every field. Each register holds only the bits
    /// the device defines (SDM Vol. 3A 11.4-11.6). Vector sets (IRR, ISR, TMR) are lists of vector
    /// numbers, not bitmap words. The timer is saved as the machine-clock time its count started
    /// and re-armed after loading, from the restored machine clock. The BSP flag of APIC_BASE is
    /// the machine's, not the guest's: a state of another vCPU's role is refused.
    /// </summary>
    public static StateDescription<LocalApic> SavedState { get; } = new StateDescription<LocalApic>("lapic", version: 1)
        .Int("ApicBase", a => a.apicBase, (a, v) => a.apicBase = v,
            StateRule.Bits(ApicBaseAddressMask | ApicBaseGlobalEnable | ApicBaseBsp).And(StateRule.Where<LocalApic>(
                (a, v) => ((ulong)v & ApicBaseBsp) == (a.isBsp ? ApicBaseBsp : 0),
                a => a.isBsp ? "with the BSP flag (bit 8) set: this is the boot processor's APIC" : "without the BSP flag (bit 8): this is an application processor's APIC")))
        .Int("Id", a => a.id, (a, v) => a.id = v, StateRule.Bits(IdMask))
        .Int("Tpr", a => a.tpr, (a, v) => a.tpr = v, StateRule.Bits(0xFF))
        .Int("Ldr", a => a.ldr, (a, v) => a.ldr = v, StateRule.Bits(LdrWritable))
        .Int("Dfr", a => a.dfr, (a, v) => a.dfr = v, StateRule.AllSet(~DfrModelMask & 0xFFFF_FFFF))
        .Int("Svr", a => a.svr, (a, v) => a.svr = v, StateRule.Bits(SvrVectorMask | SvrSoftwareEnable | SvrFocusCheckingDisable))
        .Int("Esr", a => a.esr, (a, v) => a.esr = v, StateRule.Bits(0xFF)) // the ESR as last latched by a write
        .Int("PendingErrors", a => a.pendingErrors, (a, v) => a.pendingErrors = v, StateRule.Bits(0xFF)) // collected since the last ESR write
        .Int("IcrLow", a => a.icrLow, (a, v) => a.icrLow = v, StateRule.Bits(IcrLowWritable))
        .Int("IcrHigh", a => a.icrHigh, (a, v) => a.icrHigh = v, StateRule.Bits(IcrHighWritable))
        .Int("LvtTimer", a => a.lvtTimer, (a, v) => a.lvtTimer = v, StateRule.Bits(LvtTimerWritable))
        .Int("LvtThermal", a => a.lvtThermal, (a, v) => a.lvtThermal = v, StateRule.Bits(LvtDeliveryWritable))
        .Int("LvtPerf", a => a.lvtPerf, (a, v) => a.lvtPerf = v, StateRule.Bits(LvtDeliveryWritable))
        .Int("LvtLint0", a => a.lvtLint0, (a, v) => a.lvtLint0 = v, StateRule.Bits(LvtLintWritable | LvtRemoteIrr))
        .Int("LvtLint1", a => a.lvtLint1, (a, v) => a.lvtLint1 = v, StateRule.Bits(LvtLintWritable | LvtRemoteIrr))
        .Int("LvtError", a => a.lvtError, (a, v) => a.lvtError = v, StateRule.Bits(LvtErrorWritable))
        .Int("LvtCmci", a => a.lvtCmci, (a, v) => a.lvtCmci = v, StateRule.Bits(LvtDeliveryWritable))
        .Flag("Lint0Level", a => a.lint0Level, (a, v) => a.lint0Level = v)
        .Flag("Lint1Level", a => a.lint1Level, (a, v) => a.lint1Level = v)
        .Ints("RequestedVectors", a => Vectors(a.irr), (a, v) => LoadVectors(a.irr, v), StateRule.Within(0, 255), maxLength: 256)
        .Ints("InServiceVectors", a => Vectors(a.isr), (a, v) => LoadVectors(a.isr, v), StateRule.Within(0, 255), maxLength: 256)
        .Ints("LevelTriggeredVectors", a => Vectors(a.tmr), (a, v) => LoadVectors(a.tmr, v), StateRule.Within(0, 255), maxLength: 256)
        .Int("TimerInitialCount", a => a.initialCount, (a, v) => a.initialCount = v)
        .Int("TimerDivideConfig", a => a.divideConfig, (a, v) => a.divideConfig = v, StateRule.Bits(DivideConfigWritable))
        .Int("TimerStartNs", a => a.timerStartNs, (a, v) => a.timerStartNs = v) // machine-clock time the current count started
        .Int("TscDeadline", a => a.tscDeadline, (a, v) => a.tscDeadline = v)
        .Flag("NmiPending", a => a.nmiPending, (a, v) => a.nmiPending = v)
        .Flag("InitPending", a => a.initPending, (a, v) => a.initPending = v)
        .Flag("WaitingForSipi", a => a.WaitingForSipi, (a, v) => a.WaitingForSipi = v)
        .Int("StartupVector", a => a.startupVector, (a, v) => a.startupVector = v, StateRule.Within(-1, 255)) // a SIPI not yet taken, or -1
        .Flag("ExtIntPending", a => a.extIntPending, (a, v) => a.extIntPending = v) // an ExtINT waits for the PIC's acknowledge
        .AfterLoad(a =>
        {
            long now = a.nowNs();
            if (a.TscDeadlineMode)
            {
                a.ArmTscDeadline(now);
            }
            else
            {
                a.ArmCountdown(now);
            }
        });

    private static int[] Vectors(uint[] map)
    {
        var list = new List<int>();
        for (int v = 0; v < 256; v++)
        {
            if (GetBit(map, v))
            {
                list.Add(v);
            }
        }

        return [.. list];
    }

    private static void LoadVectors(uint[] map, int[] vectors)
    {
        Array.Clear(map);
        foreach (int v in vectors)
        {
            SetBit(map, v, true);
        }
    }
}
