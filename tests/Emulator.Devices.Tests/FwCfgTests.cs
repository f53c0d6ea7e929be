using System.Buffers.Binary;
using System.Text;
using Emulator.Devices.DebugExit;
using Emulator.Devices.FwCfg;
using Xunit;

namespace Emulator.Devices.Tests;

public class FwCfgTests
{
    private static FwCfgDevice Device()
    {
        var items = FwCfgItems.Standard(512UL << 20, 4, "console=ttyS0");
        items.AddFile("etc/e820", [1, 2, 3, 4, 5]);
        items.AddFile("etc/a-first", [9]);
        return new FwCfgDevice(items);
    }

    private static void Select(FwCfgDevice d, ushort key) => d.Write(FwCfgRegisters.SelectorOffset, 2, key);

    private static byte[] Read(FwCfgDevice d, int count)
    {
        var bytes = new byte[count];
        for (int i = 0; i < count; i++)
        {
            bytes[i] = (byte)d.Read(FwCfgRegisters.DataOffset, 1);
        }

        return bytes;
    }

    [Fact]
    public void TheSignatureIsQemuAndTheIdSaysNoDma()
    {
        var d = Device();
        Select(d, FwCfgRegisters.Signature);
        Assert.Equal("QEMU", Encoding.ASCII.GetString(Read(d, 4)));
        Select(d, FwCfgRegisters.Id);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(Read(d, 4)));
        Assert.Equal(0, d.Unexpected.Count);
    }

    [Fact]
    public void CpuCountRamSizeAndCommandLineAreLittleEndianItems()
    {
        var d = Device();
        Select(d, FwCfgRegisters.NbCpus);
        Assert.Equal(4, BinaryPrimitives.ReadUInt16LittleEndian(Read(d, 2)));
        Select(d, FwCfgRegisters.RamSize);
        Assert.Equal(512UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(Read(d, 8)));
        Select(d, FwCfgRegisters.CmdlineSize);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(Read(d, 4));
        Assert.Equal((uint)"console=ttyS0".Length + 1, size);
        Select(d, FwCfgRegisters.CmdlineData);
        Assert.Equal("console=ttyS0\0", Encoding.ASCII.GetString(Read(d, (int)size)));
    }

    [Fact]
    public void SelectingRestartsAtOffsetZeroAndReadingPastTheEndGivesZero()
    {
        var d = Device();
        Select(d, FwCfgRegisters.Signature);
        Assert.Equal("QE", Encoding.ASCII.GetString(Read(d, 2)));
        Select(d, FwCfgRegisters.Signature);
        Assert.Equal("QEMU", Encoding.ASCII.GetString(Read(d, 4)));
        Assert.Equal(new byte[4], Read(d, 4));

        // A key with no item reads as zeros; data writes are ignored; a byte read at the selector
        // port is a data read too (as QEMU's I/O interface); a wider read is refused and counted.
        Select(d, 0x1234);
        Assert.Equal(new byte[3], Read(d, 3));
        Select(d, FwCfgRegisters.Signature);
        d.Write(FwCfgRegisters.DataOffset, 1, 0xff);
        Assert.Equal((ulong)'Q', d.Read(FwCfgRegisters.SelectorOffset, 1));
        Assert.Equal((ulong)'E', d.Read(FwCfgRegisters.DataOffset, 1));
        Assert.Equal(0UL, d.Read(FwCfgRegisters.DataOffset, 4));
        Assert.Equal(1, d.Unexpected.Count);

        // The write-channel bit selects the same item.
        Select(d, FwCfgRegisters.Signature | FwCfgRegisters.WriteChannel);
        Assert.Equal("QEMU", Encoding.ASCII.GetString(Read(d, 4)));
    }

    [Fact]
    public void TheFileDirectoryIsBigEndianAndSortedByName()
    {
        var d = Device();
        Select(d, FwCfgRegisters.FileDir);
        byte[] count = Read(d, 4);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(count));
        var entries = new List<(uint Size, ushort Key, string Name)>();
        for (int i = 0; i < 2; i++)
        {
            byte[] e = Read(d, FwCfgRegisters.FileEntrySize);
            entries.Add((BinaryPrimitives.ReadUInt32BigEndian(e), BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4)), Encoding.ASCII.GetString(e, 8, 56).TrimEnd('\0')));
        }

        Assert.Equal(["etc/a-first", "etc/e820"], entries.Select(e => e.Name));
        Assert.Equal([1u, 5u], entries.Select(e => e.Size));
        var e820 = entries.Single(e => e.Name == "etc/e820");
        Select(d, e820.Key);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, Read(d, 5));
    }

    [Fact]
    public void TheSelectorAndOffsetAreSavedAndRestored()
    {
        var d = Device();
        Select(d, FwCfgRegisters.Signature);
        Read(d, 2);
        var copy = Device();
        byte[] saved = FwCfgDevice.SavedState.Save(d);
        FwCfgDevice.SavedState.Load(copy, 1, saved, "fw_cfg").Apply();
        Assert.Equal("MU", Encoding.ASCII.GetString(Read(copy, 2)));
        Assert.Throws<Emulator.Devices.State.DeviceStateException>(() => FwCfgDevice.SavedState.Load(copy, 99, saved, "fw_cfg"));
    }

    [Fact]
    public void IsaDebugExitAsksForValueShiftedLeftOrOne()
    {
        var d = new IsaDebugExit();
        var statuses = new List<int>();
        d.ExitRequested += statuses.Add;
        d.Write(0, 1, 0);
        d.Write(0, 4, 0x2a);
        Assert.Equal([1, 0x55], statuses);
        Assert.Equal(0UL, d.Read(0, 1));
    }
}
