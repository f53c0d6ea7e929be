using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// One generated case: the instructions and their encoding, the input registers and data
/// buffer, and which RFLAGS bits are defined at the end (the rest are masked).
/// </summary>
public sealed class DiffCase
{
    public DiffCase(string group, ulong seed, long index, MachineState input, byte[] data, IReadOnlyList<Instruction> instructions, byte[] code, ulong flagsCompared)
    {
        Group = group;
        Seed = seed;
        Index = index;
        Input = input;
        Data = data;
        Instructions = instructions;
        Code = code;
        FlagsCompared = flagsCompared;
    }

    public string Group { get; }

    public ulong Seed { get; }

    public long Index { get; }

    public MachineState Input { get; }

    /// <summary>The data buffer's input bytes (mapped at <see cref="HostCpu.DataAddress"/> on both sides).</summary>
    public byte[] Data { get; }

    public IReadOnlyList<Instruction> Instructions { get; }

    /// <summary>The encoded instructions, position independent (no branches, no RIP-relative operands).</summary>
    public byte[] Code { get; }

    /// <summary>The RFLAGS bits compared: the arithmetic flags not left undefined by the case, and DF.</summary>
    public ulong FlagsCompared { get; }

    /// <summary>The one-line command that runs just this case.</summary>
    public string ReplayCommand =>
        $"dotnet run --project tests/Emulator.X86.DiffTests -c Release -- --seed 0x{Seed:x} --group {Group} --case {Index}";

    /// <summary>Maps Iced's flag set to RFLAGS bits.</summary>
    public static ulong ToRflags(RflagsBits f)
    {
        ulong r = 0;
        if ((f & RflagsBits.CF) != 0)
        {
            r |= (ulong)RFlags.CF;
        }

        if ((f & RflagsBits.PF) != 0)
        {
            r |= (ulong)RFlags.PF;
        }

        if ((f & RflagsBits.AF) != 0)
        {
            r |= (ulong)RFlags.AF;
        }

        if ((f & RflagsBits.ZF) != 0)
        {
            r |= (ulong)RFlags.ZF;
        }

        if ((f & RflagsBits.SF) != 0)
        {
            r |= (ulong)RFlags.SF;
        }

        if ((f & RflagsBits.OF) != 0)
        {
            r |= (ulong)RFlags.OF;
        }

        if ((f & RflagsBits.DF) != 0)
        {
            r |= (ulong)RFlags.DF;
        }

        return r;
    }
}
