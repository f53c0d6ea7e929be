using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Cli.Bench;

/// <summary>A compute kernel in guest machine code, with the host's answer to check it by.</summary>
/// <param name="Build">Emits the kernel, given the address of its data.</param>
internal sealed record GuestKernel(string Name, string Description, Action<Assembler, ulong> Build, Func<ReadOnlyMemory<byte>, ulong> HostResult);

/// <summary>
/// Guest programs for the CPU demo and benchmark. Each runs in flat 64-bit mode over
/// <see cref="DataLength"/> bytes of random data at the address it is built for, and leaves its
/// result in RAX; the caller appends what ends the run (HLT here, a port write under QEMU).
/// </summary>
internal static class GuestKernels
{
    public const ulong CodeAddress = 0x1000;
    public const ulong DataAddress = 0x100000;
    public const int DataLength = 1 << 20;

    /// <summary>Bitwise CRC-32 (IEEE, reflected): shifts, a data-dependent branch and a byte load per 8 rounds.</summary>
    public static readonly GuestKernel Crc32 = new(
        "crc32",
        "bitwise CRC-32 of 1 MiB",
        (a, data) =>
        {
            var outer = a.CreateLabel();
            var inner = a.CreateLabel();
            var noXor = a.CreateLabel();
            a.mov(rsi, data);
            a.mov(rcx, (ulong)DataLength);
            a.mov(eax, 0xffffffff);
            a.Label(ref outer);
            a.movzx(edx, __byte_ptr[rsi]);
            a.xor(eax, edx);
            a.mov(edi, 8);
            a.Label(ref inner);
            a.shr(eax, 1);
            a.jnc(noXor);
            a.xor(eax, 0xedb88320);
            a.Label(ref noXor);
            a.dec(edi);
            a.jnz(inner);
            a.inc(rsi);
            a.dec(rcx);
            a.jnz(outer);
            a.not(eax);
        },
        data =>
        {
            uint crc = 0xffffffff;
            foreach (byte x in data.Span)
            {
                crc ^= x;
                for (int k = 0; k < 8; k++)
                {
                    crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xedb88320 : crc >> 1;
                }
            }

            return ~crc;
        });

    private const int MixPasses = 16;

    /// <summary>A multiply-rotate hash over 32-bit words, 16 passes over the data: loads, adds, IMUL, rotates.</summary>
    public static readonly GuestKernel MixSum = new(
        "mixsum",
        "multiply-rotate hash, 16 passes over 1 MiB, 4 bytes a step",
        (a, data) =>
        {
            var pass = a.CreateLabel();
            var loop = a.CreateLabel();
            a.xor(eax, eax);
            a.mov(rbx, 0x9e3779b97f4a7c15UL);
            a.mov(edi, MixPasses);
            a.Label(ref pass);
            a.mov(rsi, data);
            a.mov(rcx, (ulong)(DataLength / 4));
            a.Label(ref loop);
            a.mov(edx, __dword_ptr[rsi]);
            a.add(rax, rdx);
            a.imul(rax, rbx);
            a.rol(rax, 29);
            a.add(rsi, 4);
            a.dec(rcx);
            a.jnz(loop);
            a.dec(edi);
            a.jnz(pass);
        },
        data =>
        {
            ulong h = 0;
            var span = data.Span;
            for (int p = 0; p < MixPasses; p++)
            {
                for (int i = 0; i < span.Length; i += 4)
                {
                    h += System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(span[i..]);
                    h *= 0x9e3779b97f4a7c15UL;
                    h = ulong.RotateLeft(h, 29);
                }
            }

            return h;
        });

    public static readonly GuestKernel[] All = [Crc32, MixSum];
}
