using System.Buffers.Binary;

namespace Emulator.Machine.Boot;

/// <summary>
/// Bounds-checked little-endian reads from a kernel file: a read past the end throws a
/// <see cref="BootImageException"/> saying the file is truncated, never an index exception.
/// </summary>
internal readonly struct ImageBytes(byte[] data, string fileName)
{
    public byte[] Data { get; } = data;

    public string FileName { get; } = fileName;

    public int Length => Data.Length;

    public bool Has(ulong offset, ulong length) => offset <= (ulong)Data.Length && length <= (ulong)Data.Length - offset;

    public ReadOnlySpan<byte> Slice(ulong offset, ulong length, string what)
    {
        if (!Has(offset, length))
        {
            throw Truncated(what, offset + length);
        }

        return Data.AsSpan((int)offset, (int)length);
    }

    public byte U8(ulong offset, string what) => Slice(offset, 1, what)[0];

    public ushort U16(ulong offset, string what) => BinaryPrimitives.ReadUInt16LittleEndian(Slice(offset, 2, what));

    public uint U32(ulong offset, string what) => BinaryPrimitives.ReadUInt32LittleEndian(Slice(offset, 4, what));

    public ulong U64(ulong offset, string what) => BinaryPrimitives.ReadUInt64LittleEndian(Slice(offset, 8, what));

    public BootImageException Truncated(string what, ulong needed) =>
        new(FileName, $"truncated: {what} needs {needed} bytes but the file has {Data.Length}");

    public BootImageException Error(string reason) => new(FileName, reason);
}
