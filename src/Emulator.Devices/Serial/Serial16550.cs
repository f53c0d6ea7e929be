using Emulator.Devices.Bus;
using static Emulator.Devices.Serial.Serial16550Registers;

namespace Emulator.Devices.Serial;

/// <summary>
/// A PC16550D UART as on a PC's COM1: the registers of the datasheet with 16-byte FIFOs and the
/// interrupt priorities of its Table IV. Transmission is instant (no baud-rate timing): a byte
/// written to THR goes straight to the output sink, so THR and the transmitter are empty again
/// right after the write. Input is injected with <see cref="Receive"/>. As on a PC, MCR.OUT2
/// gates the interrupt output onto the IRQ line. Not thread-safe (see <see cref="IIoDevice"/>).
/// </summary>
public sealed partial class Serial16550 : IIoDevice, ITracesOwnAccesses
{
    // Modem inputs seen outside loopback: a connected terminal (carrier, data set ready, clear to send).
    private const byte ConnectedModemInputs = MsrDcd | MsrDsr | MsrCts;

    private readonly IInterruptLine irq;
    private readonly Action<ReadOnlySpan<byte>> output;
    private readonly byte[] rxFifo = new byte[FifoSize];
    private int rxHead, rxCount;

    private byte ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
    private bool thrEmptyPending;
    private bool irqLevel;

    /// <param name="irq">The line to the interrupt controller (IRQ 4 for COM1).</param>
    /// <param name="output">Receives every transmitted byte, as it is written.</param>
    /// <param name="name">Name for logs.</param>
    public Serial16550(IInterruptLine irq, Action<ReadOnlySpan<byte>> output, string name = "uart0")
    {
        this.irq = irq;
        this.output = output;
        Name = name;
        Reset();
    }

    public string Name { get; }

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>Spans per burst of transmitted and received bytes; none when null. Loopback bytes are not traced (they never leave the chip).</summary>
    public SerialBurstTrace? Bursts { get; init; }

    /// <summary>Called when the receive FIFO has been drained by the guest, so a host backend can send more.</summary>
    public Action? ReceiveSpaceAvailable { get; set; }

    /// <summary>How many more bytes fit in the receiver before an overrun.</summary>
    public int ReceiveSpace => RxCapacity - rxCount;

    /// <summary>True while the interrupt output is asserted (before OUT2 gating is applied to the IRQ line, see <see cref="IrqLevel"/>).</summary>
    public bool InterruptPending => CurrentInterrupt() != IirNoInterrupt;

    /// <summary>The level driven on the IRQ line.</summary>
    public bool IrqLevel => irqLevel;

    /// <summary>The baud-rate divisor (DLM:DLL); kept for completeness, transmission is not timed.</summary>
    public int Divisor => dlm << 8 | dll;

    private bool FifoEnabled => (fcr & FcrFifoEnable) != 0;

    // With FIFOs disabled the receiver holds one character (16450 mode, datasheet 8.4).
    private int RxCapacity => FifoEnabled ? FifoSize : 1;

    private bool Loopback => (mcr & McrLoop) != 0;

    /// <summary>Master reset (datasheet Table VI): every register to its reset value, FIFOs empty.</summary>
    public void Reset()
    {
        ier = 0;
        lcr = 0;
        mcr = 0;
        lsr = LsrThre | LsrTemt;
        scr = 0;
        fcr = 0;
        dll = 0x0C; // 9600 baud from 1.8432 MHz, what a PC BIOS leaves; not reset by MR on the chip
        dlm = 0;
        rxHead = rxCount = 0;
        thrEmptyPending = false;
        msr = ModemInputs();
        UpdateIrq();
    }

    /// <summary>
    /// The data register (THR/RBR) is covered by the burst spans. The bus cannot see DLAB, so the
    /// divisor-latch accesses at the same offset (a few at setup) go untraced per access too.
    /// </summary>
    public bool TracesAccess(ulong offset) => offset == Thr && Bursts is not null;

    public ulong Read(ulong offset, int size)
    {
        if (size != 1 || offset >= PortCount)
        {
            Unexpected.Record(Name, $"read of {size} bytes at +{offset}");
            return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }

        return ReadRegister((int)offset);
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 1 || offset >= PortCount)
        {
            Unexpected.Record(Name, $"write of {size} bytes at +{offset}");
            return;
        }

