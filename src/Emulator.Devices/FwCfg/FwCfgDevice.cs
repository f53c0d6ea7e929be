using System.Buffers.Binary;
using System.Text;
using Emulator.Devices.Bus;
using static Emulator.Devices.FwCfg.FwCfgRegisters;

namespace Emulator.Devices.FwCfg;

/// <summary>
/// The items a <see cref="FwCfgDevice"/> serves: the well-known keys and named files (which get
/// keys from <see cref="FwCfgRegisters.FileFirst"/> on, listed in the FW_CFG_FILE_DIR item).
/// </summary>
public sealed class FwCfgItems
{
    private readonly Dictionary<ushort, byte[]> items = [];
    private readonly List<(string Name, ushort Key)> files = [];

    /// <summary>The standard set: signature, ID (no DMA), RAM size, CPU count (present and maximum) and the command line with its NUL.</summary>
    public static FwCfgItems Standard(ulong ramBytes, int cpus, string commandLine)
    {
        var c = new FwCfgItems();
        c.Add(Signature, "QEMU"u8.ToArray());
        c.AddU32(Id, VersionTraditional);
        c.AddU64(RamSize, ramBytes);
        c.AddU16(NoGraphic, 1);
        c.AddU16(NbCpus, (ushort)cpus);
        c.AddU16(MaxCpus, (ushort)cpus);
        byte[] cmdline = Encoding.UTF8.GetBytes(commandLine + "\0");
        c.AddU32(CmdlineSize, (uint)cmdline.Length);
        c.Add(CmdlineData, cmdline);
        return c;
    }

    public void Add(ushort key, byte[] data) => items[key] = data;

    public void AddU16(ushort key, ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        Add(key, b);
    }

    public void AddU32(ushort key, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Add(key, b);
    }

    public void AddU64(ushort key, ulong value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Add(key, b);
    }

    /// <summary>Adds a named file (such as "etc/e820") and returns its key.</summary>
    public ushort AddFile(string name, byte[] data)
    {
        if (Encoding.UTF8.GetByteCount(name) >= MaxFilePath)
        {
            throw new ArgumentException($"fw_cfg file name '{name}' is longer than {MaxFilePath - 1} bytes", nameof(name));
        }

        ushort key = (ushort)(FileFirst + files.Count);
        files.Add((name, key));
        Add(key, data);
        return key;
    }

    /// <summary>The items with the file directory (big-endian count, then 64-byte entries sorted by name, as QEMU keeps them).</summary>
    public IReadOnlyDictionary<ushort, byte[]> Build()
    {
        var sorted = files.OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        var dir = new byte[4 + sorted.Count * FileEntrySize];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)sorted.Count);
        for (int i = 0; i < sorted.Count; i++)
        {
            var entry = dir.AsSpan(4 + i * FileEntrySize, FileEntrySize);
            BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)items[sorted[i].Key].Length);
            BinaryPrimitives.WriteUInt16BigEndian(entry[4..], sorted[i].Key);
            Encoding.UTF8.GetBytes(sorted[i].Name, entry[8..]);
        }

        var all = new Dictionary<ushort, byte[]>(items) { [FileDir] = dir };
        return all;
    }
}

/// <summary>
/// QEMU's fw_cfg device, traditional interface only (docs/specs/fw_cfg.rst): a write to the
/// selector picks an item and sets the data offset to 0; each data read returns the item's next
/// byte, and 0 past its end or for a key with no item. Data writes are ignored. The items are
/// read-only configuration; the saved state is the selector and the offset. Not thread-safe.
/// </summary>
public sealed partial class FwCfgDevice(IReadOnlyDictionary<ushort, byte[]> items) : IIoDevice
{
    private ushort selector;
    private uint offset;

    public FwCfgDevice(FwCfgItems items)
        : this(items.Build())
    {
    }

    public string Name => "fw_cfg";

    public UnexpectedAccesses Unexpected { get; } = new();

    public ushort Selector => selector;

    /// <summary>
    /// A byte read at either port is the data register (QEMU's x86 I/O interface accepts 8-bit
    /// reads at 0x510 too); wider reads are not part of the I/O interface.
    /// </summary>
    public ulong Read(ulong at, int size)
    {
        if (size != 1)
        {
            Unexpected.Record(Name, $"read of {size} bytes at +0x{at:x}");
            return 0;
        }

        return NextByte();
    }

    /// <summary>A 16-bit write at the selector port selects an item; a byte write is a data write, ignored (fw_cfg.rst: no-ops since QEMU v2.4).</summary>
    public void Write(ulong at, int size, ulong value)
    {
        if (at == SelectorOffset && size == 2)
        {
            selector = (ushort)value;
            offset = 0;
            return;
        }

        if (size != 1)
        {
            Unexpected.Record(Name, $"write of {size} bytes at +0x{at:x}");
        }
    }

    private byte NextByte()
    {
        ushort key = (ushort)(selector & ~WriteChannel);
        if (!items.TryGetValue(key, out var data) || offset >= (uint)data.Length)
        {
            return 0;
        }

        return data[offset++];
    }
}
