using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Emulator.X86.Helpers;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// The software IEEE layer against the host's SSE unit with the host MXCSR set per case (every
/// rounding mode, DAZ, FTZ; exceptions masked): results and all six exception flags must match
/// bit for bit. Skipped when the host cannot have its MXCSR set (not x86-64 Linux).
/// </summary>
public unsafe class SseFloatHostTests
{
    private const int Iterations = 6000;

    private delegate ulong SoftOp(ulong a, ulong b, uint mxcsr, ref uint flags);

    private static readonly IeeeFormat F32 = SoftFloat.F32;
    private static readonly IeeeFormat F64 = SoftFloat.F64;

    private readonly record struct Case(string Name, bool Double, nint Host, SoftOp Soft);

    private static Case[] Cases() =>
    [
        new("addss", false, (nint)(delegate*<ulong, ulong, ulong>)&AddSs, (a, b, m, ref f) => SoftFloat.Add(in F32, a, b, false, m, ref f)),
        new("subss", false, (nint)(delegate*<ulong, ulong, ulong>)&SubSs, (a, b, m, ref f) => SoftFloat.Add(in F32, a, b, true, m, ref f)),
        new("mulss", false, (nint)(delegate*<ulong, ulong, ulong>)&MulSs, (a, b, m, ref f) => SoftFloat.Mul(in F32, a, b, m, ref f)),
        new("divss", false, (nint)(delegate*<ulong, ulong, ulong>)&DivSs, (a, b, m, ref f) => SoftFloat.Div(in F32, a, b, m, ref f)),
        new("sqrtss", false, (nint)(delegate*<ulong, ulong, ulong>)&SqrtSs, (a, b, m, ref f) => SoftFloat.Sqrt(in F32, b, m, ref f)),
        new("minss", false, (nint)(delegate*<ulong, ulong, ulong>)&MinSs, (a, b, m, ref f) => SoftFloat.MinMax(in F32, a, b, false, m, ref f)),
        new("maxss", false, (nint)(delegate*<ulong, ulong, ulong>)&MaxSs, (a, b, m, ref f) => SoftFloat.MinMax(in F32, a, b, true, m, ref f)),
        new("cmpltss", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpLtSs, (a, b, m, ref f) => Cmp(in F32, a, b, 1, m, ref f)),
        new("cmpeqss", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpEqSs, (a, b, m, ref f) => Cmp(in F32, a, b, 0, m, ref f)),
        new("cmpless", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpLeSs, (a, b, m, ref f) => Cmp(in F32, a, b, 2, m, ref f)),
        new("cmpunordss", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpUnordSs, (a, b, m, ref f) => Cmp(in F32, a, b, 3, m, ref f)),
        new("cmpneqss", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpNeqSs, (a, b, m, ref f) => Cmp(in F32, a, b, 4, m, ref f)),
        new("cmpnltss", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpNltSs, (a, b, m, ref f) => Cmp(in F32, a, b, 5, m, ref f)),
        new("cmpnless", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpNleSs, (a, b, m, ref f) => Cmp(in F32, a, b, 6, m, ref f)),
        new("cmpordss", false, (nint)(delegate*<ulong, ulong, ulong>)&CmpOrdSs, (a, b, m, ref f) => Cmp(in F32, a, b, 7, m, ref f)),
        new("cvtss2si64", false, (nint)(delegate*<ulong, ulong, ulong>)&CvtSs2Si64, (a, b, m, ref f) => SoftFloat.ToInt(in F32, b, 64, false, m, ref f)),
        new("cvttss2si", false, (nint)(delegate*<ulong, ulong, ulong>)&CvttSs2Si, (a, b, m, ref f) => SoftFloat.ToInt(in F32, b, 32, true, m, ref f)),
        new("cvtsi2ss32", false, (nint)(delegate*<ulong, ulong, ulong>)&CvtSi2Ss32, (a, b, m, ref f) => SoftFloat.FromInt(in F32, (int)b, m, ref f)),
        new("cvtsd2si", true, (nint)(delegate*<ulong, ulong, ulong>)&CvtSd2Si, (a, b, m, ref f) => SoftFloat.ToInt(in F64, b, 32, false, m, ref f)),
        new("cvttsd2si64", true, (nint)(delegate*<ulong, ulong, ulong>)&CvttSd2Si64, (a, b, m, ref f) => SoftFloat.ToInt(in F64, b, 64, true, m, ref f)),
        new("comiss", false, (nint)(delegate*<ulong, ulong, ulong>)&ComiSs, (a, b, m, ref f) => Comi(in F32, a, b, true, m, ref f)),
        new("ucomiss", false, (nint)(delegate*<ulong, ulong, ulong>)&UcomiSs, (a, b, m, ref f) => Comi(in F32, a, b, false, m, ref f)),
        new("cvtss2si", false, (nint)(delegate*<ulong, ulong, ulong>)&CvtSs2Si, (a, b, m, ref f) => SoftFloat.ToInt(in F32, b, 32, false, m, ref f)),
        new("cvttss2si64", false, (nint)(delegate*<ulong, ulong, ulong>)&CvttSs2Si64, (a, b, m, ref f) => SoftFloat.ToInt(in F32, b, 64, true, m, ref f)),
        new("cvtss2sd", false, (nint)(delegate*<ulong, ulong, ulong>)&CvtSs2Sd, (a, b, m, ref f) => SoftFloat.Convert(in F32, in F64, b, m, ref f)),
        new("cvtsi2ss", false, (nint)(delegate*<ulong, ulong, ulong>)&CvtSi2Ss, (a, b, m, ref f) => SoftFloat.FromInt(in F32, (long)b, m, ref f)),
        new("addsd", true, (nint)(delegate*<ulong, ulong, ulong>)&AddSd, (a, b, m, ref f) => SoftFloat.Add(in F64, a, b, false, m, ref f)),
        new("subsd", true, (nint)(delegate*<ulong, ulong, ulong>)&SubSd, (a, b, m, ref f) => SoftFloat.Add(in F64, a, b, true, m, ref f)),
        new("mulsd", true, (nint)(delegate*<ulong, ulong, ulong>)&MulSd, (a, b, m, ref f) => SoftFloat.Mul(in F64, a, b, m, ref f)),
        new("divsd", true, (nint)(delegate*<ulong, ulong, ulong>)&DivSd, (a, b, m, ref f) => SoftFloat.Div(in F64, a, b, m, ref f)),
        new("sqrtsd", true, (nint)(delegate*<ulong, ulong, ulong>)&SqrtSd, (a, b, m, ref f) => SoftFloat.Sqrt(in F64, b, m, ref f)),
        new("minsd", true, (nint)(delegate*<ulong, ulong, ulong>)&MinSd, (a, b, m, ref f) => SoftFloat.MinMax(in F64, a, b, false, m, ref f)),
        new("maxsd", true, (nint)(delegate*<ulong, ulong, ulong>)&MaxSd, (a, b, m, ref f) => SoftFloat.MinMax(in F64, a, b, true, m, ref f)),
        new("cmpnlesd", true, (nint)(delegate*<ulong, ulong, ulong>)&CmpNleSd, (a, b, m, ref f) => Cmp(in F64, a, b, 6, m, ref f)),
        new("cmpunordsd", true, (nint)(delegate*<ulong, ulong, ulong>)&CmpUnordSd, (a, b, m, ref f) => Cmp(in F64, a, b, 3, m, ref f)),
        new("comisd", true, (nint)(delegate*<ulong, ulong, ulong>)&ComiSd, (a, b, m, ref f) => Comi(in F64, a, b, true, m, ref f)),
        new("ucomisd", true, (nint)(delegate*<ulong, ulong, ulong>)&UcomiSd, (a, b, m, ref f) => Comi(in F64, a, b, false, m, ref f)),
        new("cvtsd2si64", true, (nint)(delegate*<ulong, ulong, ulong>)&CvtSd2Si64, (a, b, m, ref f) => SoftFloat.ToInt(in F64, b, 64, false, m, ref f)),
        new("cvttsd2si", true, (nint)(delegate*<ulong, ulong, ulong>)&CvttSd2Si, (a, b, m, ref f) => SoftFloat.ToInt(in F64, b, 32, true, m, ref f)),
        new("cvtsd2ss", true, (nint)(delegate*<ulong, ulong, ulong>)&CvtSd2Ss, (a, b, m, ref f) => SoftFloat.Convert(in F64, in F32, b, m, ref f)),
        new("cvtsi2sd64", true, (nint)(delegate*<ulong, ulong, ulong>)&CvtSi2Sd64, (a, b, m, ref f) => SoftFloat.FromInt(in F64, (long)b, m, ref f)),
    ];

