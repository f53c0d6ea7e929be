namespace Emulator.Devices.Apic;

/// <summary>
/// Local APIC register offsets within its 4 KiB MMIO page (SDM Vol. 3A 11.4.1, Table 11-1) and
/// the bit fields of the registers (SDM Vol. 3A 11.5.1, 11.6.1, 11.8, 11.9).
/// </summary>
public static class LocalApicRegisters
{
    /// <summary>Default physical base of the page (IA32_APIC_BASE after reset).</summary>
    public const ulong DefaultBase = 0xFEE0_0000;

    public const int PageSize = 0x1000;

    public const int Id = 0x20;
    public const int Version = 0x30;
    public const int Tpr = 0x80;
    public const int Apr = 0x90;
    public const int Ppr = 0xA0;
    public const int Eoi = 0xB0;
    public const int Rrd = 0xC0;
    public const int Ldr = 0xD0;
    public const int Dfr = 0xE0;
    public const int Svr = 0xF0;
    public const int IsrBase = 0x100;
    public const int TmrBase = 0x180;
    public const int IrrBase = 0x200;
    public const int Esr = 0x280;
    public const int LvtCmci = 0x2F0;
    public const int IcrLow = 0x300;
    public const int IcrHigh = 0x310;
    public const int LvtTimer = 0x320;
    public const int LvtThermal = 0x330;
    public const int LvtPerf = 0x340;
    public const int LvtLint0 = 0x350;
    public const int LvtLint1 = 0x360;
    public const int LvtError = 0x370;
    public const int TimerInitialCount = 0x380;
    public const int TimerCurrentCount = 0x390;
    public const int TimerDivideConfig = 0x3E0;

    /// <summary>
    /// Version register: version 0x14 (an integrated xAPIC), max LVT entry 5 in bits 23:16 (timer,
    /// thermal, performance, LINT0, LINT1, error; CMCI is not counted), no EOI-broadcast
    /// suppression (bit 24 clear). SDM Vol. 3A 11.4.8.
    /// </summary>
    public const uint VersionValue = 0x0005_0014;

    // Spurious-interrupt vector register (SDM Vol. 3A 11.9).
    public const uint SvrVectorMask = 0xFF;
    public const uint SvrSoftwareEnable = 1 << 8;
    public const uint SvrFocusCheckingDisable = 1 << 9;
    public const uint SvrResetValue = 0xFF;

    // LVT fields (SDM Vol. 3A 11.5.1, Figure 11-8).
    public const uint LvtVectorMask = 0xFF;
    public const int LvtDeliveryModeShift = 8;
    public const uint LvtDeliveryModeMask = 7u << LvtDeliveryModeShift;
    public const uint LvtDeliveryStatus = 1 << 12;
    public const uint LvtInputPolarity = 1 << 13;
    public const uint LvtRemoteIrr = 1 << 14;
    public const uint LvtLevelTriggered = 1 << 15;
    public const uint LvtMasked = 1 << 16;
    public const int LvtTimerModeShift = 17;
    public const uint LvtTimerModeMask = 3u << LvtTimerModeShift;

    /// <summary>Writable bits of the timer LVT: vector, mask, timer mode (bits 18:17).</summary>
    public const uint LvtTimerWritable = LvtVectorMask | LvtMasked | LvtTimerModeMask;

    /// <summary>Writable bits of the thermal, performance and CMCI LVTs: vector, delivery mode, mask.</summary>
    public const uint LvtDeliveryWritable = LvtVectorMask | LvtDeliveryModeMask | LvtMasked;

    /// <summary>Writable bits of LINT0/LINT1: vector, delivery mode, polarity, trigger mode, mask.</summary>
    public const uint LvtLintWritable = LvtDeliveryWritable | LvtInputPolarity | LvtLevelTriggered;

    /// <summary>Writable bits of the error LVT: vector and mask.</summary>
    public const uint LvtErrorWritable = LvtVectorMask | LvtMasked;

    // Timer modes, LVT timer bits 18:17 (SDM Vol. 3A 11.5.4).
    public const uint TimerOneShot = 0;
    public const uint TimerPeriodic = 1;
    public const uint TimerTscDeadline = 2;

    /// <summary>Writable bits of the divide configuration register: bits 0, 1 and 3 (SDM Vol. 3A Figure 11-10).</summary>
    public const uint DivideConfigWritable = 0xB;

    // Interrupt command register, low half (SDM Vol. 3A 11.6.1, Figure 11-12).
    public const int IcrDeliveryModeShift = 8;
    public const uint IcrLogicalDestination = 1 << 11;
    public const uint IcrDeliveryStatus = 1 << 12;
    public const uint IcrLevelAssert = 1 << 14;
    public const uint IcrLevelTriggered = 1 << 15;
    public const int IcrShorthandShift = 18;

    /// <summary>Writable bits of ICR low: vector, delivery mode, destination mode, level, trigger, shorthand.</summary>
    public const uint IcrLowWritable = 0x000C_CFFF;

    /// <summary>ICR high: the destination field, bits 63:56 of the ICR.</summary>
    public const uint IcrHighWritable = 0xFF00_0000;

    /// <summary>LDR: logical APIC ID in bits 31:24.</summary>
    public const uint LdrWritable = 0xFF00_0000;

    /// <summary>DFR: model in bits 31:28 (1111 flat, 0000 cluster); bits 27:0 read as ones.</summary>
    public const uint DfrModelMask = 0xF000_0000;
    public const uint DfrFlat = 0xF000_0000;

    /// <summary>xAPIC ID in bits 31:24.</summary>
    public const uint IdMask = 0xFF00_0000;

    // Error status register bits (SDM Vol. 3A 11.5.3, Figure 11-9).
    public const uint EsrSendIllegalVector = 1 << 5;
    public const uint EsrReceiveIllegalVector = 1 << 6;
    public const uint EsrIllegalRegisterAddress = 1 << 7;

    // IA32_APIC_BASE MSR (SDM Vol. 3A 11.4.4, Figure 11-5).
    public const uint MsrApicBase = 0x1B;
    public const ulong ApicBaseBsp = 1 << 8;
    public const ulong ApicBaseGlobalEnable = 1 << 11;

    /// <summary>Base address field, bits 35:12 (MAXPHYADDR 36 as far as the APIC page is concerned).</summary>
    public const ulong ApicBaseAddressMask = 0xF_FFFF_F000;

    /// <summary>IA32_TSC_DEADLINE (SDM Vol. 3A 11.5.4.1).</summary>
    public const uint MsrTscDeadline = 0x6E0;
}
