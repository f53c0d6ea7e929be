using Emulator.Devices.Bus;
using Emulator.X86;
using static Emulator.Devices.Pic.Pic8259Registers;

namespace Emulator.Devices.Pic;

/// <summary>
/// The PC's two cascaded 8259As: the master at 0x20/0x21 with the slave's INT on its IR2, the
/// slave at 0xA0/0xA1, and the edge/level control registers at 0x4D0/0x4D1. IRQ inputs arrive
/// through <see cref="SetIrq"/> (or the <see cref="IInterruptLine"/> from <see cref="Input"/>);
/// the INTR output is <see cref="HasInterrupt"/> and the INTA cycle is <see cref="Acknowledge"/>.
/// Each port range is its own <see cref="IIoDevice"/>: <see cref="MasterPorts"/>,
/// <see cref="SlavePorts"/>, <see cref="ElcrPorts"/>. Not thread-safe.
/// </summary>
public sealed partial class Pic8259Pair : IInterruptSource
{
    private readonly Pic8259Chip master = new(isMaster: true, ElcrMasterMask);
    private readonly Pic8259Chip slave = new(isMaster: false, ElcrSlaveMask);
    private readonly IInterruptLine[] inputs = new IInterruptLine[16];
    private bool intr;

    public Pic8259Pair(string name = "pic")
    {
        Name = name;
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = new InputLine(this, i);
        }

        MasterPorts = new ChipPorts(this, master, name + "-master");
        SlavePorts = new ChipPorts(this, slave, name + "-slave");
        ElcrPorts = new ElcrRegisters(this, name + "-elcr");
    }

    public string Name { get; }

    /// <summary>Shared by the three port ranges.</summary>
    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>Ports 0x20-0x21.</summary>
    public IIoDevice MasterPorts { get; }

    /// <summary>Ports 0xA0-0xA1.</summary>
    public IIoDevice SlavePorts { get; }

    /// <summary>Ports 0x4D0-0x4D1 (ELCR1, ELCR2).</summary>
    public IIoDevice ElcrPorts { get; }

    /// <summary>Called with the new level whenever INTR changes, so the machine can wake the vCPU.</summary>
    public Action<bool>? OutputChanged { get; set; }

    /// <summary>The INTR output to the CPU.</summary>
    public bool HasInterrupt => intr;

    bool IInterruptSource.HasPendingInterrupt => intr;

    /// <summary>The master's vector base from ICW2 (0x30 after Linux's init_8259A).</summary>
    public byte MasterVectorBase => master.VectorBase;

    public byte SlaveVectorBase => slave.VectorBase;

    /// <summary>The line for input <paramref name="irq"/> (0-15); IRQ 2 is the cascade and is not wired to a device.</summary>
    public IInterruptLine Input(int irq) => inputs[irq];

    /// <summary>Drives IRQ input <paramref name="irq"/> (0-7 master, 8-15 slave).</summary>
    public void SetIrq(int irq, bool level)
    {
        if ((uint)irq >= 16 || irq == CascadeIrq)
        {
            Unexpected.Record(Name, $"IRQ input {irq}");
            return;
        }

        if (irq < 8)
        {
            master.SetLine(irq, level);
        }
        else
        {
            slave.SetLine(irq - 8, level);
        }

        Update();
    }

    /// <summary>
    /// The INTA cycle: returns the vector of the highest-priority request and moves it into
    /// service. A request that vanished before INTA (a level-triggered line dropped) gives the
    /// spurious vector for IR7 of the chip that lost it, without setting its ISR bit (datasheet
    /// "Interrupt Sequence", step 4). It never answers -1: like the hardware, an INTA with
    /// nothing pending gets the master's IR7 vector, which Linux recognises as spurious.
    /// </summary>
    public int Acknowledge()
    {
        int vector;
        int ir = master.PendingRequest();
        if (ir < 0)
        {
            vector = master.VectorBase + SpuriousLevel;
        }
        else
        {
            master.Acknowledge(ir);
            if (ir == CascadeIrq)
            {
                // The master puts the slave on the bus for the second INTA pulse.
                int slaveIr = slave.PendingRequest();
                if (slaveIr < 0)
                {
                    vector = slave.VectorBase + SpuriousLevel;
                }
                else
                {
                    slave.Acknowledge(slaveIr);
                    vector = slave.VectorBase + slaveIr;
                }
            }
            else
            {
                vector = master.VectorBase + ir;
            }
        }

        Update();
        return vector;
    }

    /// <summary>IRR, ISR and IMR of both chips as 16-bit masks (IRQ n = bit n), for tests and monitors.</summary>
    public (ushort Irr, ushort Isr, ushort Imr) Registers =>
        ((ushort)(master.Irr | slave.Irr << 8), (ushort)(master.Isr | slave.Isr << 8), (ushort)(master.Imr | slave.Imr << 8));

    private void Update()
    {
        // The slave's INT output is the master's IR2 input.
        master.SetLine(CascadeIrq, slave.PendingRequest() >= 0);
        bool level = master.PendingRequest() >= 0;
        if (level != intr)
        {
            intr = level;
            OutputChanged?.Invoke(level);
        }
    }

    private sealed class InputLine(Pic8259Pair pic, int irq) : IInterruptLine
    {
        public void Set(bool level) => pic.SetIrq(irq, level);
    }

    private sealed class ChipPorts(Pic8259Pair pic, Pic8259Chip chip, string name) : IIoDevice
    {
        public string Name => name;

        public ulong Read(ulong offset, int size)
        {
            if (size != 1 || offset > 1)
            {
                pic.Unexpected.Record(name, $"read of {size} bytes at +{offset}");
                return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
            }

            byte value = chip.Read((int)offset);
            pic.Update(); // a poll read acknowledges
            return value;
        }

        public void Write(ulong offset, int size, ulong value)
        {
            if (size != 1 || offset > 1)
            {
                pic.Unexpected.Record(name, $"write of {size} bytes at +{offset}");
                return;
            }

            chip.Write((int)offset, (byte)value);
            pic.Update();
        }
    }

    private sealed class ElcrRegisters(Pic8259Pair pic, string name) : IIoDevice
    {
        public string Name => name;

        public ulong Read(ulong offset, int size)
        {
            if (size != 1 || offset > 1)
            {
                pic.Unexpected.Record(name, $"read of {size} bytes at +{offset}");
                return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
            }

            return offset == 0 ? pic.master.Elcr : pic.slave.Elcr;
        }

        public void Write(ulong offset, int size, ulong value)
        {
            if (size != 1 || offset > 1)
            {
                pic.Unexpected.Record(name, $"write of {size} bytes at +{offset}");
                return;
            }

            (offset == 0 ? pic.master : pic.slave).Elcr = (byte)value;
            pic.Update();
        }
    }
}
