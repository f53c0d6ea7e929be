using System.Numerics;
using Emulator.Devices.Bus;
using Emulator.X86;
using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Apic;

/// <summary>
/// One vCPU's local APIC in xAPIC mode (SDM Vol. 3A chapter 11): the register page at
/// IA32_APIC_BASE (0xFEE00000 by default), interrupt acceptance and priority (IRR, ISR, TMR,
/// TPR, PPR), the timer (one-shot, periodic, TSC-deadline), IPIs through the ICR, and the
/// virtual-wire path from the 8259 PIC through LINT0. It is the vCPU's <see cref="IInterruptSource"/>.
/// Not thread-safe: its actor (or a test) sends it one access, message or timer expiry at a time.
/// </summary>
public sealed partial class LocalApic : IIoDevice, IInterruptSource
{
    private readonly IApicBus bus;
    private readonly Func<long> nowNs;
    private readonly UnexpectedAccesses unexpected = new();
    private readonly bool isBsp;

    // 256-bit vector bitmaps, 8 words of 32 bits, word i holding vectors 32i..32i+31 (SDM Vol. 3A 11.8.4).
    private readonly uint[] irr = new uint[8];
    private readonly uint[] isr = new uint[8];
    private readonly uint[] tmr = new uint[8];

    private ulong apicBase;
    private uint id, tpr, ldr, dfr, svr, esr, pendingErrors, icrLow, icrHigh;
    private uint lvtTimer, lvtThermal, lvtPerf, lvtLint0, lvtLint1, lvtError, lvtCmci;
    private bool lint0Level, lint1Level;

    /// <param name="apicId">The hardware APIC ID (the vCPU index; CPUID leaf 1 EBX[31:24] must agree).</param>
    /// <param name="isBsp">Bootstrap processor: IA32_APIC_BASE.BSP is set, and LINT0 starts in virtual-wire mode.</param>
    /// <param name="bus">Where IPIs written to the ICR go.</param>
    /// <param name="timers">Schedules the APIC timer's expiries.</param>
    /// <param name="nowNs">The machine clock in guest nanoseconds.</param>
    public LocalApic(int apicId, bool isBsp, IApicBus bus, ITimerService timers, Func<long> nowNs)
    {
        this.bus = bus;
        this.nowNs = nowNs;
        this.isBsp = isBsp;
        HardwareId = (byte)apicId;
        timer = timers.Create($"lapic{apicId}.timer", OnTimerExpired);
        apicBase = DefaultBase | ApicBaseGlobalEnable | (isBsp ? ApicBaseBsp : 0);
        id = (uint)HardwareId << 24;
        ResetRegisters();
        if (isBsp)
        {
            // What firmware leaves behind (MP spec 3.6.2.2, virtual-wire mode): LINT0 as ExtINT,
            // unmasked, so the 8259's interrupts reach the BSP before Linux programs the APIC.
            // QEMU resets the BSP's LINT0 the same way, since Linux boots here without a BIOS.
            lvtLint0 = (uint)ApicDeliveryMode.ExtInt << LvtDeliveryModeShift;
        }

        // An AP waits for INIT/SIPI after power-up (SDM Vol. 3A 9.4.1, the MP initialization protocol).
        WaitingForSipi = !isBsp;
    }

    public string Name => $"lapic{HardwareId}";

    public byte HardwareId { get; }

    /// <summary>The APIC ID register, bits 31:24 (software may change it in xAPIC mode).</summary>
    public int ApicId => (int)(id >> 24);

    public UnexpectedAccesses Unexpected => unexpected;

    /// <summary>Called (on the APIC's thread) whenever something the vCPU must act on became pending: an interrupt, NMI, INIT or SIPI. The machine wakes the vCPU from HLT.</summary>
    public Action? InterruptRequested { get; set; }

    /// <summary>Called with the vector when an EOI retires a level-triggered interrupt (TMR set): the machine forwards it to the IOAPIC (SDM Vol. 3A 11.8.5).</summary>
    public Action<int>? EoiBroadcast { get; set; }

    /// <summary>The 8259's INTR output, seen through LINT0 in ExtINT mode (or directly while the APIC is globally disabled).</summary>
    public Func<bool>? PicHasInterrupt { get; set; }

    /// <summary>The 8259's interrupt-acknowledge cycle: returns the vector it supplies.</summary>
    public Func<int>? PicAcknowledge { get; set; }

    /// <summary>IA32_APIC_BASE.EN: when clear the APIC is invisible and the PIC drives the vCPU directly (SDM Vol. 3A 11.4.3).</summary>
    public bool GloballyEnabled => (apicBase & ApicBaseGlobalEnable) != 0;

    /// <summary>SVR bit 8 (SDM Vol. 3A 11.4.7.2).</summary>
    public bool SoftwareEnabled => (svr & SvrSoftwareEnable) != 0;

