using Emulator.Devices.Bus;
using static Emulator.Devices.AcpiPm.AcpiPmRegisters;

namespace Emulator.Devices.AcpiPm;

/// <summary>
/// ACPI fixed hardware (ACPI 6.0, section 4.8): the PM1a event block (status and enable), the
/// PM1a control block (sleep type and enable) and the 24-bit PM timer, in one 12-byte I/O block
/// (offsets in <see cref="AcpiPmRegisters"/>). Writing SLP_EN with the S5 sleep type raises
/// <see cref="PowerOff"/>. An enabled status bit asserts the SCI line (level, active high; the
/// MADT describes IRQ 9 that way).
/// <para>
/// The platform has no SMI_CMD port (FADT SMI_CMD = 0), so by ACPI 6.0 section 4.8.2.5 it is
/// always in ACPI mode: SCI_EN reads as 1 and cannot be cleared. TMR_STS (timer carry out of
/// bit 23) is not generated: Linux never enables the timer's fixed event.
/// </para>
/// </summary>
public sealed partial class AcpiPmDevice : IIoDevice
{
    private readonly Func<long> nowNs;
    private readonly IInterruptLine sci;
    private ushort status;
    private ushort enable;
    private ushort control = SCI_EN;

    /// <param name="nowNs">Machine-clock nanoseconds (the PM timer counts from it).</param>
    /// <param name="sci">The System Control Interrupt line (GSI 9 on this machine).</param>
    public AcpiPmDevice(Func<long> nowNs, IInterruptLine sci)
    {
        this.nowNs = nowNs;
        this.sci = sci;
    }

    public string Name => "acpi-pm";

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>The guest asked for S5 (soft off) through PM1a_CNT.</summary>
    public event Action? PowerOff;

    /// <summary>The 24-bit PM timer value now: 3.579545 MHz counted from machine time zero.</summary>
    public uint TimerValue => (uint)TicksAt(nowNs()) & PmTimerMask;

    /// <summary>Presses the power button (a fixed-feature button: the FADT's PWR_BUTTON flag is clear).</summary>
    public void PressPowerButton()
    {
        status |= PWRBTN_STS;
        UpdateSci();
    }

    /// <summary>Power-on state.</summary>
    public void Reset()
    {
        status = 0;
        enable = 0;
        control = SCI_EN;
        UpdateSci();
    }

    public ulong Read(ulong offset, int size)
    {
        if (!IsValid(offset, size))
        {
            Unexpected.Record(Name, $"read of {size} bytes at +0x{offset:x}");
            return 0;
        }

        int start = (int)offset;
        uint timer = start >= PmTimer ? TimerValue : 0;
        ulong value = 0;
        for (int i = size - 1; i >= 0; i--)
        {
            value = (value << 8) | ReadByte(start + i, timer);
        }

        return value;
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (!IsValid(offset, size))
        {
            Unexpected.Record(Name, $"write of {size} bytes at +0x{offset:x}");
            return;
        }

        // Gather the bytes of each 16-bit register this access touches, then apply each once,
        // so a write of a whole register and a write of its two halves behave alike.
        ushort statusMask = 0, statusValue = 0, enableMask = 0, enableValue = 0, controlMask = 0, controlValue = 0;
        for (int i = 0; i < size; i++)
        {
            int at = (int)offset + i;
            ushort b = (ushort)((value >> (8 * i)) & 0xff);
            int shift = 8 * (at & 1);
            switch (at & ~1)
            {
                case Pm1Status:
                    statusMask |= (ushort)(0xff << shift);
                    statusValue |= (ushort)(b << shift);
                    break;
                case Pm1Enable:
                    enableMask |= (ushort)(0xff << shift);
                    enableValue |= (ushort)(b << shift);
                    break;
                case Pm1Control:
                    controlMask |= (ushort)(0xff << shift);
                    controlValue |= (ushort)(b << shift);
                    break;
                default:
                    Unexpected.Record(Name, "write to the read-only PM timer");
                    return;
            }
        }

        // PM1_STS bits are cleared by writing 1 (ACPI 6.0, 4.8.3.1.1).
        status &= (ushort)~(statusValue & statusMask);
        enable = (ushort)(((enable & ~enableMask) | (enableValue & enableMask)) & EnableMask);
        if (controlMask != 0)
        {
            WriteControl(controlMask, controlValue);
        }

        UpdateSci();
    }

    private void WriteControl(ushort mask, ushort value)
    {
        // SCI_EN is hard-wired to 1 (no SMI_CMD); GBL_RLS and SLP_EN are write-only.
        const ushort Stored = BM_RLD | SLP_TYP_Mask;
        control = (ushort)(((control & ~mask) | (value & mask)) & Stored | SCI_EN);
        if ((mask & value & SLP_EN) == 0)
        {
            return;
        }

        int sleepType = (control & SLP_TYP_Mask) >> SLP_TYP_Shift;
        if (sleepType == SlpTypS5)
        {
            PowerOff?.Invoke();
        }
        else
        {
            // Only \_S5 is declared in the DSDT, so an OS never asks for another state.
            Unexpected.Record(Name, $"SLP_EN with undeclared sleep type {sleepType}");
        }
    }

    private byte ReadByte(int at, uint timer)
    {
        int shift = 8 * (at & 1);
        return (at & ~1) switch
        {
            Pm1Status => (byte)(status >> shift),
            Pm1Enable => (byte)(enable >> shift),
            Pm1Control => (byte)(control >> shift),
            _ => (byte)(timer >> (8 * (at - PmTimer))),
        };
    }

    /// <summary>Naturally aligned 1, 2 or 4 bytes that stay inside one of the three register blocks.</summary>
    private static bool IsValid(ulong offset, int size)
    {
        if (size is not (1 or 2 or 4) || offset % (ulong)size != 0 || offset >= BlockLength)
        {
            return false;
        }

        ulong end = offset + (ulong)size;
        return offset < Pm1Control ? end <= Pm1Control
            : offset < Pm1Control + Pm1ControlLength ? end <= Pm1Control + Pm1ControlLength
            : offset >= PmTimer && end <= PmTimer + PmTimerLength;
    }

    private void UpdateSci() => sci.Set((status & enable & EnableMask) != 0);

    /// <summary>Timer ticks at <paramref name="ns"/>, split so the product cannot overflow.</summary>
    private static long TicksAt(long ns)
    {
        long seconds = ns / 1_000_000_000;
        long rest = ns % 1_000_000_000;
        return seconds * PmTimerHz + rest * PmTimerHz / 1_000_000_000;
    }
}
