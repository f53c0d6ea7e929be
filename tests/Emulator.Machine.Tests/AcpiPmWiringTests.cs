using System.Text;
using Emulator.Devices.AcpiPm;
using Emulator.Devices.Bus;
using Emulator.Machine.Acpi;
using Xunit;
using static Emulator.Machine.Tests.TestImages;

namespace Emulator.Machine.Tests;

/// <summary>
/// What the tables tell the OS, done to the devices the way the OS does it: the S5 type from
/// the DSDT written to the FADT's PM1a_CNT_BLK powers off, the FADT's RESET_VALUE written to
/// RESET_REG resets, and PM_TMR_BLK is the 3.579545 MHz timer.
/// </summary>
public class AcpiPmWiringTests
{
    private readonly AcpiTables tables = AcpiTables.Build(new AcpiConfig(), DsdtBuilder.ForMicrovm());
    private long nowNs;

    /// <summary>Finds Name(_S5_, Package {a, ...}) in the DSDT and returns SLP_TYPa (byte constant or Zero/One).</summary>
    private int S5TypeFromDsdt()
    {
        var dsdt = tables.Table("DSDT").ToArray();
        string hex = Convert.ToHexString(dsdt);
        int at = hex.IndexOf("085F53355F12", StringComparison.Ordinal) / 2; // NameOp "_S5_" PackageOp
        Assert.True(at > 0);
        int first = at + 6 + 1 + 1; // past PkgLength (one byte here) and NumElements
        return dsdt[first] switch
        {
            0x00 => 0,
            0x01 => 1,
            0x0a => dsdt[first + 1],
            _ => throw new Xunit.Sdk.XunitException("unexpected _S5 element encoding"),
        };
    }

    [Fact]
    public void S5FromTheDsdtWrittenToPm1aCntPowersOff()
    {
        var fadt = tables.Table("FACP");
        ushort cntPort = (ushort)Read(fadt, 64, 4);
        var pm = new AcpiPmDevice(() => nowNs, NullInterruptLine.Instance);
        int offs = 0;
        pm.PowerOff += () => offs++;

        // ACPICA's S5 sequence: read PM1a_CNT, put SLP_TYP in, write, then write again with SLP_EN.
        ulong offset = (ulong)(cntPort - AcpiPmRegisters.DefaultBase);
        ulong cnt = pm.Read(offset, 2) & ~(ulong)(7 << 10 | 1 << 13);
        cnt |= (ulong)S5TypeFromDsdt() << 10;
        pm.Write(offset, 2, cnt);
        Assert.Equal(0, offs);
        pm.Write(offset, 2, cnt | 1 << 13);
        Assert.Equal(1, offs);
    }

    [Fact]
    public void ResetRegisterAndValueFromTheFadtReset()
    {
        var fadt = tables.Table("FACP");
        Assert.Equal(1, fadt[116]); // SystemIO
        Assert.Equal((ulong)ResetControlRegisters.Port, Read(fadt, 120, 8));
        var reset = new ResetControlDevice();
        bool? hard = null;
        reset.ResetRequested += h => hard = h;
        reset.Write(0, 1, fadt[128]);
        Assert.True(hard);
    }

    [Fact]
    public void PmTimerBlockIsTheTimer()
    {
        var fadt = tables.Table("FACP");
        ulong offset = Read(fadt, 76, 4) - AcpiPmRegisters.DefaultBase;
        var pm = new AcpiPmDevice(() => nowNs, NullInterruptLine.Instance);
        nowNs = 2_000_000_000;
        Assert.Equal(2UL * 3_579_545, pm.Read(offset, 4));
        Assert.Equal("FACP", Encoding.ASCII.GetString(fadt[..4]));
    }
}
