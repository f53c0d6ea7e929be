using Emulator.Devices.State;
using static Emulator.Devices.Serial.Serial16550Registers;

namespace Emulator.Devices.Serial;

public sealed partial class Serial16550
{
    /// <summary>
    /// Saved state (section "serial16550"). Version 1: every field. ThrEmptyPending: the
    /// THR-empty interrupt is pending (cleared by reading IIR or writing THR). ReceiveFifo: the
    /// received bytes not yet read, oldest first, at most the 16 the FIFO holds.
    /// </summary>
    public static StateDescription<Serial16550> SavedState { get; } = new StateDescription<Serial16550>("serial16550", version: 1)
        .Int("Ier", u => u.ier, (u, v) => u.ier = v, StateRule.Bits(IerMask))
        .Int("Lcr", u => u.lcr, (u, v) => u.lcr = v)
        .Int("Mcr", u => u.mcr, (u, v) => u.mcr = v, StateRule.Bits(McrMask))
        .Int("Lsr", u => u.lsr, (u, v) => u.lsr = v)
        .Int("Msr", u => u.msr, (u, v) => u.msr = v)
        .Int("Scr", u => u.scr, (u, v) => u.scr = v)
        .Int("Fcr", u => u.fcr, (u, v) => u.fcr = v)
        .Int("DivisorLow", u => u.dll, (u, v) => u.dll = v)
        .Int("DivisorHigh", u => u.dlm, (u, v) => u.dlm = v)
        .Flag("ThrEmptyPending", u => u.thrEmptyPending, (u, v) => u.thrEmptyPending = v)
        .Bytes("ReceiveFifo", u => u.ReceivedBytes(), (u, v) => u.LoadReceived(v), maxLength: FifoSize)
        // With the FIFOs off the receiver holds one byte (16550 datasheet, FCR bit 0).
        .Check("ReceiveFifo", (_, s) => (s.Get<byte>("Fcr") & FcrFifoEnable) == 0 && s.Get<byte[]>("ReceiveFifo").Length > 1
            ? "at most 1 byte while the FIFOs are off (FCR bit 0 clear)"
            : null)
        .AfterLoad(u =>
        {
            // Re-drive the line from the restored registers.
            u.irqLevel = !(u.CurrentInterrupt() != IirNoInterrupt && (u.mcr & (McrOut2 | McrLoop)) == McrOut2);
            u.UpdateIrq();
        });

    private byte[] ReceivedBytes()
    {
        var fifo = new byte[rxCount];
        for (int i = 0; i < rxCount; i++)
        {
            fifo[i] = rxFifo[(rxHead + i) % FifoSize];
        }

        return fifo;
    }

    private void LoadReceived(byte[] bytes)
    {
        rxHead = 0;
        rxCount = bytes.Length;
        bytes.CopyTo(rxFifo, 0);
    }
}
