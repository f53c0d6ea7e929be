using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>INS and OUTS, with or without REP (SDM Vol. 2B INS/INSB/INSW/INSD, OUTS/OUTSB/OUTSW/OUTSD).</summary>
public static unsafe partial class StringHelpers
{
    /// <summary>Descriptor bit: the instruction has a REP prefix (rCX counts).</summary>
    public const ulong IoRepeat = 1 << 6;

    /// <summary>Descriptor bit: OUTS (memory at seg:rSI to port DX) rather than INS (port DX to ES:rDI).</summary>
    public const ulong IoOut = 1 << 7;

    /// <summary>string_io(descriptor, segment base): the whole instruction; returns 1 when it stopped early for an exit request.</summary>
    public static readonly HelperInfo StringIo = HelperTable.Define("string_io", 2, HelperTable.Effects, &StringIoImpl);

    private static ulong StringIoImpl(Cpu cpu, ulong desc, ulong segBase, ulong unused1, ulong unused2)
    {
        bool output = (desc & IoOut) != 0;
        bool repeat = (desc & IoRepeat) != 0;
        var l = new Loop(cpu, desc, segBase, segBase);
        ushort port = (ushort)cpu.S.Gpr[(int)Gpr.Rdx];

        // The permission check comes first, whatever the count: #GP(0) with nothing done.
        if (!cpu.CheckIoPermission(port, l.Size))
        {
            return 0;
        }

        if (!repeat)
        {
            l.Count = 1;
        }
        else if (l.Count == 0)
        {
            return 0;
        }

        int budget = Chunk;
        while (l.Count != 0)
        {
            if (output)
            {
                if (!cpu.Read(l.Src, l.Size, out ulong v))
                {
                    break;
                }

                cpu.Ports.Out(port, l.Size, (uint)v);
                l.AdvanceSi();
            }
            else
            {
                // The destination is checked before the port is read, so a fault reads nothing.
                if (!cpu.ProbeWrite(l.Dst, l.Size))
                {
                    break;
                }

                ulong v = cpu.Ports.In(port, l.Size);
                if (!cpu.Write(l.Dst, l.Size, v))
                {
                    break;
                }

                l.AdvanceDi();
            }

            l.Count = (l.Count - 1) & l.AddressMask;
            if (repeat && l.Count != 0 && ShouldYield(cpu, ref budget))
            {
                CommitIo(cpu, in l, output, repeat);
                return 1;
            }
        }

        CommitIo(cpu, in l, output, repeat);
        return 0;
    }

    private static void CommitIo(Cpu cpu, in Loop l, bool output, bool repeat)
    {
        if (repeat)
        {
            SetIndex(cpu, Gpr.Rcx, l.Count, l.AddressSize);
        }

        SetIndex(cpu, output ? Gpr.Rsi : Gpr.Rdi, output ? l.Si : l.Di, l.AddressSize);
    }
}
