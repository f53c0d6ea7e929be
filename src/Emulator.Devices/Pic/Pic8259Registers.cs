namespace Emulator.Devices.Pic;

/// <summary>
/// Ports and command-word bits of the Intel 8259A programmable interrupt controller (datasheet
/// "Programming the 8259A": ICW1-ICW4, OCW1-OCW3) and the PIIX/EISA edge/level control registers.
/// </summary>
public static class Pic8259Registers
{
    public const ushort MasterBase = 0x20;
    public const ushort SlaveBase = 0xA0;

    /// <summary>ELCR1 (IRQ 0-7) at 0x4D0 and ELCR2 (IRQ 8-15) at 0x4D1.</summary>
    public const ushort ElcrBase = 0x4D0;

    /// <summary>Offsets within a chip's two ports: A0 = 0 (ICW1, OCW2, OCW3, IRR/ISR/poll) and A0 = 1 (ICW2-4, OCW1).</summary>
    public const int CommandPort = 0, DataPort = 1;

    /// <summary>The master input the slave's INT output is wired to on a PC.</summary>
    public const int CascadeIrq = 2;

    // ICW1 (A0 = 0, D4 = 1)
    public const byte Icw1Select = 0x10;
    public const byte Icw1Ltim = 0x08; // level-triggered mode
    public const byte Icw1Sngl = 0x02; // single (no ICW3)
    public const byte Icw1Ic4 = 0x01;  // ICW4 needed

    // ICW4
    public const byte Icw4Sfnm = 0x10; // special fully nested mode
    public const byte Icw4Aeoi = 0x02; // automatic end of interrupt
    public const byte Icw4Microprocessor = 0x01; // 8086/8088 mode

    // OCW3 (A0 = 0, D4 = 0, D3 = 1)
    public const byte Ocw3Select = 0x08;
    public const byte Ocw3Esmm = 0x40; // enable special mask mode change
    public const byte Ocw3Smm = 0x20;  // special mask mode
    public const byte Ocw3Poll = 0x04;
    public const byte Ocw3Rr = 0x02;   // read register command
    public const byte Ocw3Ris = 0x01;  // 1 = ISR, 0 = IRR

    // OCW2 (A0 = 0, D4 = 0, D3 = 0): R, SL, EOI in bits 7:5, level in 2:0.
    public const int Ocw2RotateInAeoiClear = 0;
    public const int Ocw2NonSpecificEoi = 1;
    public const int Ocw2Nop = 2;
    public const int Ocw2SpecificEoi = 3;
    public const int Ocw2RotateInAeoiSet = 4;
    public const int Ocw2RotateNonSpecificEoi = 5;
    public const int Ocw2SetPriority = 6;
    public const int Ocw2RotateSpecificEoi = 7;

    /// <summary>ELCR bits that can be set: IRQ 0, 1, 2, 8 and 13 are always edge-triggered on a PC (PIIX ELCR).</summary>
    public const byte ElcrMasterMask = 0xF8;
    public const byte ElcrSlaveMask = 0xDE;

    /// <summary>The IR level reported for a spurious interrupt (request gone before INTA).</summary>
    public const int SpuriousLevel = 7;
}
