using System.Buffers.Binary;
using System.Text;
using Emulator.X86.Memory;

namespace Emulator.Machine.Acpi;

/// <summary>
/// The machine's ACPI tables laid out for guest memory: the RSDP (on its own, where the OS
/// looks for it) and one contiguous area holding FACS, DSDT, FADT, MADT and XSDT, with every
/// pointer already resolved to a guest physical address.
/// </summary>
public sealed class AcpiTables
{
    public const int RsdpLength = 36;

    /// <summary>The FACS has no header checksum and must be 64-byte aligned (ACPI 6.0, 5.2.10).</summary>
    public const int FacsLength = 64;

    private AcpiTables(ulong rsdpAddress, byte[] rsdp, ulong tablesAddress, byte[] tables, IReadOnlyDictionary<string, ulong> addresses)
    {
        RsdpAddress = rsdpAddress;
        Rsdp = rsdp;
        TablesAddress = tablesAddress;
        Tables = tables;
        Addresses = addresses;
    }

    public ulong RsdpAddress { get; }

    public byte[] Rsdp { get; }

    public ulong TablesAddress { get; }

    /// <summary>The table area, to be written at <see cref="TablesAddress"/>.</summary>
    public byte[] Tables { get; }

    /// <summary>Guest address of each table by signature ("FACS", "DSDT", "FACP", "APIC", "XSDT").</summary>
    public IReadOnlyDictionary<string, ulong> Addresses { get; }

    /// <summary>The bytes of one table, by signature, as they will be in guest memory.</summary>
    public ReadOnlySpan<byte> Table(string signature)
    {
        int at = (int)(Addresses[signature] - TablesAddress);
        int length = signature == "FACS" ? FacsLength : BinaryPrimitives.ReadInt32LittleEndian(Tables.AsSpan(at + AcpiTable.LengthOffset));
        return Tables.AsSpan(at, length);
    }

    /// <summary>
    /// Lays the tables out from <paramref name="tablesAddress"/> (page aligned) and the RSDP at
    /// <paramref name="rsdpAddress"/> (16-byte aligned so the legacy scan of 0xE0000-0xFFFFF finds it).
    /// </summary>
    public static AcpiTables Build(AcpiConfig config, DsdtBuilder dsdt, ulong tablesAddress = AcpiLayout.TablesAddress, ulong rsdpAddress = AcpiLayout.RsdpAddress)
    {
        if ((tablesAddress & 0xfff) != 0 || (rsdpAddress & 0xf) != 0)
        {
            throw new ArgumentException($"ACPI tables at 0x{tablesAddress:x} must be page aligned and the RSDP at 0x{rsdpAddress:x} 16-byte aligned");
        }

        var area = new List<byte>();
        var addresses = new Dictionary<string, ulong>();
        ulong Place(string signature, byte[] table, int alignment)
        {
            while (area.Count % alignment != 0)
            {
                area.Add(0);
            }

            ulong at = tablesAddress + (ulong)area.Count;
            area.AddRange(table);
            addresses[signature] = at;
            return at;
        }

        ulong facs = Place("FACS", BuildFacs(), 64);
        ulong dsdtAt = Place("DSDT", dsdt.Build(), 8);
        ulong fadt = Place("FACP", Fadt.Build(config, dsdtAt, facs), 8);
        ulong madt = Place("APIC", Madt.Build(config), 8);
        ulong xsdt = Place("XSDT", BuildXsdt([fadt, madt]), 8);
        if (tablesAddress + (ulong)area.Count > AcpiLayout.TablesLimit && tablesAddress < AcpiLayout.TablesLimit)
        {
            throw new InvalidOperationException($"ACPI tables need 0x{area.Count:x} bytes and overrun the BIOS area end 0x{AcpiLayout.TablesLimit:x}");
        }

        return new AcpiTables(rsdpAddress, BuildRsdp(xsdt), tablesAddress, area.ToArray(), addresses);
    }

    /// <summary>Writes the RSDP and the table area into guest RAM.</summary>
    public void WriteTo(GuestMemory memory)
    {
        Rsdp.CopyTo(memory.Span(RsdpAddress, Rsdp.Length));
        Tables.CopyTo(memory.Span(TablesAddress, Tables.Length));
    }

    /// <summary>
    /// RSDP revision 2 (ACPI 6.0, 5.2.5.3): "RSD PTR ", checksum over the first 20 bytes, OEM ID,
    /// revision 2, no RSDT (the XSDT is used), length 36, XSDT address, extended checksum over all 36.
    /// </summary>
    public static byte[] BuildRsdp(ulong xsdtAddress)
    {
        var r = new byte[RsdpLength];
        Encoding.ASCII.GetBytes("RSD PTR ").CopyTo(r, 0);
        Encoding.ASCII.GetBytes(AcpiTable.OemId).CopyTo(r, 9);
        r[15] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(16), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(20), RsdpLength);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), xsdtAddress);
        r[8] = AcpiTable.Checksum(r.AsSpan(0, 20), 8);
        r[32] = AcpiTable.Checksum(r, 32);
        return r;
    }

    /// <summary>XSDT (5.2.8): the header and 64-bit pointers to every other table but the DSDT and FACS (reached through the FADT).</summary>
    public static byte[] BuildXsdt(IReadOnlyList<ulong> entries)
    {
        var body = new byte[8 * entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8 * i), entries[i]);
        }

        return AcpiTable.Build("XSDT", 1, body);
    }

    /// <summary>
    /// FACS (5.2.10): required when the FADT is not hardware-reduced. Version 2; hardware
    /// signature 0; no waking vector (S3 is not offered) and no global lock owner.
    /// </summary>
    public static byte[] BuildFacs()
    {
        var f = new byte[FacsLength];
        Encoding.ASCII.GetBytes("FACS").CopyTo(f, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(4), FacsLength);
        f[32] = 2; // Version
        return f;
    }
}
