using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Apic;

/// <summary>Interprocessor interrupts: sending through the ICR, addressing, and accepting messages (SDM Vol. 3A 11.6).</summary>
public sealed partial class LocalApic
{
    private bool nmiPending, initPending;
    private int startupVector = -1;

    /// <summary>An NMI is waiting for the vCPU (from LINT1, an NMI IPI or the IOAPIC).</summary>
    public bool NmiPending => nmiPending;

    /// <summary>An INIT arrived: the vCPU must reset itself and wait for a start-up IPI (SDM Vol. 3A 9.4.4).</summary>
    public bool InitPending => initPending;

    /// <summary>True while this processor waits for a SIPI (an AP after power-up or INIT).</summary>
    public bool WaitingForSipi { get; private set; }

    /// <summary>The vector of a SIPI received while waiting, or -1: the AP starts at CS:IP = (vector &lt;&lt; 8):0000, i.e. physical vector * 4096.</summary>
    public int StartupVector => startupVector;

    /// <summary>Takes the pending NMI (the vCPU delivers it).</summary>
    public bool TakeNmi()
    {
        bool was = nmiPending;
        nmiPending = false;
        return was;
    }

    /// <summary>Takes the pending INIT (the vCPU resets and waits for SIPI; <see cref="WaitingForSipi"/> is already set).</summary>
    public bool TakeInit()
    {
        bool was = initPending;
        initPending = false;
        return was;
    }

    /// <summary>Takes the start-up vector of a received SIPI, or -1.</summary>
    public int TakeStartupVector()
    {
        int v = startupVector;
        startupVector = -1;
        return v;
    }

    private void RaiseNmi()
    {
        nmiPending = true;
        InterruptRequested?.Invoke();
    }

    /// <summary>A write to ICR low sends the IPI it describes (SDM Vol. 3A 11.6.1); the send completes at once, so the delivery status reads idle.</summary>
    private void SendIpi()
    {
        var mode = (ApicDeliveryMode)((icrLow >> IcrDeliveryModeShift) & 7);
        var message = new ApicMessage(
            mode,
            (byte)icrLow,
            (byte)(icrHigh >> 24),
            (icrLow & IcrLogicalDestination) != 0,
            (ApicShorthand)((icrLow >> IcrShorthandShift) & 3),
            (icrLow & IcrLevelTriggered) != 0,
            (icrLow & IcrLevelAssert) != 0,
            ApicId);
        switch (mode)
        {
            case ApicDeliveryMode.Smi:
            case (ApicDeliveryMode)3:
            case ApicDeliveryMode.ExtInt:
                return; // SMM is not emulated; 011 and 111 are reserved in the ICR
            case ApicDeliveryMode.Init when message.IsInitDeassert:
                return; // only resynchronises arbitration IDs, which have no meaning on xAPIC parts
            case ApicDeliveryMode.Fixed or ApicDeliveryMode.LowestPriority when message.Vector < 16:
                RaiseError(EsrSendIllegalVector);
                return;
        }

        if (message.Shorthand == ApicShorthand.Self)
        {
            Accept(message); // a self IPI never leaves the APIC
            return;
        }

        bus.Deliver(message);
    }

    /// <summary>
    /// Whether a message addresses this APIC (SDM Vol. 3A 11.6.2): shorthands against the source
    /// APIC ID; physical mode by APIC ID or broadcast 0xFF; logical mode by the LDR, in the flat
    /// model (LDR AND MDA nonzero) or the cluster model (cluster in bits 7:4 equal, member bits
    /// 3:0 intersect; 0xFF broadcasts). A globally disabled APIC accepts nothing.
    /// </summary>
    public bool Matches(in ApicMessage message)
    {
        if (!GloballyEnabled)
        {
            return false;
        }

        switch (message.Shorthand)
        {
            case ApicShorthand.Self:
                return message.SourceId == ApicId;
            case ApicShorthand.AllIncludingSelf:
                return true;
            case ApicShorthand.AllExcludingSelf:
                return message.SourceId != ApicId;
        }

        byte dest = message.Destination;
        if (!message.LogicalDestination)
        {
            return dest == ApicMessage.Broadcast || dest == ApicId;
        }

        byte logicalId = (byte)(ldr >> 24);
        if ((dfr & DfrModelMask) == DfrFlat)
        {
            return (logicalId & dest) != 0;
        }

        return dest == ApicMessage.Broadcast || ((dest >> 4) == (logicalId >> 4) && (dest & logicalId & 0xF) != 0);
    }

    /// <summary>
    /// Takes a message the bus routed here (already matched): fixed and lowest-priority set the
    /// IRR (and TMR for level-triggered); NMI, INIT and SIPI set what the vCPU acts on; ExtINT
    /// makes the next acknowledge go to the PIC. SMI is ignored.
    /// </summary>
    public void Accept(in ApicMessage message)
    {
        switch (message.DeliveryMode)
        {
            case ApicDeliveryMode.Fixed:
            case ApicDeliveryMode.LowestPriority:
                RequestVector(message.Vector, message.LevelTriggered);
                break;
            case ApicDeliveryMode.Nmi:
                RaiseNmi();
                break;
            case ApicDeliveryMode.Init when !message.IsInitDeassert:
                // INIT resets the APIC as at power-up except its ID (SDM Vol. 3A 11.4.7.3) and
                // puts the processor in wait-for-SIPI.
                ResetRegisters();
                initPending = true;
                WaitingForSipi = true;
                startupVector = -1;
                InterruptRequested?.Invoke();
                break;
            case ApicDeliveryMode.StartUp when WaitingForSipi:
                // A SIPI is taken only in wait-for-SIPI; Linux sends two and the second is ignored (SDM Vol. 3A 9.4.4.1).
                startupVector = message.Vector;
                WaitingForSipi = false;
                InterruptRequested?.Invoke();
                break;
            case ApicDeliveryMode.ExtInt:
                extIntPending = true;
                InterruptRequested?.Invoke();
                break;
        }
    }
}
