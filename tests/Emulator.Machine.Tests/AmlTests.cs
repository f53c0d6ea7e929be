using Emulator.Machine.Acpi;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>AML encodings checked against bytes worked out by hand from ACPI 6.0 chapters 6.4 and 20.</summary>
public class AmlTests
{
    private static string Hex(byte[] b) => Convert.ToHexString(b);

    [Theory]
    [InlineData(0UL, "00")] // ZeroOp
    [InlineData(1UL, "01")] // OneOp
    [InlineData(5UL, "0A05")] // BytePrefix
    [InlineData(0x3f8UL, "0BF803")] // WordPrefix, little-endian
    [InlineData(0xfeb00000UL, "0C0000B0FE")] // DWordPrefix
    [InlineData(0x1_0000_0000UL, "0E0000000001000000")] // QWordPrefix
    public void IntegersUseTheShortestEncoding(ulong value, string hex) => Assert.Equal(hex, Hex(Aml.Integer(value)));

    [Fact]
    public void StringIsPrefixCharactersNul() => Assert.Equal("0D4C4E524F3030303500", Hex(Aml.String("LNRO0005")));

    [Theory]
    [InlineData("PNP0501", "0C41D00501")] // 'P'=10000 'N'=01110 'P'=10000 -> 0x41D0, product 0x0501
    [InlineData("PNP0A03", "0C41D00A03")]
    public void EisaIdIsCompressedBigEndian(string id, string hex) => Assert.Equal(hex, Hex(Aml.EisaId(id)));

    [Theory]
    [InlineData("COM1", "434F4D31")]
    [InlineData("_SB", "5F53425F")] // padded with '_'
    [InlineData("\\_SB_", "5C5F53425F")] // RootChar
    [InlineData("^PCI0", "5E50434930")] // ParentPrefixChar
    [InlineData("\\_SB_.COM1", "5C2E5F53425F434F4D31")] // DualNamePrefix
    [InlineData("A.B.C", "2F03415F5F5F425F5F5F435F5F5F")] // MultiNamePrefix, count 3
    public void NameStrings(string path, string hex) => Assert.Equal(hex, Hex(Aml.NameString(path)));

    [Theory]
    [InlineData(0, "01")]
    [InlineData(62, "3F")] // the largest one-byte PkgLength, 63
    [InlineData(63, "4104")] // 65 = 0x41: lead 0x40 | 1, then 0x41 >> 4
    [InlineData(4093, "4FFF")] // 4095, the largest two-byte length
    [InlineData(4094, "810001")] // 4097 = 0x1001: three bytes
    public void PkgLengthCountsItself(int contentLength, string headHex)
    {
        var encoded = Aml.WithPkgLength(new byte[contentLength]);
        Assert.Equal(headHex, Hex(encoded[..(encoded.Length - contentLength)]));
    }

    [Fact]
    public void S5PackageMatchesTheSpecLayout()
    {
        // Name(_S5_, Package(4) {5, 5, 0, 0}): NameOp "_S5_" PackageOp PkgLength=8 NumElements=4 0A05 0A05 00 00.
        Assert.Equal("085F53355F1208040A050A050000", Hex(DsdtBuilder.S5Object()));
    }

    [Fact]
    public void SerialPortDeviceMatchesHandAssembledAml()
    {
        // Device (COM1) {
        //   Name (_HID, EisaId ("PNP0501"))   08 5F484944 0C 41D00501              10 bytes
        //   Name (_UID, One)                  08 5F554944 01                        6 bytes
        //   Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8)  IRQNoFlags () {4} })
        //                                     08 5F435253 11 10 0A 0D
        //                                        47 01 F803 F803 01 08   (I/O port descriptor, 6.4.2.5)
        //                                        22 1000                 (IRQ descriptor, mask bit 4, 6.4.2.1)
        //                                        79 00                   (End Tag, 6.4.2.9)   22 bytes
        // }  ExtOpPrefix DeviceOp, PkgLength = 1 + 4 + 10 + 6 + 22 = 43 = 0x2B
        const string expected =
            "5B822B" + "434F4D31" +
            "085F4849440C41D00501" +
            "085F55494401" +
            "085F435253" + "11100A0D" + "4701F803F8030108" + "221000" + "7900";
        Assert.Equal(expected, Hex(DsdtBuilder.SerialPortDevice("COM1", 1, 0x3f8, 4)));
    }

    [Fact]
    public void VirtioMmioDeviceMatchesHandAssembledAml()
    {
        // Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, Zero) Name (_CCA, One)
        //   Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xFEB00000, 0x200)
        //                                     Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) {16} }) }
        // Body: 4 + 15 + 6 + 6 + (5 + 27) = 63 bytes, so PkgLength takes two bytes: 65 = 0x41 -> 41 04.
        const string expected =
            "5B824104" + "56523030" +
            "085F4849440D4C4E524F3030303500" +
            "085F55494400" +
            "085F43434101" +
            "085F435253" + "111A0A17" +
            "8609000100" + "00B0FE" + "00020000" + // Memory32Fixed: RW, base, length (6.4.3.4)
            "8906000101" + "10000000" + // Extended Interrupt: consumer, level, high, exclusive; one GSI (6.4.3.6)
            "7900";
        var dsdt = new DsdtBuilder().AddVirtioMmio(0xfeb0_0000, 0x200, 16);
        byte[] aml = dsdt.BuildAml();
        string hex = Hex(aml);
        Assert.Contains(expected, hex);
        Assert.Equal(1, dsdt.VirtioMmioCount);
    }

    [Fact]
    public void DsdtIsS5ThenTheSystemBusScope()
    {
        var table = DsdtBuilder.ForMicrovm().AddVirtioMmio(0xfeb0_0000, 0x200, 16).AddVirtioMmio(0xfeb0_0200, 0x200, 17).Build();
        Assert.Equal("DSDT", System.Text.Encoding.ASCII.GetString(table, 0, 4));
        Assert.Equal(table.Length, BitConverter.ToInt32(table, 4));
        Assert.Equal(2, table[8]); // revision 2: 64-bit integers
        Assert.Equal(0, AcpiTable.Sum(table));

        byte[] body = table[36..];
        byte[] s5 = DsdtBuilder.S5Object();
        Assert.Equal(Hex(s5), Hex(body[..s5.Length]));

        // Scope (\_SB_) follows: ScopeOp, a PkgLength covering the rest of the table, the root name.
        var scope = body[s5.Length..];
        Assert.Equal(Aml.ScopeOp, scope[0]);
        int lead = scope[1];
        int follow = lead >> 6;
        int pkgLength = lead & (follow == 0 ? 0x3f : 0x0f);
        for (int i = 0; i < follow; i++)
        {
            pkgLength |= scope[2 + i] << (4 + 8 * i);
        }

        Assert.Equal(scope.Length - 1, pkgLength);
        Assert.Equal("5C5F53425F", Hex(scope[(2 + follow)..(7 + follow)]));
        string hex = Hex(body);
        Assert.Contains(Hex(DsdtBuilder.SerialPortDevice("COM1", 1, 0x3f8, 4)), hex);
        Assert.Contains("56523031" + "085F4849440D4C4E524F3030303500" + "085F55494401", hex); // VR01 with _UID One
    }

    [Fact]
    public void BadNamesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => Aml.NameSeg("1ABC"));
        Assert.Throws<ArgumentException>(() => Aml.NameSeg("TOOLONG"));
        Assert.Throws<ArgumentException>(() => Aml.EisaId("pnp0501"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DsdtBuilder().AddVirtioMmio(0xffff_ff00, 0x200, 16));
    }
}
