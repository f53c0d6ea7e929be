using Emulator.Devices.AcpiPm;
using Emulator.Devices.Virtio;
using Emulator.Machine.Pc;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Cli.Fuzz;

/// <summary>
/// Guest code that talks to the machine's devices at random: port reads and writes (the PC's
/// ports, and any port), string I/O, MMIO reads and writes to the local APIC, the IOAPIC and the
/// virtio-mmio windows, and virtio queue set-ups that point the device at random descriptor
/// tables (huge lengths, aliased buffers, loops, addresses outside RAM) and notify it.
/// </summary>
internal static class IoProgram
{
    private static readonly ushort[] Ports =
    [
        0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x60, 0x64, 0x80, 0xcf9,
        0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff,
        AcpiPmRegisters.DefaultBase, AcpiPmRegisters.DefaultBase + 1, AcpiPmRegisters.DefaultBase + 2, AcpiPmRegisters.DefaultBase + 3,
        AcpiPmRegisters.DefaultBase + 4, AcpiPmRegisters.DefaultBase + 5, AcpiPmRegisters.DefaultBase + 8,
    ];

    private static readonly ulong[] VirtioRegisters =
    [
        VirtioMmioRegisters.DeviceFeaturesSel, VirtioMmioRegisters.DriverFeatures, VirtioMmioRegisters.DriverFeaturesSel,
        VirtioMmioRegisters.QueueSel, VirtioMmioRegisters.QueueNum, VirtioMmioRegisters.QueueReady, VirtioMmioRegisters.QueueNotify,
        VirtioMmioRegisters.InterruptAck, VirtioMmioRegisters.Status, VirtioMmioRegisters.QueueDescLow, VirtioMmioRegisters.QueueDescHigh,
        VirtioMmioRegisters.QueueDriverLow, VirtioMmioRegisters.QueueDriverHigh, VirtioMmioRegisters.QueueDeviceLow,
        VirtioMmioRegisters.QueueDeviceHigh, VirtioMmioRegisters.Config,
    ];

    /// <summary>Where a virtio case puts its rings (inside the case's random data).</summary>
    private const ulong Desc = FuzzGuest.Data, Avail = FuzzGuest.Data + 0x1000, Used = FuzzGuest.Data + 0x2000;

