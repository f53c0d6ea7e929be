using System.Buffers.Binary;

namespace Emulator.Service.Tests;

/// <summary>
/// The smallest kernel a machine boots: an ELF64 vmlinux (ELF-64 Object File Format, sections
/// "ELF header" and "Program header") of one PT_LOAD segment at 16 MiB whose code is "hlt; jmp
/// back". A CREATED, RUNNING or PAUSED machine without a guest image; it never prints.
/// </summary>
internal static class TinyKernel
{
    private const ulong Physical = 0x100_0000;
    private static readonly byte[] Code = [0xf4, 0xeb, 0xfd]; // hlt; jmp -3

    public static byte[] Bytes()
    {
        const int HeaderBytes = 64, ProgramHeaderBytes = 56;
        var file = new byte[HeaderBytes + ProgramHeaderBytes + Code.Length];
        Span<byte> f = file;
        "\u007fELF"u8.CopyTo(f);
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 2); // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], 62); // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(f[24..], Physical); // entry
        BinaryPrimitives.WriteUInt64LittleEndian(f[32..], HeaderBytes); // program headers right after
        BinaryPrimitives.WriteUInt16LittleEndian(f[52..], HeaderBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(f[54..], ProgramHeaderBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(f[56..], 1);
        var ph = f[HeaderBytes..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1); // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 5); // R+X
        BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], HeaderBytes + ProgramHeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], 0xffff_ffff_8100_0000);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], Physical);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)Code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], 0x1000);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 0x1000);
        Code.CopyTo(f[(HeaderBytes + ProgramHeaderBytes)..]);
        return file;
    }
}
