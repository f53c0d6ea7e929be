using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>CMPPS/CMPPD/CMPSS/CMPSD (predicates 0-7) and COMISS/COMISD/UCOMISS/UCOMISD.</summary>
public static unsafe class SseFloatCompare
{
    /// <summary>sse_cmp(dst, src, predicate, shape): each element of dst becomes all ones where the predicate holds, else zero.</summary>
    public static readonly HelperInfo Cmp = HelperTable.Define("ssefp_cmp", 4, SseFloat.Effects, &CmpImpl, generalState: false);

    /// <summary>sse_comi(a, b, mode): RFLAGS bits ZF/PF/CF of comparing the low elements (mode: <see cref="ComiDouble"/>, <see cref="ComiSignalQNaN"/>).</summary>
    public static readonly HelperInfo Comi = HelperTable.Define("ssefp_comi", 4, SseFloat.Effects, &ComiImpl, generalState: false);

    public const ulong ComiDouble = 1;

    /// <summary>COMIS* signal invalid on any NaN; UCOMIS* only on a signaling NaN.</summary>
    public const ulong ComiSignalQNaN = 2;

    /// <summary>
    /// The legacy-encoded predicates (SDM Vol. 2 CMPPS, Table 3-1): EQ_OQ, LT_OS, LE_OS, UNORD_Q,
    /// NEQ_UQ, NLT_US, NLE_US, ORD_Q. Only imm8[2:0] is used.
    /// </summary>
    public static bool Holds(IeeeRelation r, int predicate) => (predicate & 7) switch
    {
        0 => r == IeeeRelation.Equal,
        1 => r == IeeeRelation.Less,
        2 => r is IeeeRelation.Less or IeeeRelation.Equal,
        3 => r == IeeeRelation.Unordered,
        4 => r != IeeeRelation.Equal,
        5 => r != IeeeRelation.Less,
        6 => r is not (IeeeRelation.Less or IeeeRelation.Equal),
        _ => r != IeeeRelation.Unordered,
    };

    /// <summary>LT, LE, NLT and NLE signal invalid on a quiet NaN; the others only on a signaling one.</summary>
    public static bool SignalsOnQNaN(int predicate) => (predicate & 7) is 1 or 2 or 5 or 6;

    private static ulong CmpImpl(Cpu cpu, ulong dstOffset, ulong srcOffset, ulong predicate, ulong shapeArg)
    {
        var shape = (SseFpShape)shapeArg;
        byte* dst = SseFloat.At(cpu, dstOffset);
        byte* src = SseFloat.At(cpu, srcOffset);
        uint mxcsr = cpu.S.Mxcsr;
        uint flags = 0;
        int p = (int)predicate & 7;
        bool signal = SignalsOnQNaN(p);
        ulong* result = stackalloc ulong[2];
        result[0] = ((ulong*)dst)[0];
        result[1] = ((ulong*)dst)[1];
        int lanes = SseFloat.Lanes(shape);
        if (SseFloat.IsSingle(shape))
        {
            for (int i = 0; i < lanes; i++)
            {
                var r = SoftFloat.Compare(in SoftFloat.F32, ((uint*)dst)[i], ((uint*)src)[i], signal, mxcsr, ref flags);
                ((uint*)result)[i] = Holds(r, p) ? uint.MaxValue : 0;
            }
        }
        else
        {
            for (int i = 0; i < lanes; i++)
            {
                var r = SoftFloat.Compare(in SoftFloat.F64, ((ulong*)dst)[i], ((ulong*)src)[i], signal, mxcsr, ref flags);
                result[i] = Holds(r, p) ? ulong.MaxValue : 0;
            }
        }

        if (SseFloat.Commit(cpu, flags))
        {
            SseFloat.Store(dst, result);
        }

        return 0;
    }

    /// <summary>
    /// COMISS and friends (SDM Vol. 2 COMISS): unordered ZF,PF,CF = 111; greater 000; less 001;
    /// equal 100; OF, SF and AF cleared. RFLAGS is not changed when #XM is raised.
    /// </summary>
    private static ulong ComiImpl(Cpu cpu, ulong aOffset, ulong bOffset, ulong mode, ulong unused)
    {
        uint mxcsr = cpu.S.Mxcsr;
        uint flags = 0;
        bool signal = (mode & ComiSignalQNaN) != 0;
        IeeeRelation r = (mode & ComiDouble) != 0
            ? SoftFloat.Compare(in SoftFloat.F64, *(ulong*)SseFloat.At(cpu, aOffset), *(ulong*)SseFloat.At(cpu, bOffset), signal, mxcsr, ref flags)
            : SoftFloat.Compare(in SoftFloat.F32, *(uint*)SseFloat.At(cpu, aOffset), *(uint*)SseFloat.At(cpu, bOffset), signal, mxcsr, ref flags);
        SseFloat.Commit(cpu, flags);
        return r switch
        {
            IeeeRelation.Unordered => (ulong)(RFlags.ZF | RFlags.PF | RFlags.CF),
            IeeeRelation.Less => (ulong)RFlags.CF,
            IeeeRelation.Equal => (ulong)RFlags.ZF,
            _ => 0,
        };
    }
}
