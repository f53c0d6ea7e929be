namespace Emulator.Devices.Serial;

/// <summary>
/// Register offsets and bit fields of the National Semiconductor PC16550D UART (datasheet
/// section 8, "Registers", Table II), relative to the base port (COM1 = 0x3F8).
/// </summary>
public static class Serial16550Registers
{
    public const ushort Com1Base = 0x3F8;
    public const int Com1Irq = 4;
    public const int PortCount = 8;

    /// <summary>Receiver Buffer (read) / Transmitter Holding (write) when LCR.DLAB = 0; Divisor Latch LSB when DLAB = 1.</summary>
    public const int Rbr = 0, Thr = 0, Dll = 0;

    /// <summary>Interrupt Enable when DLAB = 0; Divisor Latch MSB when DLAB = 1.</summary>
    public const int Ier = 1, Dlm = 1;

    /// <summary>Interrupt Identification (read) / FIFO Control (write).</summary>
    public const int Iir = 2, Fcr = 2;

    public const int Lcr = 3;
    public const int Mcr = 4;
    public const int Lsr = 5;
    public const int Msr = 6;
    public const int Scr = 7;

    // IER: only the low four bits exist on the 16550.
    public const byte IerErbfi = 0x01; // received data available
    public const byte IerEtbei = 0x02; // transmitter holding register empty
    public const byte IerElsi = 0x04;  // receiver line status
    public const byte IerEdssi = 0x08; // modem status
    public const byte IerMask = 0x0F;

    // IIR: bit 0 = 0 when an interrupt is pending; bits 3:1 identify it (Table IV); bits 7:6 set when FCR0 = 1.
    public const byte IirNoInterrupt = 0x01;
    public const byte IirModemStatus = 0x00;
    public const byte IirThrEmpty = 0x02;
    public const byte IirReceivedData = 0x04;
    public const byte IirLineStatus = 0x06;
    public const byte IirCharacterTimeout = 0x0C;
    public const byte IirFifosEnabled = 0xC0;

    // FCR
    public const byte FcrFifoEnable = 0x01;
    public const byte FcrRxFifoReset = 0x02;
    public const byte FcrTxFifoReset = 0x04;
    public const byte FcrDmaMode = 0x08;
    public const byte FcrTriggerMask = 0xC0;

    // LCR
    public const byte LcrDlab = 0x80;

    // MCR: bits 7:5 are always zero.
    public const byte McrDtr = 0x01;
    public const byte McrRts = 0x02;
    public const byte McrOut1 = 0x04;
    public const byte McrOut2 = 0x08;
    public const byte McrLoop = 0x10;
    public const byte McrMask = 0x1F;

    // LSR
    public const byte LsrDr = 0x01;   // data ready
    public const byte LsrOe = 0x02;   // overrun error
    public const byte LsrPe = 0x04;   // parity error
    public const byte LsrFe = 0x08;   // framing error
    public const byte LsrBi = 0x10;   // break interrupt
    public const byte LsrThre = 0x20; // transmitter holding register (or TX FIFO) empty
    public const byte LsrTemt = 0x40; // transmitter empty (THR and shift register)
    public const byte LsrRxFifoError = 0x80;
    public const byte LsrErrorBits = LsrOe | LsrPe | LsrFe | LsrBi;

    // MSR: delta bits 3:0, line states 7:4.
    public const byte MsrDcts = 0x01;
    public const byte MsrDdsr = 0x02;
    public const byte MsrTeri = 0x04;
    public const byte MsrDdcd = 0x08;
    public const byte MsrCts = 0x10;
    public const byte MsrDsr = 0x20;
    public const byte MsrRi = 0x40;
    public const byte MsrDcd = 0x80;
    public const byte MsrDeltaBits = 0x0F;

    /// <summary>Depth of the transmit and receive FIFOs.</summary>
    public const int FifoSize = 16;

    /// <summary>Receiver FIFO trigger level selected by FCR bits 7:6 (datasheet Table III: 1, 4, 8, 14 bytes).</summary>
    public static int TriggerLevel(byte fcr) => (fcr >> 6) switch
    {
        0 => 1,
        1 => 4,
        2 => 8,
        _ => 14,
    };
}