    /// <summary>Physical address of the register page.</summary>
    public ulong BaseAddress => apicBase & ApicBaseAddressMask;

    public ulong ApicBaseMsr => apicBase;

    /// <summary>
    /// WRMSR IA32_APIC_BASE: base address and global enable; the BSP flag is read-only. Clearing
    /// the enable bit returns the APIC to its power-up state (SDM Vol. 3A 11.4.3 says prior
    /// initialisation "may be lost"); x2APIC (bit 10) is not offered by CPUID and is ignored.
    /// </summary>
    public void SetApicBaseMsr(ulong value)
    {
        bool wasEnabled = GloballyEnabled;
        apicBase = (value & (ApicBaseAddressMask | ApicBaseGlobalEnable)) | (apicBase & ApicBaseBsp);
        if (wasEnabled && !GloballyEnabled)
        {
            ResetRegisters();
        }
    }

    /// <summary>Power-up / INIT state of the registers (SDM Vol. 3A 11.4.7.1); the APIC ID survives INIT (11.4.7.3).</summary>
    private void ResetRegisters()
    {
        Array.Clear(irr);
        Array.Clear(isr);
        Array.Clear(tmr);
        tpr = ldr = esr = pendingErrors = icrLow = icrHigh = 0;
        dfr = 0xFFFF_FFFF;
        svr = SvrResetValue;
        lvtTimer = lvtThermal = lvtPerf = lvtLint0 = lvtLint1 = lvtError = lvtCmci = LvtMasked;
        extIntPending = false;
        ResetTimer();
    }

    public ulong Read(ulong offset, int size)
    {
        if (size != 4 || (offset & 0xF) != 0 || offset >= PageSize)
        {
            unexpected.Record(Name, $"read of {size} bytes at 0x{offset:x3}");
            return 0;
        }

        if (!GloballyEnabled)
        {
            return uint.MaxValue; // nothing answers at the page (SDM Vol. 3A 11.4.3)
        }

        int reg = (int)offset;
        switch (reg)
        {
            case Id: return id;
            case LocalApicRegisters.Version: return VersionValue;
            case Tpr: return tpr;
            case Apr: return ArbitrationPriority();
            case Ppr: return ProcessorPriority();
            case Eoi: return 0; // write-only
            case Rrd: return 0; // remote read is not supported on xAPIC parts
            case Ldr: return ldr;
            case Dfr: return dfr;
            case Svr: return svr;
            case >= IsrBase and < TmrBase: return isr[(reg - IsrBase) >> 4];
            case >= TmrBase and < IrrBase: return tmr[(reg - TmrBase) >> 4];
            case >= IrrBase and < Esr: return irr[(reg - IrrBase) >> 4];
            case Esr: return esr;
            case LvtCmci: return lvtCmci;
            case IcrLow: return icrLow & ~IcrDeliveryStatus; // the send completed at once: idle
            case IcrHigh: return icrHigh;
            case LvtTimer: return lvtTimer;
            case LvtThermal: return lvtThermal;
            case LvtPerf: return lvtPerf;
            case LvtLint0: return lvtLint0;
            case LvtLint1: return lvtLint1;
            case LvtError: return lvtError;
            case TimerInitialCount: return initialCount;
            case TimerCurrentCount: return CurrentCount(nowNs());
            case TimerDivideConfig: return divideConfig;
            default:
                IllegalRegister(offset, "read");
                return 0;
        }
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 4 || (offset & 0xF) != 0 || offset >= PageSize)
        {
            unexpected.Record(Name, $"write of {size} bytes at 0x{offset:x3}");
            return;
        }

        if (!GloballyEnabled)
        {
            return;
        }

