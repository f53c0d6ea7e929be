using System.Text;
using Emulator.Machine.Acpi;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Machine.Tests.TestImages;

namespace Emulator.Machine.Tests;

/// <summary>The ACPI tables checked field by field against ACPI 6.0 chapter 5.</summary>
public class AcpiTablesTests
{
    private static AcpiTables Build(int cpus = 1) =>
        AcpiTables.Build(new AcpiConfig { CpuCount = cpus }, DsdtBuilder.ForMicrovm().AddVirtioMmio(0xfeb0_0000, 0x200, 16));

    [Fact]
    public void RsdpHasBothChecksumsAndPointsAtTheXsdt()
    {
        var t = Build();
        byte[] r = t.Rsdp;
        Assert.Equal(36, r.Length);
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(r, 0, 8));
        Assert.Equal(0, AcpiTable.Sum(r.AsSpan(0, 20))); // ACPI 1.0 checksum over the first 20 bytes
        Assert.Equal(0, AcpiTable.Sum(r)); // extended checksum over all 36
        Assert.Equal(2, r[15]);
        Assert.Equal(36UL, Read(r, 20, 4));
        Assert.Equal(t.Addresses["XSDT"], Read(r, 24, 8));
        Assert.Equal(0xe0000UL, t.RsdpAddress);
    }

    [Theory]
    [InlineData("DSDT", 2)]
    [InlineData("FACP", 6)]
    [InlineData("APIC", 4)]
    [InlineData("XSDT", 1)]
    public void EveryTableChecksumsToZeroAndStatesItsLength(string signature, byte revision)
    {
        var t = Build(2);
        var table = t.Table(signature);
        Assert.Equal(signature, Encoding.ASCII.GetString(table[..4]));
        Assert.Equal((ulong)table.Length, Read(table, 4, 4));
        Assert.Equal(revision, table[8]);
        Assert.Equal(0, AcpiTable.Sum(table));
        Assert.Equal("EMUPC ", Encoding.ASCII.GetString(table.Slice(10, 6)));
    }

    [Fact]
    public void XsdtListsFadtAndMadt()
    {
        var t = Build();
        var x = t.Table("XSDT");
        Assert.Equal(36 + 16, x.Length);
        Assert.Equal(t.Addresses["FACP"], Read(x, 36, 8));
        Assert.Equal(t.Addresses["APIC"], Read(x, 44, 8));
    }

    [Fact]
    public void FadtDescribesThePmBlockSciResetAndDsdt()
    {
        var t = Build();
        var f = t.Table("FACP");
        Assert.Equal(276, f.Length);
        Assert.Equal(9UL, Read(f, 46, 2)); // SCI_INT
        Assert.Equal(0UL, Read(f, 48, 4)); // SMI_CMD: none, always in ACPI mode
        Assert.Equal(0x600UL, Read(f, 56, 4)); // PM1a_EVT_BLK
        Assert.Equal(0x604UL, Read(f, 64, 4)); // PM1a_CNT_BLK
        Assert.Equal(0x608UL, Read(f, 76, 4)); // PM_TMR_BLK
        Assert.Equal(0UL, Read(f, 80, 4)); // no GPE0 block
        Assert.Equal(4, f[88]); // PM1_EVT_LEN
        Assert.Equal(2, f[89]); // PM1_CNT_LEN
        Assert.Equal(4, f[91]); // PM_TMR_LEN

        ulong flags = Read(f, 112, 4);
        Assert.NotEqual(0UL, flags & (1 << 10)); // RESET_REG_SUP
        Assert.Equal(0UL, flags & (1 << 8)); // TMR_VAL_EXT clear: 24-bit timer
        Assert.Equal(0UL, flags & (1 << 20)); // not HW_REDUCED_ACPI
        Assert.Equal(0UL, flags & (1 << 4)); // power button is a fixed feature
        Assert.NotEqual(0UL, flags & 1); // WBINVD

        ulong bootArch = Read(f, 109, 2);
        Assert.NotEqual(0UL, bootArch & 2); // 8042 present

        // RESET_REG: GAS {SystemIO, 8 bits, offset 0, byte access, 0xCF9}, RESET_VALUE 6.
        Assert.Equal("010800" + "01" + "F90C000000000000", Hex(f.Slice(116, 12)));
        Assert.Equal(6, f[128]);

        Assert.Equal(0UL, Read(f, 36, 4)); // FIRMWARE_CTRL: the X_ field is used instead
        Assert.Equal(0UL, Read(f, 40, 4)); // DSDT: likewise
        Assert.Equal(t.Addresses["FACS"], Read(f, 132, 8));
        Assert.Equal(t.Addresses["DSDT"], Read(f, 140, 8));

        // X_PM1a_EVT_BLK {SystemIO, 32 bits, word access, 0x600}, X_PM1a_CNT_BLK, X_PM_TMR_BLK.
        Assert.Equal("01200002" + "0006000000000000", Hex(f.Slice(148, 12)));
        Assert.Equal("01100002" + "0406000000000000", Hex(f.Slice(172, 12)));
        Assert.Equal("01200003" + "0806000000000000", Hex(f.Slice(208, 12)));
    }

    [Fact]
    public void FacsIs64ByteAlignedVersion2()
    {
        var t = Build();
        Assert.Equal(0UL, t.Addresses["FACS"] % 64);
        var facs = t.Table("FACS");
        Assert.Equal("FACS", Encoding.ASCII.GetString(facs[..4]));
        Assert.Equal(64UL, Read(facs, 4, 4));
        Assert.Equal(2, facs[32]);
    }

    [Fact]
    public void MadtForOneCpu()
    {
        var m = Build(1).Table("APIC");
        Assert.Equal(36 + 8 + 8 + 12 + 10 + 10 + 6, m.Length);
        Assert.Equal(0xfee00000UL, Read(m, 36, 4));
        Assert.Equal(1UL, Read(m, 40, 4)); // PCAT_COMPAT
        Assert.Equal(
            "0008000001000000" + // Processor Local APIC: UID 0, APIC ID 0, enabled
            "010C000000 00C0FE 00000000".Replace(" ", "") + // I/O APIC: ID 0, 0xFEC00000, GSI base 0
            "020A0000020000000500" + // ISO: ISA IRQ 0 -> GSI 2, edge, active high
            "020A0009090000000D00" + // ISO: ISA IRQ 9 -> GSI 9, level, active high (the SCI)
            "0406FF000001", // Local APIC NMI: all processors, flags 0, LINT1
            Hex(m[44..]));
    }

    [Fact]
    public void MadtForFourCpusHasOneEnabledLocalApicEach()
    {
        var m = Build(4).Table("APIC");
        Assert.Equal(36 + 8 + 4 * 8 + 12 + 10 + 10 + 6, m.Length);
        for (int i = 0; i < 4; i++)
        {
            var e = m.Slice(44 + 8 * i, 8);
            Assert.Equal($"0008{i:X2}{i:X2}01000000", Hex(e));
        }

        Assert.Equal(1, m[44 + 32]); // then the I/O APIC
    }

    [Fact]
    public void WrittenToMemoryTheRsdpIsFoundByTheLegacyScan()
    {
        var t = Build();
        using var mem = new GuestMemory(2 << 20);
        t.WriteTo(mem);

        // Linux's fallback (drivers/acpi ... acpi_find_root_pointer): 16-byte steps over 0xE0000-0xFFFFF.
        ulong found = 0;
        for (ulong a = 0xe0000; a < 0x100000; a += 16)
        {
            var c = mem.Span(a, 20);
            if (Encoding.ASCII.GetString(c[..8]) == "RSD PTR " && AcpiTable.Sum(c) == 0)
            {
                found = a;
                break;
            }
        }

        Assert.Equal(t.RsdpAddress, found);
        ulong xsdt = Read(mem.Span(found + 24, 8), 0, 8);
        Assert.Equal("XSDT", Encoding.ASCII.GetString(mem.Span(xsdt, 4)));
        ulong fadt = Read(mem.Span(xsdt + 36, 8), 0, 8);
        ulong dsdt = Read(mem.Span(fadt + 140, 8), 0, 8);
        int dsdtLength = (int)Read(mem.Span(dsdt + 4, 4), 0, 4);
        Assert.Equal(0, AcpiTable.Sum(mem.Span(dsdt, dsdtLength)));
        Assert.True(t.TablesAddress + (ulong)t.Tables.Length <= 0x100000);
    }
}
