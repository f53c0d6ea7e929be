using Emulator.Devices.Bus;
using Emulator.Devices.Serial;
using Xunit;
using static Emulator.Devices.Serial.Serial16550Registers;

namespace Emulator.Devices.Tests;

public class Serial16550Tests
{
    private readonly RecordingInterruptLine irq = new();
    private readonly List<byte> sent = [];
    private readonly Serial16550 uart;

    public Serial16550Tests()
    {
        uart = new Serial16550(irq, data => sent.AddRange(data.ToArray()));
    }

    private byte In(int reg) => (byte)uart.Read((ulong)reg, 1);

    private void Out(int reg, int value) => uart.Write((ulong)reg, 1, (ulong)value);

    [Fact]
    public void ResetValuesMatchTheDatasheet()
    {
        Assert.Equal(0, In(Ier));
        Assert.Equal(0x01, In(Iir)); // no interrupt, FIFOs off
        Assert.Equal(0, In(Lcr));
        Assert.Equal(0, In(Mcr));
        Assert.Equal(0x60, In(Lsr)); // THRE | TEMT
        Assert.False(irq.Level);
    }

    [Fact]
    public void TransmitGoesToTheSinkAndLeavesTheTransmitterEmpty()
    {
        Out(Thr, 'h');
        Out(Thr, 'i');
        Assert.Equal("hi"u8.ToArray(), sent.ToArray());
        Assert.Equal(0x60, In(Lsr) & 0x60);
    }

    [Fact]
    public void DivisorLatchIsReachedThroughDlab()
    {
        Out(Lcr, 0x83); // DLAB, 8N1
        Out(Dll, 0x01);
        Out(Dlm, 0x00);
        Assert.Equal(1, In(Dll));
        Out(Lcr, 0x03);
        Out(Ier, 0x05);
        Assert.Equal(0x05, In(Ier));
        Out(Lcr, 0x83);
        Assert.Equal(0x00, In(Dlm));
        Assert.Equal(1, uart.Divisor);
        Assert.Empty(sent); // the DLL write was not a transmit
    }

    [Fact]
    public void IerKeepsOnlyTheFourDefinedBits()
    {
        Out(Ier, 0xFF);
        Assert.Equal(0x0F, In(Ier));
    }

    [Fact]
    public void EnablingEtbeiWithThrEmptyRaisesTheThreInterruptAgainAndAgain()
    {
        // Linux serial8250_do_startup's UART_BUG_THRE probe: set IER.THRI, read IIR, clear IER,
        // set IER.THRI again and expect THRE to be reasserted.
        Out(Mcr, McrOut2);
        Out(Ier, IerEtbei);
        Assert.True(irq.Level);
        Assert.Equal(IirThrEmpty, In(Iir));   // reading IIR clears the THRE interrupt
        Assert.Equal(IirNoInterrupt, In(Iir));
        Assert.False(irq.Level);
        Out(Ier, 0);
        Out(Ier, IerEtbei);
        Assert.Equal(IirThrEmpty, In(Iir));
        Assert.Equal(2, irq.RisingEdges);
    }