    /// <summary>Assembles <paramref name="operations"/> random device accesses (and, if asked, a virtio queue set-up first), then HLT.</summary>
    public static byte[] Build(FuzzRng rng, int operations, bool virtio)
    {
        var a = new Assembler(64);
        if (virtio)
        {
            VirtioSetup(a, rng);
        }

        for (int i = 0; i < operations; i++)
        {
            Operation(a, rng);
        }

        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), FuzzGuest.Code);
        return ms.ToArray();
    }

    /// <summary>Writes a virtio-blk descriptor table and rings into the case's data (after <see cref="FuzzGuest.Write"/>).</summary>
    public static void WriteRings(Span<byte> data, FuzzRng rng)
    {
        // Descriptors: 16 bytes each (addr, len, flags, next). Chains of a header, data and a status
        // byte, with lengths, flags and links at random often enough to hit every check.
        int count = 1 << rng.Below(9);
        for (int i = 0; i < count; i++)
        {
            var d = data[(i * 16)..];
            ulong addr = rng.Below(4) switch
            {
                0 => rng.Interesting(),
                1 => Desc + (ulong)rng.Below(0x1000), // aliasing the rings themselves
                _ => FuzzGuest.Data + 0x3000 + (ulong)rng.Below(0xc000),
            };
            uint len = rng.Below(4) switch
            {
                0 => (uint)rng.Interesting(),
                1 => 16,
                2 => 1,
                _ => (uint)rng.Below(0x10000),
            };
            ushort flags = rng.Chance(70) ? (ushort)rng.Below(8) : (ushort)rng.Next();
            ushort next = rng.Chance(80) ? (ushort)((i + 1) % count) : (ushort)rng.Next();
            WriteDescriptor(d, addr, len, flags, next);
        }

        // The avail ring: flags, idx, then entries; the idx is sometimes far ahead of the ring.
        var avail = data[0x1000..];
        ushort idx = rng.Chance(80) ? (ushort)rng.Below(count + 1) : (ushort)rng.Next();
        avail[2] = (byte)idx;
        avail[3] = (byte)(idx >> 8);
        for (int i = 0; i < 256; i++)
        {
            ushort head = rng.Chance(80) ? (ushort)rng.Below(count) : (ushort)rng.Next();
            avail[4 + i * 2] = (byte)head;
            avail[5 + i * 2] = (byte)(head >> 8);
        }

        // Request headers where descriptors point: type (IN, OUT, FLUSH, GET_ID or any), sector.
        for (int off = 0x3000; off + 16 <= data.Length; off += 0x200)
        {
            uint type = rng.Chance(80) ? (uint)rng.Pick([0, 1, 4, 8]) : (uint)rng.Next();
            data[off] = (byte)type;
            data[off + 1] = (byte)(type >> 8);
            ulong sector = rng.Chance(70) ? (ulong)rng.Below(64) : rng.Interesting();
            for (int b = 0; b < 8; b++)
            {
                data[off + 8 + b] = (byte)(sector >> (8 * b));
            }
        }
    }

    private static void WriteDescriptor(Span<byte> d, ulong addr, uint len, ushort flags, ushort next)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>The driver's side of bringing queue 0 up (virtio 1.2, 4.2.3.2), each step skipped or spoiled now and then.</summary>
    private static void VirtioSetup(Assembler a, FuzzRng rng)
    {
        ulong window = PcMachine.VirtioBase;
        (ulong Register, ulong Value)[] steps =
        [
            (VirtioMmioRegisters.Status, 0),
            (VirtioMmioRegisters.Status, VirtioMmioRegisters.StatusAcknowledge | VirtioMmioRegisters.StatusDriver),
            (VirtioMmioRegisters.DriverFeaturesSel, 1),
            (VirtioMmioRegisters.DriverFeatures, 1), // VIRTIO_F_VERSION_1
            (VirtioMmioRegisters.DriverFeaturesSel, 0),
            (VirtioMmioRegisters.DriverFeatures, rng.Next()),
            (VirtioMmioRegisters.Status, VirtioMmioRegisters.StatusAcknowledge | VirtioMmioRegisters.StatusDriver | VirtioMmioRegisters.StatusFeaturesOk),
            (VirtioMmioRegisters.QueueSel, 0),
            (VirtioMmioRegisters.QueueNum, rng.Chance(80) ? 1UL << rng.Below(9) : (ulong)rng.Below(0x10000)),
            (VirtioMmioRegisters.QueueDescLow, Desc),
            (VirtioMmioRegisters.QueueDescHigh, 0),
            (VirtioMmioRegisters.QueueDriverLow, Avail),
            (VirtioMmioRegisters.QueueDriverHigh, 0),
            (VirtioMmioRegisters.QueueDeviceLow, Used),
            (VirtioMmioRegisters.QueueDeviceHigh, 0),
            (VirtioMmioRegisters.QueueReady, 1),
            (VirtioMmioRegisters.Status, 0xf),
            (VirtioMmioRegisters.QueueNotify, 0),
        ];
        foreach (var (register, value) in steps)
        {
            if (rng.Chance(5))
            {
                continue;
            }

            ulong v = rng.Chance(5) ? rng.Interesting() : value;
            a.mov(rax, window + register);
            a.mov(ecx, (uint)v);
            a.mov(__dword_ptr[rax], ecx);
        }
    }

    private static void Operation(Assembler a, FuzzRng rng)
    {
        switch (rng.Below(10))
        {
            case 0 or 1 or 2:
                a.mov(dx, (short)Port(rng));
                a.mov(rax, rng.Interesting());
                switch (rng.Below(3))
                {
                    case 0: a.@out(dx, al); break;
                    case 1: a.@out(dx, ax); break;
                    default: a.@out(dx, eax); break;
                }

                break;
            case 3:
                a.mov(dx, (short)Port(rng));
                switch (rng.Below(3))
                {
                    case 0: a.@in(al, dx); break;
                    case 1: a.@in(ax, dx); break;
                    default: a.@in(eax, dx); break;
                }

                break;
            case 4:
                a.mov(dx, (short)Port(rng));
                a.mov(rsi, FuzzGuest.Data + (ulong)rng.Below(0x8000));
                a.mov(rdi, FuzzGuest.Data + 0x8000 + (ulong)rng.Below(0x7000));
                a.mov(ecx, (uint)rng.Below(rng.Chance(90) ? 64 : 0x1000));
                if (rng.Chance(50))
                {
                    a.rep.outsb();
                }
                else
                {
                    a.rep.insb();
                }

                break;
            default:
                a.mov(rax, Mmio(rng));
                a.mov(rcx, rng.Interesting());
                bool write = rng.Chance(70);
                switch (rng.Below(4))
                {
                    case 0: if (write) { a.mov(__byte_ptr[rax], cl); } else { a.mov(cl, __byte_ptr[rax]); } break;
                    case 1: if (write) { a.mov(__word_ptr[rax], cx); } else { a.mov(cx, __word_ptr[rax]); } break;
                    case 2: if (write) { a.mov(__dword_ptr[rax], ecx); } else { a.mov(ecx, __dword_ptr[rax]); } break;
                    default: if (write) { a.mov(__qword_ptr[rax], rcx); } else { a.mov(rcx, __qword_ptr[rax]); } break;
                }

                break;
        }
    }

    private static ushort Port(FuzzRng rng) => rng.Chance(85) ? rng.Pick(Ports) : (ushort)rng.Next();

    private static ulong Mmio(FuzzRng rng) => rng.Below(4) switch
    {
        0 => ApicWiring.LocalApicBase + (ulong)rng.Below(0x400) * 4,
        1 => ApicWiring.IoApicBase + (ulong)rng.Pick([0, 0x10, 0x20, 0x40, rng.Below(0x1000)]),
        2 => PcMachine.VirtioBase + (ulong)rng.Below(PcMachine.MaxVirtioDevices) * VirtioMmioRegisters.WindowSize + rng.Pick(VirtioRegisters),
        _ => PcMachine.VirtioBase + (ulong)rng.Below(0x2000) + (rng.Chance(50) ? 0 : 0x10_0000UL * (ulong)rng.Below(0x10)),
    };
}
