using static Emulator.Devices.Pic.Pic8259Registers;

namespace Emulator.Devices.Pic;

/// <summary>
/// One 8259A: the interrupt request, in-service and mask registers, priority resolution with
/// rotation, and the ICW/OCW command decoding (8259A datasheet, "Functional Description" and
/// "Programming the 8259A"). The <see cref="Pic8259Pair"/> wires two of them and drives INTA.
/// </summary>
internal sealed partial class Pic8259Chip(bool isMaster, byte elcrMask)
{
    private byte irr, isr, imr, elcr, lines, vectorBase;
    private int lowestPriority = 7; // IR7 lowest after ICW1; rotation moves it
    private int initStep; // 0 = ready, 1 = expecting ICW2, 2 = ICW3, 3 = ICW4
    private bool expectIcw4, singleMode, levelTriggeredMode, autoEoi, rotateOnAutoEoi, specialFullyNested, specialMask, readIsr, poll;

    public byte Irr => irr;

    public byte Isr => isr;

    public byte Imr => imr;

    public byte VectorBase => vectorBase;

    /// <summary>The ELCR bits this chip has (inputs that can be level-triggered).</summary>
    public byte ElcrMask => elcrMask;

    public byte Elcr
    {
        get => elcr;
        set
        {
            elcr = (byte)(value & elcrMask);
            // A level-triggered input's request follows its line from now on.
            irr = (byte)((irr & ~LevelMask) | (lines & LevelMask));
        }
    }

    // Inputs whose request follows the line: the ELCR bit, or every input when ICW1.LTIM is set.
    private byte LevelMask => levelTriggeredMode ? (byte)0xFF : elcr;

    /// <summary>Drives input <paramref name="ir"/> (0-7).</summary>
    public void SetLine(int ir, bool level)
    {
        byte bit = (byte)(1 << ir);
        if ((LevelMask & bit) != 0)
        {
            // Level-sensitive: IRR follows the line.
            irr = level ? (byte)(irr | bit) : (byte)(irr & ~bit);
        }
        else if (level && (lines & bit) == 0)
        {
            // Edge-sensitive: a rising edge latches the request until INTA clears it.
            irr |= bit;
        }

        lines = level ? (byte)(lines | bit) : (byte)(lines & ~bit);
    }

    // Priority rank of the highest-priority bit of mask (0 = highest), 8 when none.
    private int Rank(int mask)
    {
        if (mask == 0)
        {
            return 8;
        }

        int rank = 0;
        while ((mask & (1 << ((rank + lowestPriority + 1) & 7))) == 0)
        {
            rank++;
        }

        return rank;
    }

    /// <summary>The IR level this chip would present to INTA now, or -1 (priority resolver, datasheet "Priority Resolver").</summary>
    public int PendingRequest()
    {
        int requestRank = Rank(irr & ~imr);
        if (requestRank == 8)
        {
            return -1;
        }

        // In special mask mode, masked in-service levels do not block lower priorities.
        int inService = isr;
        if (specialMask)
        {
            inService &= ~imr;
        }

        // In special fully nested mode the master lets the slave interrupt again while the
        // cascade input is in service, so further slave requests are not blocked by it.
        if (specialFullyNested && isMaster)
        {
            inService &= ~(1 << CascadeIrq);
        }

        return requestRank < Rank(inService) ? (requestRank + lowestPriority + 1) & 7 : -1;
    }

    /// <summary>The INTA cycle for level <paramref name="ir"/>: set ISR (unless auto-EOI) and clear the edge request.</summary>
    public void Acknowledge(int ir)
    {
        if (autoEoi)
        {
            if (rotateOnAutoEoi)
            {
                lowestPriority = ir;
            }
        }
        else
        {
            isr |= (byte)(1 << ir);
        }

        if ((LevelMask & (1 << ir)) == 0)
        {
            irr &= (byte)~(1 << ir);
        }
    }

    public byte Read(int port)
    {
        if (port == DataPort)
        {
            return imr;
        }

        if (poll)
        {
            // Poll command (OCW3 P): the read acts as INTA and returns 0x80 | level, or 0 if none.
            poll = false;
            int ir = PendingRequest();
            if (ir < 0)
            {
                return 0;
            }

            Acknowledge(ir);
            return (byte)(0x80 | ir);
        }

        return readIsr ? isr : irr;
    }

    public void Write(int port, byte value)
    {
        if (port == CommandPort)
        {
            if ((value & Icw1Select) != 0)
            {
                Icw1(value);
            }
            else if ((value & Ocw3Select) != 0)
            {
                Ocw3(value);
            }
            else
            {
                Ocw2(value);
            }

            return;
        }

        switch (initStep)
        {
            case 1:
                // ICW2: T7-T3 of the vector (8086 mode; the low three bits are the IR level).
                vectorBase = (byte)(value & 0xF8);
                initStep = singleMode ? (expectIcw4 ? 3 : 0) : 2;
                break;
            case 2:
                // ICW3: the slave inputs (master) or the slave's ID (slave). The pair is wired
                // fixed (slave on IR2), so the value is accepted and not used.
                initStep = expectIcw4 ? 3 : 0;
                break;
            case 3:
                specialFullyNested = (value & Icw4Sfnm) != 0;
                autoEoi = (value & Icw4Aeoi) != 0;
                initStep = 0;
                break;
            default:
                imr = value; // OCW1
                break;
        }
    }

    private void Icw1(byte value)
    {
        // Datasheet ICW1: IMR cleared, IR7 lowest priority, special mask mode off, status read
        // set to IRR, ICW4 functions cleared if IC4 = 0, and the edge sense circuit reset: an
        // edge-triggered input must go low to high again to request.
        levelTriggeredMode = (value & Icw1Ltim) != 0;
        expectIcw4 = (value & Icw1Ic4) != 0;
        singleMode = (value & Icw1Sngl) != 0;
        imr = 0;
        isr = 0;
        irr = (byte)(lines & LevelMask);
        lowestPriority = 7;
        specialMask = false;
        readIsr = false;
        poll = false;
        autoEoi = false;
        rotateOnAutoEoi = false;
        specialFullyNested = false;
        initStep = 1;
    }

    private void Ocw3(byte value)
    {
        if ((value & Ocw3Poll) != 0)
        {
            poll = true;
        }

        if ((value & Ocw3Rr) != 0)
        {
            readIsr = (value & Ocw3Ris) != 0;
        }

        if ((value & Ocw3Esmm) != 0)
        {
            specialMask = (value & Ocw3Smm) != 0;
        }
    }

    private void Ocw2(byte value)
    {
        int level = value & 7;
        switch (value >> 5)
        {
            case Ocw2RotateInAeoiClear:
                rotateOnAutoEoi = false;
                break;
            case Ocw2RotateInAeoiSet:
                rotateOnAutoEoi = true;
                break;
            case Ocw2NonSpecificEoi:
            case Ocw2RotateNonSpecificEoi:
                // Clears the highest-priority in-service bit.
                int rank = Rank(isr);
                if (rank != 8)
                {
                    int ir = (rank + lowestPriority + 1) & 7;
                    isr &= (byte)~(1 << ir);
                    if (value >> 5 == Ocw2RotateNonSpecificEoi)
                    {
                        lowestPriority = ir;
                    }
                }

                break;
            case Ocw2SpecificEoi:
                isr &= (byte)~(1 << level);
                break;
            case Ocw2SetPriority:
                lowestPriority = level;
                break;
            case Ocw2RotateSpecificEoi:
                isr &= (byte)~(1 << level);
                lowestPriority = level;
                break;
            default:
                break; // no operation
        }
    }
}