    [Fact]
    public void WritingThrClearsThenReassertsThreOnceTheByteIsSent()
    {
        Out(Mcr, McrOut2);
        Out(Ier, IerEtbei);
        Assert.Equal(IirThrEmpty, In(Iir));
        Out(Thr, 'x');
        Assert.Equal(IirThrEmpty, In(Iir));
        Assert.Equal(IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void Out2GatesTheIrqLineButNotIir()
    {
        Out(Ier, IerEtbei);
        Assert.False(irq.Level);
        Out(Mcr, McrOut2);
        Assert.True(irq.Level);
        Out(Mcr, 0);
        Assert.False(irq.Level);
        Assert.Equal(IirThrEmpty, In(Iir));
    }

    [Fact]
    public void ReceivedByteSetsDataReadyAndRaisesReceivedDataAvailable()
    {
        Out(Mcr, McrOut2);
        Out(Ier, IerErbfi);
        uart.Receive("A"u8);
        Assert.True(irq.Level);
        Assert.Equal(IirReceivedData, In(Iir));
        Assert.Equal(LsrDr, In(Lsr) & LsrDr);
        Assert.Equal((byte)'A', In(Rbr));
        Assert.Equal(0, In(Lsr) & LsrDr);
        Assert.Equal(IirNoInterrupt, In(Iir));
        Assert.False(irq.Level);
    }

    [Fact]
    public void FifoTriggerLevelSeparatesTimeoutFromDataAvailable()
    {
        Out(Mcr, McrOut2);
        Out(Fcr, FcrFifoEnable | FcrRxFifoReset | FcrTxFifoReset | 0x80); // trigger at 8 bytes
        Out(Ier, IerErbfi);
        Assert.Equal(0xC1, In(Iir));
        uart.Receive("1234567"u8);
        Assert.Equal(0xC0 | IirCharacterTimeout, In(Iir)); // below the trigger: timeout indication
        uart.Receive("8"u8);
        Assert.Equal(0xC0 | IirReceivedData, In(Iir));
        Assert.Equal((byte)'1', In(Rbr));
        Assert.Equal(0xC0 | IirCharacterTimeout, In(Iir)); // 7 left: below the trigger again
        for (int i = 0; i < 7; i++)
        {
            In(Rbr);
        }

        Assert.Equal(0xC1, In(Iir));
        Assert.Equal(0x60, In(Lsr));
    }

    [Theory]
    [InlineData(0x00, 1)]
    [InlineData(0x40, 4)]
    [InlineData(0x80, 8)]
    [InlineData(0xC0, 14)]
    public void TriggerLevelsAreOneFourEightFourteen(int bits, int level)
    {
        Out(Fcr, FcrFifoEnable | bits);
        Out(Ier, IerErbfi);
        uart.Receive(new byte[level - 1]);
        Assert.NotEqual(0xC0 | IirReceivedData, In(Iir));
        uart.Receive(new byte[1]);
        Assert.Equal(0xC0 | IirReceivedData, In(Iir));
    }

    [Fact]
    public void FifoOverflowSetsOverrunAndKeepsTheFirstSixteenBytes()
    {
        Out(Fcr, FcrFifoEnable);
        Out(Mcr, McrOut2);
        Out(Ier, IerElsi | IerErbfi);
        var data = Enumerable.Range(0, 20).Select(i => (byte)i).ToArray();
        Assert.Equal(16, uart.Receive(data));
        Assert.Equal(0xC0 | IirLineStatus, In(Iir)); // line status outranks data available
        Assert.Equal(LsrOe | LsrDr | LsrThre | LsrTemt, In(Lsr));
        Assert.Equal(LsrDr | LsrThre | LsrTemt, In(Lsr)); // OE cleared by the read
        Assert.Equal(0xC0 | IirReceivedData, In(Iir));
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(i, In(Rbr));
        }

        Assert.Equal(0, In(Lsr) & LsrDr);
    }

    [Fact]
    public void WithoutFifoASecondByteOverwritesTheFirstAndSetsOverrun()
    {
        Assert.Equal(1, uart.Receive("ab"u8));
        Assert.Equal(LsrOe | LsrDr, In(Lsr) & (LsrOe | LsrDr));
        Assert.Equal((byte)'b', In(Rbr));
    }

    [Fact]
    public void RxFifoResetEmptiesTheReceiver()
    {
        Out(Fcr, FcrFifoEnable);
        uart.Receive("abc"u8);
        Out(Fcr, FcrFifoEnable | FcrRxFifoReset);
        Assert.Equal(0, In(Lsr) & LsrDr);
        Assert.Equal(16, uart.ReceiveSpace);
    }

    [Fact]
    public void LoopbackRoutesTransmitToReceiveAndModemOutputsToInputs()
    {
        // Linux's autoconfig loopback test: MCR = LOOP | OUT2 | RTS must read MSR[7:4] = DCD | CTS.
        Out(Mcr, McrLoop | McrOut2 | McrRts);
        Assert.Equal(MsrDcd | MsrCts, In(Msr) & 0xF0);
        Out(Thr, 0x5A);
        Assert.Empty(sent);
        Assert.Equal(0x5A, In(Rbr));
        Assert.Equal(0, uart.Receive("z"u8)); // external input disconnected
    }

    [Fact]
    public void LoopbackModemChangesSetDeltaBitsAndModemStatusInterrupt()
    {
        Out(Mcr, McrLoop);
        In(Msr); // clear the deltas from entering loopback
        Out(Ier, IerEdssi);
        Out(Mcr, McrLoop | McrDtr | McrOut1);
        Assert.Equal(IirModemStatus, In(Iir));
        Assert.Equal(MsrDsr | MsrRi | MsrDdsr, In(Msr));
        Out(Mcr, McrLoop | McrDtr);
        Assert.Equal(MsrDsr | MsrTeri, In(Msr)); // trailing edge of RI
        Assert.Equal(IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void LoopbackForcesOut2InactiveSoTheIrqLineIsOff()
    {
        Out(Mcr, McrLoop | McrOut2);
        Out(Ier, IerEtbei);
        Assert.Equal(IirThrEmpty, In(Iir));
        Assert.False(irq.Level);
    }

    [Fact]
    public void InterruptPrioritiesFollowTableIV()
    {
        Out(Mcr, McrOut2);
        Out(Ier, IerErbfi | IerEtbei | IerElsi);
        Assert.Equal(IirThrEmpty, In(Iir)); // consumes THRE
        uart.Receive("xy"u8); // overrun without FIFO
        Assert.Equal(IirLineStatus, In(Iir));
        In(Lsr);
        Assert.Equal(IirReceivedData, In(Iir));
        In(Rbr);
        Out(Thr, 'q');
        Assert.Equal(IirThrEmpty, In(Iir));
    }

    [Fact]
    public void IirReportsFifoModeAndLinuxDoesNotSeeA64ByteFifo()
    {
        Out(Fcr, FcrFifoEnable | 0x20); // FCR5 selects a 64-byte FIFO on a 16750 only
        Assert.Equal(0xC0, In(Iir) & 0xE0);
        Out(Fcr, 0);
        Assert.Equal(0x00, In(Iir) & 0xC0);
    }

    [Fact]
    public void ScratchRegisterHoldsItsValue()
    {
        Out(Scr, 0xA5);
        Assert.Equal(0xA5, In(Scr));
        Out(Scr, 0x5A);
        Assert.Equal(0x5A, In(Scr));
    }

    [Fact]
    public void WrongSizeAccessIsCountedNotThrown()
    {
        Assert.Equal(0xFFFFUL, uart.Read(0, 2));
        uart.Write(0, 4, 0x41);
        Assert.Equal(2, uart.Unexpected.Count);
        Assert.Empty(sent);
    }

    [Fact]
    public void SaveAndRestoreKeepsRegistersAndPendingInput()
    {
        Out(Fcr, FcrFifoEnable | 0x40);
        Out(Lcr, 0x03);
        Out(Mcr, McrOut2 | McrDtr);
        Out(Ier, IerErbfi);
        uart.Receive("hello"u8);
        var state = Serial16550.SavedState.Save(uart);

        var line = new RecordingInterruptLine();
        var copy = new Serial16550(line, _ => { });
        Serial16550.SavedState.Restore(copy, state);
        Assert.True(line.Level);
        Assert.Equal(0xC0 | IirReceivedData, (int)copy.Read(Iir, 1));
        Assert.Equal('h', (int)copy.Read(Rbr, 1));
        Assert.Equal(0x03, (int)copy.Read(Lcr, 1));
    }
}
