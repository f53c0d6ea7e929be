using Emulator.Devices.Bus;
using static Emulator.Devices.Apic.IoApicRegisters;

namespace Emulator.Devices.Apic;

/// <summary>
/// The 82093AA I/O APIC: 24 interrupt inputs (GSIs 0-23), each routed by a redirection entry
/// to local APICs as an <see cref="ApicMessage"/> over the <see cref="IApicBus"/>. Edge-triggered
/// pins send on a rising edge of the (polarity-adjusted) input; level-triggered pins send while
/// asserted, set Remote IRR, and send again after the EOI for their vector if still asserted.
/// Not thread-safe: one access, input change or EOI at a time.
/// </summary>
public sealed partial class IoApic : IIoDevice
{
    private readonly IApicBus bus;
    private readonly UnexpectedAccesses unexpected = new();
    private readonly ulong[] entries = new ulong[PinCount];
    private readonly bool[] pinLevels = new bool[PinCount];
    private uint id;
    private uint ioRegSel;

    public IoApic(IApicBus bus, int ioApicId = 0)
    {
        this.bus = bus;
        id = ((uint)ioApicId << 24) & IdMask;
        for (int i = 0; i < PinCount; i++)
        {
            entries[i] = Masked; // every entry comes out of reset masked (datasheet 3.2.4)
        }
    }

    public string Name => "ioapic";

    public UnexpectedAccesses Unexpected => unexpected;

    /// <summary>The redirection entry of a pin (for the machine's traces and tests).</summary>
    public ulong RedirectionEntry(int pin) => entries[pin];

    /// <summary>An <see cref="IInterruptLine"/> driving one input pin.</summary>
    public IInterruptLine Pin(int gsi) => new PinLine(this, gsi);

    public ulong Read(ulong offset, int size)
    {
        if (size != 4)
        {
            unexpected.Record(Name, $"read of {size} bytes at 0x{offset:x2}");
            return 0;
        }

        switch (offset)
        {
            case IoRegSel: return ioRegSel;
            case IoWin: return ReadIndirect(ioRegSel);
            case Eoi: return 0;
            default:
                unexpected.Record(Name, $"read at 0x{offset:x2}");
                return 0;
        }
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 4)
        {
            unexpected.Record(Name, $"write of {size} bytes at 0x{offset:x2}");
            return;
        }