    [Fact]
    public void ResultsAndFlagsMatchTheHostInEveryMode()
    {
                if (!HostMxcsr.Available || !Sse2.X64.IsSupported)
        {
            return;
        }

        var r = new Random(31337);
        var cases = Cases();
        uint saved = HostMxcsr.Get();
        var failures = new List<string>();

        // Call everything once first: JIT compilation does floating point of its own, which would
        // leave flags in the host MXCSR between the set and the read.
        foreach (var c in cases)
        {
            ((delegate*<ulong, ulong, ulong>)c.Host)(0, 0);
            uint unused = 0;
            c.Soft(0, 0, MxcsrBits.Default, ref unused);
        }

        try
        {
            for (int iter = 0; iter < Iterations && failures.Count < 20; iter++)
            {
                uint mxcsr = MxcsrBits.Default | ((uint)r.Next(4) << MxcsrBits.RoundingShift);
                int special = r.Next(4);
                mxcsr |= special == 1 ? MxcsrBits.Daz : special == 2 ? MxcsrBits.Ftz : special == 3 ? MxcsrBits.Daz | MxcsrBits.Ftz : 0;
                foreach (var c in cases)
                {
                    ulong a, b;
                    if (c.Double)
                    {
                        a = SoftFloatTests.RandomDouble(r);
                        b = r.Next(3) == 0 ? a ^ (ulong)r.Next(8) ^ ((ulong)r.Next(2) << 63) : SoftFloatTests.RandomDouble(r);
                    }
                    else
                    {
                        a = SoftFloatTests.RandomSingle(r);
                        b = r.Next(3) == 0 ? a ^ (ulong)r.Next(8) ^ ((ulong)r.Next(2) << 31) : SoftFloatTests.RandomSingle(r);
                    }

                    if (c.Name.StartsWith("cvtsi", StringComparison.Ordinal))
                    {
                        b = (ulong)(r.NextInt64() >> r.Next(64));
                    }

                    var host = (delegate*<ulong, ulong, ulong>)c.Host;
                    HostMxcsr.Set(mxcsr);
                    ulong hostValue = host(a, b);
                    uint hostFlags = HostMxcsr.Get() & MxcsrBits.Flags;
                    HostMxcsr.Set(saved);

                    uint softFlags = 0;
                    ulong softValue = c.Soft(a, b, mxcsr, ref softFlags);
                    if (softValue != hostValue || softFlags != hostFlags)
                    {
                        failures.Add($"{c.Name}(0x{a:x}, 0x{b:x}) mxcsr 0x{mxcsr:x}: host 0x{hostValue:x} flags 0x{hostFlags:x}, soft 0x{softValue:x} flags 0x{softFlags:x}");
                    }
                }
            }
        }
        finally
        {
            HostMxcsr.Set(saved);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static (string Name, Action<Assembler> Code, nint Host, bool Double)[] PackedCases() =>
    [
        ("addps", a => a.addps(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&AddPs, false),
        ("subpd", a => a.subpd(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&SubPd, true),
        ("mulps", a => a.mulps(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&MulPs, false),
        ("divpd", a => a.divpd(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&DivPd, true),
        ("sqrtps", a => a.sqrtps(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&SqrtPs, false),
        ("minps", a => a.minps(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&MinPs, false),
        ("maxpd", a => a.maxpd(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&MaxPd, true),
        ("cmpleps", a => a.cmpps(xmm0, xmm1, 2), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CmpLePs, false),
        ("cvtps2dq", a => a.cvtps2dq(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvtPs2Dq, false),
        ("cvttpd2dq", a => a.cvttpd2dq(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvttPd2Dq, true),
        ("cvtpd2ps", a => a.cvtpd2ps(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvtPd2Ps, true),
        ("cvtps2pd", a => a.cvtps2pd(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvtPs2Pd, false),
        ("cvttps2dq", a => a.cvttps2dq(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvttPs2Dq, false),
        ("cvtpd2dq", a => a.cvtpd2dq(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvtPd2Dq, true),
        ("sqrtpd", a => a.sqrtpd(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&SqrtPd, true),
        ("cmpnltpd", a => a.cmppd(xmm0, xmm1, 5), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CmpNltPd, true),
        ("cvtdq2ps", a => a.cvtdq2ps(xmm0, xmm1), (nint)(delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)&CvtDq2Ps, false),
    ];

    /// <summary>Packed instructions through the emulator: all elements and the merged MXCSR flags against the host.</summary>
    [Fact]
    public void PackedInstructionsMatchTheHostInEveryMode()
    {
        if (!HostMxcsr.Available || !Sse2.IsSupported)
        {
            return;
        }

        var r = new Random(8086);
        uint saved = HostMxcsr.Get();
        var failures = new List<string>();
        foreach (var c in PackedCases())
        {
            var host = (delegate*<Vector128<ulong>, Vector128<ulong>, Vector128<ulong>>)c.Host;
            host(Vector128<ulong>.Zero, Vector128<ulong>.Zero);
            using var m = new TestMachine();
            m.Load(c.Code);
            for (int iter = 0; iter < 300 && failures.Count < 20; iter++)
            {
                uint mxcsr = MxcsrBits.Default | ((uint)r.Next(4) << MxcsrBits.RoundingShift) | (r.Next(2) == 0 ? 0 : MxcsrBits.Daz) | (r.Next(2) == 0 ? 0 : MxcsrBits.Ftz);
                Vector128<ulong> x, y;
                if (c.Double)
                {
                    x = Vector128.Create(SoftFloatTests.RandomDouble(r), SoftFloatTests.RandomDouble(r));
                    y = Vector128.Create(SoftFloatTests.RandomDouble(r), SoftFloatTests.RandomDouble(r));
                }
                else
                {
                    x = Vector128.Create(SseFloatTests.Pack(SoftFloatTests.RandomSingle(r), SoftFloatTests.RandomSingle(r)), SseFloatTests.Pack(SoftFloatTests.RandomSingle(r), SoftFloatTests.RandomSingle(r)));
                    y = Vector128.Create(SseFloatTests.Pack(SoftFloatTests.RandomSingle(r), SoftFloatTests.RandomSingle(r)), SseFloatTests.Pack(SoftFloatTests.RandomSingle(r), SoftFloatTests.RandomSingle(r)));
                }

                if (c.Name == "cvtdq2ps")
                {
                    y = Vector128.Create((ulong)r.NextInt64(), (ulong)r.NextInt64());
                }

                HostMxcsr.Set(mxcsr);
                var expected = host(x, y);
                uint hostFlags = HostMxcsr.Get() & MxcsrBits.Flags;
                HostMxcsr.Set(saved);

                SseFloatTests.SetXmm(m, 0, x.GetElement(0), x.GetElement(1));
                SseFloatTests.SetXmm(m, 1, y.GetElement(0), y.GetElement(1));
                m.Cpu.S.Mxcsr = mxcsr;
                m.Cpu.S.Rip = TestMachine.CodeAddress;
                m.Run();
                if (SseFloatTests.Lo(m, 0) != expected.GetElement(0) || SseFloatTests.Hi(m, 0) != expected.GetElement(1) || SseFloatTests.MxcsrFlags(m) != hostFlags)
                {
                    failures.Add($"{c.Name}({x}, {y}) mxcsr 0x{mxcsr:x}: host {expected} flags 0x{hostFlags:x}, emulator <{SseFloatTests.Lo(m, 0)}, {SseFloatTests.Hi(m, 0)}> flags 0x{SseFloatTests.MxcsrFlags(m):x}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static ulong Cmp(in IeeeFormat f, ulong a, ulong b, int predicate, uint mxcsr, ref uint flags)
    {
        var rel = SoftFloat.Compare(in f, a, b, SseFloatCompare.SignalsOnQNaN(predicate), mxcsr, ref flags);
        return SseFloatCompare.Holds(rel, predicate) ? f.SignBit | (f.SignBit - 1) : 0;
    }

    /// <summary>The host side reports "ordered and equal" (ZF = 1, PF = 0), as the intrinsics do.</summary>
    private static ulong Comi(in IeeeFormat f, ulong a, ulong b, bool signal, uint mxcsr, ref uint flags) =>
        SoftFloat.Compare(in f, a, b, signal, mxcsr, ref flags) == IeeeRelation.Equal ? 1UL : 0;

    private static Vector128<float> S(ulong bits) => Vector128.CreateScalar((uint)bits).AsSingle();

    private static Vector128<double> D(ulong bits) => Vector128.CreateScalar(bits).AsDouble();

    private static ulong B(Vector128<float> v) => v.AsUInt32().ToScalar();

    private static ulong B(Vector128<double> v) => v.AsUInt64().ToScalar();

    // One host instruction each, not inlined, so nothing moves across the MXCSR set and read around it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong AddSs(ulong a, ulong b) => B(Sse.AddScalar(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong SubSs(ulong a, ulong b) => B(Sse.SubtractScalar(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong MulSs(ulong a, ulong b) => B(Sse.MultiplyScalar(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong DivSs(ulong a, ulong b) => B(Sse.DivideScalar(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong SqrtSs(ulong a, ulong b) => B(Sse.SqrtScalar(S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong MinSs(ulong a, ulong b) => B(Sse.MinScalar(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong MaxSs(ulong a, ulong b) => B(Sse.MaxScalar(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpLtSs(ulong a, ulong b) => B(Sse.CompareScalarLessThan(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpEqSs(ulong a, ulong b) => B(Sse.CompareScalarEqual(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong ComiSs(ulong a, ulong b) => Sse.CompareScalarOrderedEqual(S(a), S(b)) ? 1UL : 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong UcomiSs(ulong a, ulong b) => Sse.CompareScalarUnorderedEqual(S(a), S(b)) ? 1UL : 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSs2Si(ulong a, ulong b) => (uint)Sse.ConvertToInt32(S(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvttSs2Si64(ulong a, ulong b) => (ulong)Sse.X64.ConvertToInt64WithTruncation(S(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSs2Sd(ulong a, ulong b) => B(Sse2.ConvertScalarToVector128Double(D(0), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSi2Ss(ulong a, ulong b) => B(Sse.X64.ConvertScalarToVector128Single(S(0), (long)b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong AddSd(ulong a, ulong b) => B(Sse2.AddScalar(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong SubSd(ulong a, ulong b) => B(Sse2.SubtractScalar(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong MulSd(ulong a, ulong b) => B(Sse2.MultiplyScalar(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong DivSd(ulong a, ulong b) => B(Sse2.DivideScalar(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong SqrtSd(ulong a, ulong b) => B(Sse2.SqrtScalar(D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong MinSd(ulong a, ulong b) => B(Sse2.MinScalar(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong MaxSd(ulong a, ulong b) => B(Sse2.MaxScalar(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpNleSd(ulong a, ulong b) => B(Sse2.CompareScalarNotLessThanOrEqual(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpUnordSd(ulong a, ulong b) => B(Sse2.CompareScalarUnordered(D(a), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong ComiSd(ulong a, ulong b) => Sse2.CompareScalarOrderedEqual(D(a), D(b)) ? 1UL : 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong UcomiSd(ulong a, ulong b) => Sse2.CompareScalarUnorderedEqual(D(a), D(b)) ? 1UL : 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSd2Si64(ulong a, ulong b) => (ulong)Sse2.X64.ConvertToInt64(D(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvttSd2Si(ulong a, ulong b) => (uint)Sse2.ConvertToInt32WithTruncation(D(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSd2Ss(ulong a, ulong b) => B(Sse2.ConvertScalarToVector128Single(S(0), D(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSi2Sd64(ulong a, ulong b) => B(Sse2.X64.ConvertScalarToVector128Double(D(0), (long)b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> AddPs(Vector128<ulong> a, Vector128<ulong> b) => Sse.Add(a.AsSingle(), b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> SubPd(Vector128<ulong> a, Vector128<ulong> b) => Sse2.Subtract(a.AsDouble(), b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> MulPs(Vector128<ulong> a, Vector128<ulong> b) => Sse.Multiply(a.AsSingle(), b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> DivPd(Vector128<ulong> a, Vector128<ulong> b) => Sse2.Divide(a.AsDouble(), b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> SqrtPs(Vector128<ulong> a, Vector128<ulong> b) => Sse.Sqrt(b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> MinPs(Vector128<ulong> a, Vector128<ulong> b) => Sse.Min(a.AsSingle(), b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> MaxPd(Vector128<ulong> a, Vector128<ulong> b) => Sse2.Max(a.AsDouble(), b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CmpLePs(Vector128<ulong> a, Vector128<ulong> b) => Sse.CompareLessThanOrEqual(a.AsSingle(), b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvtPs2Dq(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Int32(b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvttPd2Dq(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Int32WithTruncation(b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvtPd2Ps(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Single(b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvtPs2Pd(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Double(b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvtDq2Ps(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Single(b.AsInt32()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpLeSs(ulong a, ulong b) => B(Sse.CompareScalarLessThanOrEqual(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpUnordSs(ulong a, ulong b) => B(Sse.CompareScalarUnordered(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpNeqSs(ulong a, ulong b) => B(Sse.CompareScalarNotEqual(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpNltSs(ulong a, ulong b) => B(Sse.CompareScalarNotLessThan(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpNleSs(ulong a, ulong b) => B(Sse.CompareScalarNotLessThanOrEqual(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CmpOrdSs(ulong a, ulong b) => B(Sse.CompareScalarOrdered(S(a), S(b)));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSs2Si64(ulong a, ulong b) => (ulong)Sse.X64.ConvertToInt64(S(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvttSs2Si(ulong a, ulong b) => (uint)Sse.ConvertToInt32WithTruncation(S(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSi2Ss32(ulong a, ulong b) => B(Sse.ConvertScalarToVector128Single(S(0), (int)b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvtSd2Si(ulong a, ulong b) => (uint)Sse2.ConvertToInt32(D(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong CvttSd2Si64(ulong a, ulong b) => (ulong)Sse2.X64.ConvertToInt64WithTruncation(D(b));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvttPs2Dq(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Int32WithTruncation(b.AsSingle()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CvtPd2Dq(Vector128<ulong> a, Vector128<ulong> b) => Sse2.ConvertToVector128Int32(b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> SqrtPd(Vector128<ulong> a, Vector128<ulong> b) => Sse2.Sqrt(b.AsDouble()).AsUInt64();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector128<ulong> CmpNltPd(Vector128<ulong> a, Vector128<ulong> b) => Sse2.CompareNotLessThan(a.AsDouble(), b.AsDouble()).AsUInt64();
}