        WriteRegister((int)offset, (byte)value);
    }

    /// <summary>
    /// Characters arriving on the serial line. Each goes into the receiver FIFO; one that finds the
    /// FIFO full is lost and sets LSR.OE (datasheet 8.6.3: the shift register is overwritten but the
    /// FIFO is not). In loopback mode the external input is disconnected and the bytes are dropped.
    /// </summary>
    /// <returns>How many bytes were stored.</returns>
    public int Receive(ReadOnlySpan<byte> data)
    {
        if (Loopback)
        {
            return 0;
        }

        int stored = 0;
        foreach (byte b in data)
        {
            if (PushRx(b))
            {
                stored++;
            }
        }

        Bursts?.Received(stored);
        UpdateIrq();
        return stored;
    }

    private bool PushRx(byte b)
    {
        if (rxCount == RxCapacity)
        {
            if (!FifoEnabled)
            {
                // 16450 mode: the new character overwrites the unread one (datasheet LSR1).
                rxFifo[rxHead] = b;
            }

            lsr |= LsrOe;
            return false;
        }

        rxFifo[(rxHead + rxCount) % FifoSize] = b;
        rxCount++;
        lsr |= LsrDr;
        return true;
    }

    private byte ReadRegister(int reg)
    {
        bool dlab = (lcr & LcrDlab) != 0;
        switch (reg)
        {
            case Rbr when dlab:
                return dll;
            case Rbr:
                return ReadRbr();
            case Ier when dlab:
                return dlm;
            case Ier:
                return ier;
            case Iir:
                return ReadIir();
            case Lcr:
                return lcr;
            case Mcr:
                return mcr;
            case Lsr:
                return ReadLsr();
            case Msr:
                return ReadMsr();
            default:
                return scr;
        }
    }

    private void WriteRegister(int reg, byte value)
    {
        bool dlab = (lcr & LcrDlab) != 0;
        switch (reg)
        {
            case Thr when dlab:
                dll = value;
                break;
            case Thr:
                Transmit(value);
                break;
            case Ier when dlab:
                dlm = value;
                break;
            case Ier:
                WriteIer(value);
                break;
            case Fcr:
                WriteFcr(value);
                break;
            case Lcr:
                lcr = value;
                break;
            case Mcr:
                WriteMcr(value);
                break;
            case Lsr:
                // LSR is read-only on a PC16550D (writing it is for factory test only).
                Unexpected.Record(Name, "write to LSR");
                break;
            case Msr:
                Unexpected.Record(Name, "write to MSR");
                break;
            default:
                scr = value;
                break;
        }
    }

    private byte ReadRbr()
    {
        if (rxCount == 0)
        {
            return 0;
        }

        byte b = rxFifo[rxHead];
        rxHead = (rxHead + 1) % FifoSize;
        rxCount--;
        if (rxCount == 0)
        {
            lsr &= unchecked((byte)~LsrDr);
        }

        UpdateIrq();
        if (rxCount == 0)
        {
            ReceiveSpaceAvailable?.Invoke();
        }

        return b;
    }

    private byte ReadIir()
    {
        byte id = CurrentInterrupt();

        // Reading IIR when it reports THR empty clears that interrupt (datasheet Table IV, "Reset Control").
        if (id == IirThrEmpty)
        {
            thrEmptyPending = false;
            UpdateIrq();
        }

        return (byte)(id | (FifoEnabled ? IirFifosEnabled : 0));
    }

    private byte ReadLsr()
    {
        byte value = lsr;

        // Reading LSR clears the error bits and with them the receiver line status interrupt.
        lsr &= unchecked((byte)~(LsrErrorBits | LsrRxFifoError));
        UpdateIrq();
        return value;
    }

    private byte ReadMsr()
    {
        byte value = msr;
        msr &= unchecked((byte)~MsrDeltaBits);
        UpdateIrq();
        return value;
    }

    private void Transmit(byte value)
    {
        // Writing THR clears the THR-empty interrupt; the byte leaves at once, so THR and the
        // transmitter are empty again and the interrupt is raised anew (it fires whenever the
        // transmitter becomes empty with ETBEI set, as a real 16550 after sending the byte).
        if (Loopback)
        {
            // Loopback (datasheet MCR4): the transmitter output is looped to the receiver input.
            PushRx(value);
        }
        else
        {
            output([value]);
            Bursts?.Transmitted(1);
        }

        lsr |= LsrThre | LsrTemt;
        thrEmptyPending = true;
        UpdateIrq();
    }

    private void WriteIer(byte value)
    {
        byte old = ier;
        ier = (byte)(value & IerMask);

        // Enabling ETBEI while THR is empty raises the THR-empty interrupt right away. Linux's 8250
        // driver checks exactly this (UART_BUG_THRE test in serial8250_do_startup).
        if ((ier & IerEtbei) != 0 && (old & IerEtbei) == 0 && (lsr & LsrThre) != 0)
        {
            thrEmptyPending = true;
        }

        UpdateIrq();
    }

    private void WriteFcr(byte value)
    {
        bool wasEnabled = FifoEnabled;
        bool enable = (value & FcrFifoEnable) != 0;

        // Changing FCR0 clears both FIFOs (datasheet FCR0); bits 1 and 2 reset one FIFO each and self-clear.
        if (enable != wasEnabled || (value & FcrRxFifoReset) != 0)
        {
            rxHead = rxCount = 0;
            lsr &= unchecked((byte)~(LsrDr | LsrRxFifoError));
        }

        if (enable != wasEnabled || (value & FcrTxFifoReset) != 0)
        {
            lsr |= LsrThre | LsrTemt;
            thrEmptyPending = true;
        }

        // The other FCR bits are only written while FCR0 is set (datasheet FCR0).
        fcr = enable ? (byte)(value & (FcrFifoEnable | FcrDmaMode | FcrTriggerMask)) : (byte)0;
        UpdateIrq();
    }

    private void WriteMcr(byte value)
    {
        mcr = (byte)(value & McrMask);
        UpdateModemInputs();
        UpdateIrq();
    }

    // The modem inputs: in loopback DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (datasheet MCR4).
    private byte ModemInputs()
    {
        if (!Loopback)
        {
            return ConnectedModemInputs;
        }

        int states = 0;
        if ((mcr & McrRts) != 0)
        {
            states |= MsrCts;
        }

        if ((mcr & McrDtr) != 0)
        {
            states |= MsrDsr;
        }

        if ((mcr & McrOut1) != 0)
        {
            states |= MsrRi;
        }

        if ((mcr & McrOut2) != 0)
        {
            states |= MsrDcd;
        }

        return (byte)states;
    }

    private void UpdateModemInputs()
    {
        byte oldStates = (byte)(msr & 0xF0);
        byte newStates = ModemInputs();
        byte changed = (byte)(oldStates ^ newStates);
        int deltas = msr & MsrDeltaBits;
        if ((changed & MsrCts) != 0)
        {
            deltas |= MsrDcts;
        }

        if ((changed & MsrDsr) != 0)
        {
            deltas |= MsrDdsr;
        }

        // TERI flags the trailing edge of RI only (RI going from on to off).
        if ((oldStates & MsrRi) != 0 && (newStates & MsrRi) == 0)
        {
            deltas |= MsrTeri;
        }

        if ((changed & MsrDcd) != 0)
        {
            deltas |= MsrDdcd;
        }

        msr = (byte)(newStates | deltas);
    }

    // The highest-priority pending and enabled interrupt (datasheet Table IV), as IIR bits 3:0.
    private byte CurrentInterrupt()
    {
        if ((ier & IerElsi) != 0 && (lsr & LsrErrorBits) != 0)
        {
            return IirLineStatus;
        }

        if ((ier & IerErbfi) != 0 && rxCount > 0)
        {
            // Below the trigger level the character timeout indication stands in for the 4-character
            // timer: data that sits below the trigger is reported as timed out immediately.
            if (!FifoEnabled || rxCount >= TriggerLevel(fcr))
            {
                return IirReceivedData;
            }

            return IirCharacterTimeout;
        }

        if ((ier & IerEtbei) != 0 && thrEmptyPending)
        {
            return IirThrEmpty;
        }

        if ((ier & IerEdssi) != 0 && (msr & MsrDeltaBits) != 0)
        {
            return IirModemStatus;
        }

        return IirNoInterrupt;
    }

    private void UpdateIrq()
    {
        // On a PC the UART's INTR pin reaches the PIC through a buffer enabled by OUT2. In loopback
        // the OUT2 pin is forced inactive (datasheet MCR4), so the IRQ line is gated off as well.
        bool level = CurrentInterrupt() != IirNoInterrupt && (mcr & (McrOut2 | McrLoop)) == McrOut2;
        if (level != irqLevel)
        {
            irqLevel = level;
            irq.Set(level);
        }
    }
}