        switch (offset)
        {
            case IoRegSel: ioRegSel = (uint)value & 0xFF; break;
            case IoWin: WriteIndirect(ioRegSel, (uint)value); break;
            case Eoi: EndOfInterrupt((int)(value & 0xFF)); break;
            default:
                unexpected.Record(Name, $"write at 0x{offset:x2}");
                break;
        }
    }

    private uint ReadIndirect(uint reg)
    {
        switch (reg)
        {
            case IoApicId: return id;
            case IoApicVer: return VersionValue;
            case IoApicArb: return id; // the arbitration ID is loaded from the ID (datasheet 3.2.3)
            case >= RedirectionTableBase and < RedirectionTableBase + (2 * PinCount):
            {
                ulong entry = entries[(reg - RedirectionTableBase) >> 1];
                return (reg & 1) == 0 ? (uint)entry : (uint)(entry >> 32);
            }

            default:
                unexpected.Record(Name, $"read of indirect register 0x{reg:x2}");
                return 0;
        }
    }

    private void WriteIndirect(uint reg, uint value)
    {
        switch (reg)
        {
            case IoApicId:
                id = value & IdMask;
                break;
            case IoApicVer or IoApicArb:
                break; // read-only
            case >= RedirectionTableBase and < RedirectionTableBase + (2 * PinCount):
            {
                int pin = (int)(reg - RedirectionTableBase) >> 1;
                ulong old = entries[pin];
                ulong updated = (reg & 1) == 0
                    ? (old & 0xFFFF_FFFF_0000_0000) | value
                    : (old & 0xFFFF_FFFF) | ((ulong)value << 32);
                updated = (updated & EntryWritable) | (old & RemoteIrr);
                if ((updated & LevelTriggered) == 0)
                {
                    updated &= ~RemoteIrr; // Remote IRR is undefined for edge-triggered entries; keep it clear
                }

                entries[pin] = updated;

                // Unmasking (or turning to level) a level pin that is asserted sends it now; an edge
                // seen while masked was dropped (datasheet 3.2.4, Interrupt Mask).
                ServiceLevel(pin);
                break;
            }

            default:
                unexpected.Record(Name, $"write of indirect register 0x{reg:x2}");
                break;
        }
    }

    /// <summary>Drives input <paramref name="gsi"/> to the electrical <paramref name="level"/>; the entry's polarity bit says which level is asserted.</summary>
    public void SetIrq(int gsi, bool level)
    {
        if ((uint)gsi >= PinCount)
        {
            unexpected.Record(Name, $"input {gsi}");
            return;
        }

        bool wasAsserted = Asserted(gsi);
        pinLevels[gsi] = level;
        bool asserted = Asserted(gsi);
        ulong entry = entries[gsi];
        if (UsesRemoteIrr(entry))
        {
            ServiceLevel(gsi);
        }
        else if (asserted && !wasAsserted && (entry & Masked) == 0)
        {
            Send(entry);
        }
    }

    /// <summary>
    /// The EOI for <paramref name="vector"/> (the local APIC's broadcast, or the EOI register):
    /// clears Remote IRR of the level-triggered entries with that vector and sends again those
    /// whose input is still asserted (datasheet 3.2.4, Remote IRR).
    /// </summary>
    public void EndOfInterrupt(int vector)
    {
        for (int pin = 0; pin < PinCount; pin++)
        {
            ulong entry = entries[pin];
            if ((entry & RemoteIrr) != 0 && (int)(entry & VectorMask) == vector)
            {
                entries[pin] = entry & ~RemoteIrr;
                ServiceLevel(pin);
            }
        }
    }

    private bool Asserted(int pin) => pinLevels[pin] ^ ((entries[pin] & ActiveLow) != 0);

    /// <summary>
    /// Level-triggered fixed and lowest-priority entries are the ones with an EOI handshake
    /// (Remote IRR). NMI, INIT and ExtINT entries are sent on the asserting edge: the datasheet
    /// requires NMI and INIT to be edge-triggered, and ExtINT's acknowledge goes to the 8259.
    /// </summary>
    private static bool UsesRemoteIrr(ulong entry) =>
        (entry & LevelTriggered) != 0
        && (ApicDeliveryMode)((entry >> DeliveryModeShift) & 7) is ApicDeliveryMode.Fixed or ApicDeliveryMode.LowestPriority;

    /// <summary>A level-triggered pin sends while asserted, unmasked and not waiting for its EOI, and sets Remote IRR.</summary>
    private void ServiceLevel(int pin)
    {
        ulong entry = entries[pin];
        if (!UsesRemoteIrr(entry) || (entry & (Masked | RemoteIrr)) != 0 || !Asserted(pin))
        {
            return;
        }

        entries[pin] = entry | RemoteIrr; // set when a local APIC accepts it
        Send(entry);
    }

    private void Send(ulong entry)
    {
        var mode = (ApicDeliveryMode)((entry >> DeliveryModeShift) & 7);
        if (mode is ApicDeliveryMode.Smi or (ApicDeliveryMode)3 or ApicDeliveryMode.StartUp)
        {
            return; // SMM is not emulated; 011 and 110 are reserved in a redirection entry
        }

        bus.Deliver(new ApicMessage(
            mode,
            (byte)(entry & VectorMask),
            (byte)(entry >> DestinationShift),
            (entry & LogicalDestination) != 0,
            ApicShorthand.None,
            (entry & LevelTriggered) != 0,
            Assert: true,
            SourceId: -1));
    }

    private sealed class PinLine(IoApic ioApic, int gsi) : IInterruptLine
    {
        public void Set(bool level) => ioApic.SetIrq(gsi, level);
    }
}
