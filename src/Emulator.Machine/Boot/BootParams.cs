using System.Buffers.Binary;
using static Emulator.Machine.Boot.SetupHeader;

namespace Emulator.Machine.Boot;

/// <summary>
/// The "zero page", struct boot_params (Linux Documentation/arch/x86/zero-page.rst): 4 KiB
/// holding the setup header at 0x1F1 plus what the boot loader tells the kernel (command
/// line, initrd, e820 map, RSDP address).
/// </summary>
public static class BootParams
{
    public const int Size = 4096;

    // zero-page.rst offsets.
    public const int AcpiRsdpAddr = 0x070;
    public const int ExtRamdiskImage = 0x0c0;
    public const int ExtRamdiskSize = 0x0c4;
    public const int ExtCmdLinePtr = 0x0c8;
    public const int E820Entries = 0x1e8;

    /// <summary>Must be zero: a non-zero sentinel tells the kernel the loader did not clear boot_params.</summary>
    public const int Sentinel = 0x1ef;
    public const int E820Table = 0x2d0;
    public const int E820MaxEntries = 128;

    /// <summary>heap_end_ptr as QEMU sets it; only the real-mode setup code (not run here) reads it.</summary>
    public const ushort HeapEndPtr = 0xfe00;

    /// <summary>What the loader decided, written into a boot_params page.</summary>
    public sealed record Contents
    {
        public required byte[] Header { get; init; }

        public required ulong CommandLineAddress { get; init; }

        public ulong InitrdAddress { get; init; }

        public ulong InitrdSize { get; init; }

        public required IReadOnlyList<E820Entry> E820 { get; init; }

        public ulong AcpiRsdpAddress { get; init; }

        /// <summary>code32_start: where the protected-mode kernel was loaded.</summary>
        public ulong KernelLoadAddress { get; init; }
    }

    public static byte[] Build(Contents c)
    {
        if (c.E820.Count > E820MaxEntries)
        {
            throw new ArgumentException($"{c.E820.Count} e820 entries exceed the {E820MaxEntries} boot_params has room for");
        }

        var page = new byte[Size];
        Span<byte> p = page;
        c.Header.AsSpan(0, Math.Min(c.Header.Length, MaxEnd - Start)).CopyTo(p[Start..]);

        // The loader's part of the setup header (boot.rst, "Details of Header Fields": fields marked "write").
        p[TypeOfLoader] = UndefinedLoader;
        p[LoadFlags] = LOADED_HIGH | CAN_USE_HEAP;
        BinaryPrimitives.WriteUInt16LittleEndian(p[SetupHeader.HeapEndPtr..], HeapEndPtr);
        BinaryPrimitives.WriteUInt32LittleEndian(p[Code32Start..], (uint)c.KernelLoadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[CmdLinePtr..], (uint)c.CommandLineAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtCmdLinePtr..], (uint)(c.CommandLineAddress >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p[RamdiskImage..], (uint)c.InitrdAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtRamdiskImage..], (uint)(c.InitrdAddress >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p[RamdiskSize..], (uint)c.InitrdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtRamdiskSize..], (uint)(c.InitrdSize >> 32));
        BinaryPrimitives.WriteUInt64LittleEndian(p[SetupData..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(p[HardwareSubarch..], 0); // a normal PC
        BinaryPrimitives.WriteUInt64LittleEndian(p[AcpiRsdpAddr..], c.AcpiRsdpAddress);

        p[E820Entries] = (byte)c.E820.Count;
        for (int i = 0; i < c.E820.Count; i++)
        {
            var e = p[(E820Table + i * E820Entry.EncodedSize)..];
            BinaryPrimitives.WriteUInt64LittleEndian(e, c.E820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], c.E820[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)c.E820[i].Type);
        }

        return page;
    }
}