        uint v = (uint)value;
        switch ((int)offset)
        {
            case Id: id = v & IdMask; break;
            case Tpr: tpr = v & 0xFF; Recheck(); break;
            case Eoi: EndOfInterrupt(); break;
            case Ldr: ldr = v & LdrWritable; break;
            case Dfr: dfr = (v & DfrModelMask) | ~DfrModelMask; break;
            case Svr: WriteSvr(v); break;
            case Esr:
                // Write-then-read: a write latches the errors seen since the last write and starts a new collection (SDM Vol. 3A 11.5.3).
                esr = pendingErrors;
                pendingErrors = 0;
                break;
            case LvtCmci: lvtCmci = Lvt(v, LvtDeliveryWritable); break;
            case IcrLow:
                icrLow = v & IcrLowWritable;
                SendIpi();
                break;
            case IcrHigh: icrHigh = v & IcrHighWritable; break;
            case LvtTimer: WriteLvtTimer(Lvt(v, LvtTimerWritable)); break;
            case LvtThermal: lvtThermal = Lvt(v, LvtDeliveryWritable); break;
            case LvtPerf: lvtPerf = Lvt(v, LvtDeliveryWritable); break;
            case LvtLint0: lvtLint0 = Lvt(v, LvtLintWritable) | (lvtLint0 & LvtRemoteIrr); Recheck(); break;
            case LvtLint1: lvtLint1 = Lvt(v, LvtLintWritable) | (lvtLint1 & LvtRemoteIrr); break;
            case LvtError: lvtError = Lvt(v, LvtErrorWritable); break;
            case TimerInitialCount: WriteInitialCount(v); break;
            case TimerDivideConfig: WriteDivideConfig(v & DivideConfigWritable); break;
            case LocalApicRegisters.Version or Apr or Ppr or Rrd or TimerCurrentCount or (>= IsrBase and < Esr):
                break; // read-only registers ignore writes
            default:
                IllegalRegister(offset, "write");
                break;
        }
    }

    /// <summary>An LVT write: while the APIC is software-disabled the mask bit cannot be cleared (SDM Vol. 3A 11.4.7.2).</summary>
    private uint Lvt(uint value, uint writable) => (value & writable) | (SoftwareEnabled ? 0 : LvtMasked);

    private void WriteSvr(uint value)
    {
        svr = value & (SvrVectorMask | SvrSoftwareEnable | SvrFocusCheckingDisable);
        if (!SoftwareEnabled)
        {
            // Software disable sets every LVT mask bit (SDM Vol. 3A 11.4.7.2).
            lvtTimer |= LvtMasked;
            lvtThermal |= LvtMasked;
            lvtPerf |= LvtMasked;
            lvtLint0 |= LvtMasked;
            lvtLint1 |= LvtMasked;
            lvtError |= LvtMasked;
            lvtCmci |= LvtMasked;
        }

        Recheck();
    }

    private void IllegalRegister(ulong offset, string what)
    {
        unexpected.Record(Name, $"{what} of reserved register 0x{offset:x3}");
        RaiseError(EsrIllegalRegisterAddress);
    }

    /// <summary>Records an error for the ESR and signals the error LVT (SDM Vol. 3A 11.5.3).</summary>
    private void RaiseError(uint bits)
    {
        pendingErrors |= bits;
        if ((lvtError & LvtMasked) == 0)
        {
            RequestVector((int)(lvtError & LvtVectorMask), levelTriggered: false);
        }
    }

    // ---- Acceptance and priority (SDM Vol. 3A 11.8) ----

    /// <summary>Sets a vector in the IRR (and the TMR for level-triggered ones) and tells the vCPU.</summary>
    private void RequestVector(int vector, bool levelTriggered)
    {
        if (vector < 16)
        {
            // Vectors 0-15 are reserved for exceptions; the APIC refuses them (SDM Vol. 3A 11.5.2).
            pendingErrors |= EsrReceiveIllegalVector;
            if ((lvtError & LvtMasked) == 0 && (lvtError & LvtVectorMask) >= 16)
            {
                RequestVector((int)(lvtError & LvtVectorMask), levelTriggered: false);
            }

            return;
        }

        SetBit(irr, vector, true);
        SetBit(tmr, vector, levelTriggered);
        InterruptRequested?.Invoke();
    }

    /// <summary>PPR (SDM Vol. 3A 11.8.3.1): the TPR if its class is at least the highest in-service class, else that class.</summary>
    public uint ProcessorPriority()
    {
        int isrv = Math.Max(HighestBit(isr), 0);
        return (tpr >> 4) >= (uint)(isrv >> 4) ? tpr : (uint)isrv & 0xF0;
    }

    /// <summary>APR (SDM Vol. 3A 11.6.2.4, Pentium 4 and Xeon definition).</summary>
    private uint ArbitrationPriority()
    {
        int isrv = Math.Max(HighestBit(isr), 0);
        int irrv = Math.Max(HighestBit(irr), 0);
        uint tprClass = tpr >> 4;
        if (tprClass >= (uint)(irrv >> 4) && tprClass > (uint)(isrv >> 4))
        {
            return tpr;
        }

        return Math.Max(tpr & 0xF0, (uint)Math.Max(isrv, irrv) & 0xF0);
    }

    /// <summary>The IRR vector the vCPU may take now, or -1: its class must exceed the PPR's class (SDM Vol. 3A 11.8.3).</summary>
    private int DeliverableVector()
    {
        if (!SoftwareEnabled)
        {
            return -1;
        }

        int v = HighestBit(irr);
        return v >= 0 && (v >> 4) > (ProcessorPriority() >> 4) ? v : -1;
    }

    /// <summary>LINT0 set to ExtINT and unmasked (virtual-wire mode), or an ExtINT message from the IOAPIC: the PIC supplies the vector.</summary>
    private bool ExtIntRouted =>
        extIntPending || ((lvtLint0 & LvtMasked) == 0 && ((lvtLint0 & LvtDeliveryModeMask) >> LvtDeliveryModeShift) == (uint)ApicDeliveryMode.ExtInt);

    private bool extIntPending;

    public bool HasPendingInterrupt
    {
        get
        {
            if (!GloballyEnabled)
            {
                return PicHasInterrupt?.Invoke() ?? false;
            }

            return (ExtIntRouted && (PicHasInterrupt?.Invoke() ?? false)) || DeliverableVector() >= 0;
        }
    }

    /// <summary>
    /// The interrupt-acknowledge cycle: an ExtINT interrupt comes from the PIC; otherwise the
    /// highest deliverable IRR vector moves to the ISR. If nothing is deliverable any more (the
    /// TPR was raised meanwhile) the spurious vector from the SVR is returned (SDM Vol. 3A 11.9).
    /// </summary>
    public int Acknowledge()
    {
        if (!GloballyEnabled)
        {
            return PicAcknowledge?.Invoke() ?? -1;
        }

        if (ExtIntRouted && (PicHasInterrupt?.Invoke() ?? false) && PicAcknowledge is not null)
        {
            extIntPending = false;
            return PicAcknowledge();
        }

        int v = DeliverableVector();
        if (v < 0)
        {
            return (int)(svr & SvrVectorMask);
        }

        SetBit(irr, v, false);
        SetBit(isr, v, true);
        return v;
    }

    /// <summary>EOI: retires the highest in-service vector; a level-triggered one is broadcast to the IOAPIC (SDM Vol. 3A 11.8.5).</summary>
    private void EndOfInterrupt()
    {
        int v = HighestBit(isr);
        if (v < 0)
        {
            return;
        }

        SetBit(isr, v, false);
        if (GetBit(tmr, v))
        {
            EoiBroadcast?.Invoke(v);
        }

        Recheck();
    }

    /// <summary>After the priority may have dropped (EOI, TPR, SVR, LINT0): wake the vCPU if something became deliverable.</summary>
    private void Recheck()
    {
        if (HasPendingInterrupt)
        {
            InterruptRequested?.Invoke();
        }
    }

    // ---- LINT0 / LINT1 pins (SDM Vol. 3A 11.5.1) ----

    /// <summary>The LINT0 input (the 8259's INTR on a PC).</summary>
    public IInterruptLine Lint0 => lint0Line ??= new LintPin(this, 0);

    /// <summary>The LINT1 input (the chipset's NMI on a PC).</summary>
    public IInterruptLine Lint1 => lint1Line ??= new LintPin(this, 1);

    private IInterruptLine? lint0Line, lint1Line;

    /// <summary>
    /// Drives a LINT pin (active high, as a PC wires them). Fixed and NMI modes act on the
    /// rising edge; ExtINT only wakes the vCPU, which then takes the vector from the PIC. With
    /// the APIC globally disabled LINT1 is the processor's NMI pin.
    /// </summary>
    public void SetLint(int pin, bool level)
    {
        ref bool old = ref pin == 0 ? ref lint0Level : ref lint1Level;
        bool rising = level && !old;
        old = level;
        if (!GloballyEnabled)
        {
            if (pin == 1 && rising)
            {
                RaiseNmi();
            }
            else if (pin == 0 && level)
            {
                InterruptRequested?.Invoke();
            }

            return;
        }

        uint lvt = pin == 0 ? lvtLint0 : lvtLint1;
        if ((lvt & LvtMasked) != 0)
        {
            return;
        }

        switch ((ApicDeliveryMode)((lvt & LvtDeliveryModeMask) >> LvtDeliveryModeShift))
        {
            case ApicDeliveryMode.Fixed when rising:
                RequestVector((int)(lvt & LvtVectorMask), (lvt & LvtLevelTriggered) != 0);
                break;
            case ApicDeliveryMode.Nmi when rising:
                RaiseNmi();
                break;
            case ApicDeliveryMode.ExtInt when level:
                InterruptRequested?.Invoke();
                break;
        }
    }

    private sealed class LintPin(LocalApic apic, int pin) : IInterruptLine
    {
        public void Set(bool level) => apic.SetLint(pin, level);
    }

    // ---- Bitmaps ----

    private static void SetBit(uint[] map, int vector, bool value)
    {
        uint bit = 1u << (vector & 31);
        if (value)
        {
            map[vector >> 5] |= bit;
        }
        else
        {
            map[vector >> 5] &= ~bit;
        }
    }

    private static bool GetBit(uint[] map, int vector) => (map[vector >> 5] & (1u << (vector & 31))) != 0;

    private static int HighestBit(uint[] map)
    {
        for (int i = map.Length - 1; i >= 0; i--)
        {
            if (map[i] != 0)
            {
                return (i * 32) + 31 - BitOperations.LeadingZeroCount(map[i]);
            }
        }

        return -1;
    }
}
