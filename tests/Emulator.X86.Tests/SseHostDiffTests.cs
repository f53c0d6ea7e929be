using Emulator.X86.State;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// Differential tests of the SSE2/MMX integer operations against the host CPU's own SSE2 (the
/// reference), on random vectors with a fixed seed. Skipped in effect on a host without SSE2.
/// MMX forms are checked against the low half of the SSE2 result where the MMX operation is the
/// same lane-wise operation on 8 bytes.
/// </summary>
public class SseHostDiffTests
{
    private delegate Vector128<byte> HostOp(Vector128<byte> d, Vector128<byte> s);

    private sealed record Case(string Name, Action<Assembler> Xmm, Action<Assembler>? Mmx, HostOp Host);

    private static V128 B(Vector128<byte> v) => new(v.AsUInt64()[0], v.AsUInt64()[1]);

    private readonly record struct V128(ulong Lo, ulong Hi)
    {
        public override string ToString() => $"{Hi:x16}:{Lo:x16}";
    }

    private static IEnumerable<Case> Cases()
    {
        yield return new("paddb", a => a.paddb(xmm0, xmm1), a => a.paddb(mm0, mm1), (d, s) => Sse2.Add(d, s));
        yield return new("paddw", a => a.paddw(xmm0, xmm1), a => a.paddw(mm0, mm1), (d, s) => Sse2.Add(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("paddd", a => a.paddd(xmm0, xmm1), a => a.paddd(mm0, mm1), (d, s) => Sse2.Add(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("paddq", a => a.paddq(xmm0, xmm1), a => a.paddq(mm0, mm1), (d, s) => Sse2.Add(d.AsUInt64(), s.AsUInt64()).AsByte());
        yield return new("psubb", a => a.psubb(xmm0, xmm1), a => a.psubb(mm0, mm1), (d, s) => Sse2.Subtract(d, s));
        yield return new("psubw", a => a.psubw(xmm0, xmm1), a => a.psubw(mm0, mm1), (d, s) => Sse2.Subtract(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("psubd", a => a.psubd(xmm0, xmm1), a => a.psubd(mm0, mm1), (d, s) => Sse2.Subtract(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("psubq", a => a.psubq(xmm0, xmm1), a => a.psubq(mm0, mm1), (d, s) => Sse2.Subtract(d.AsUInt64(), s.AsUInt64()).AsByte());
        yield return new("paddsb", a => a.paddsb(xmm0, xmm1), a => a.paddsb(mm0, mm1), (d, s) => Sse2.AddSaturate(d.AsSByte(), s.AsSByte()).AsByte());
        yield return new("paddsw", a => a.paddsw(xmm0, xmm1), a => a.paddsw(mm0, mm1), (d, s) => Sse2.AddSaturate(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("paddusb", a => a.paddusb(xmm0, xmm1), a => a.paddusb(mm0, mm1), (d, s) => Sse2.AddSaturate(d, s));
        yield return new("paddusw", a => a.paddusw(xmm0, xmm1), a => a.paddusw(mm0, mm1), (d, s) => Sse2.AddSaturate(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("psubsb", a => a.psubsb(xmm0, xmm1), a => a.psubsb(mm0, mm1), (d, s) => Sse2.SubtractSaturate(d.AsSByte(), s.AsSByte()).AsByte());
        yield return new("psubsw", a => a.psubsw(xmm0, xmm1), a => a.psubsw(mm0, mm1), (d, s) => Sse2.SubtractSaturate(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("psubusb", a => a.psubusb(xmm0, xmm1), a => a.psubusb(mm0, mm1), (d, s) => Sse2.SubtractSaturate(d, s));
        yield return new("psubusw", a => a.psubusw(xmm0, xmm1), a => a.psubusw(mm0, mm1), (d, s) => Sse2.SubtractSaturate(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("pmullw", a => a.pmullw(xmm0, xmm1), a => a.pmullw(mm0, mm1), (d, s) => Sse2.MultiplyLow(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("pmulhw", a => a.pmulhw(xmm0, xmm1), a => a.pmulhw(mm0, mm1), (d, s) => Sse2.MultiplyHigh(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("pmulhuw", a => a.pmulhuw(xmm0, xmm1), a => a.pmulhuw(mm0, mm1), (d, s) => Sse2.MultiplyHigh(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("pmuludq", a => a.pmuludq(xmm0, xmm1), a => a.pmuludq(mm0, mm1), (d, s) => Sse2.Multiply(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("pmaddwd", a => a.pmaddwd(xmm0, xmm1), a => a.pmaddwd(mm0, mm1), (d, s) => Sse2.MultiplyAddAdjacent(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("pavgb", a => a.pavgb(xmm0, xmm1), a => a.pavgb(mm0, mm1), (d, s) => Sse2.Average(d, s));
        yield return new("pavgw", a => a.pavgw(xmm0, xmm1), a => a.pavgw(mm0, mm1), (d, s) => Sse2.Average(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("pminub", a => a.pminub(xmm0, xmm1), a => a.pminub(mm0, mm1), (d, s) => Sse2.Min(d, s));
        yield return new("pmaxub", a => a.pmaxub(xmm0, xmm1), a => a.pmaxub(mm0, mm1), (d, s) => Sse2.Max(d, s));
        yield return new("pminsw", a => a.pminsw(xmm0, xmm1), a => a.pminsw(mm0, mm1), (d, s) => Sse2.Min(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("pmaxsw", a => a.pmaxsw(xmm0, xmm1), a => a.pmaxsw(mm0, mm1), (d, s) => Sse2.Max(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("psadbw", a => a.psadbw(xmm0, xmm1), a => a.psadbw(mm0, mm1), (d, s) => Sse2.SumAbsoluteDifferences(d, s).AsByte());
        yield return new("pcmpeqb", a => a.pcmpeqb(xmm0, xmm1), a => a.pcmpeqb(mm0, mm1), (d, s) => Sse2.CompareEqual(d, s));
        yield return new("pcmpeqw", a => a.pcmpeqw(xmm0, xmm1), a => a.pcmpeqw(mm0, mm1), (d, s) => Sse2.CompareEqual(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("pcmpeqd", a => a.pcmpeqd(xmm0, xmm1), a => a.pcmpeqd(mm0, mm1), (d, s) => Sse2.CompareEqual(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("pcmpgtb", a => a.pcmpgtb(xmm0, xmm1), a => a.pcmpgtb(mm0, mm1), (d, s) => Sse2.CompareGreaterThan(d.AsSByte(), s.AsSByte()).AsByte());
        yield return new("pcmpgtw", a => a.pcmpgtw(xmm0, xmm1), a => a.pcmpgtw(mm0, mm1), (d, s) => Sse2.CompareGreaterThan(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("pcmpgtd", a => a.pcmpgtd(xmm0, xmm1), a => a.pcmpgtd(mm0, mm1), (d, s) => Sse2.CompareGreaterThan(d.AsInt32(), s.AsInt32()).AsByte());
        yield return new("pand", a => a.pand(xmm0, xmm1), a => a.pand(mm0, mm1), (d, s) => Sse2.And(d, s));
        yield return new("pandn", a => a.pandn(xmm0, xmm1), a => a.pandn(mm0, mm1), (d, s) => Sse2.AndNot(d, s));
        yield return new("por", a => a.por(xmm0, xmm1), a => a.por(mm0, mm1), (d, s) => Sse2.Or(d, s));
        yield return new("pxor", a => a.pxor(xmm0, xmm1), a => a.pxor(mm0, mm1), (d, s) => Sse2.Xor(d, s));
        yield return new("punpcklbw", a => a.punpcklbw(xmm0, xmm1), a => a.punpcklbw(mm0, mm1), (d, s) => Sse2.UnpackLow(d, s));
        yield return new("punpcklwd", a => a.punpcklwd(xmm0, xmm1), a => a.punpcklwd(mm0, mm1), (d, s) => Sse2.UnpackLow(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("punpckldq", a => a.punpckldq(xmm0, xmm1), a => a.punpckldq(mm0, mm1), (d, s) => Sse2.UnpackLow(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("punpcklqdq", a => a.punpcklqdq(xmm0, xmm1), null, (d, s) => Sse2.UnpackLow(d.AsUInt64(), s.AsUInt64()).AsByte());
        yield return new("punpckhbw", a => a.punpckhbw(xmm0, xmm1), null, (d, s) => Sse2.UnpackHigh(d, s));
        yield return new("punpckhwd", a => a.punpckhwd(xmm0, xmm1), null, (d, s) => Sse2.UnpackHigh(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("punpckhdq", a => a.punpckhdq(xmm0, xmm1), null, (d, s) => Sse2.UnpackHigh(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("punpckhqdq", a => a.punpckhqdq(xmm0, xmm1), null, (d, s) => Sse2.UnpackHigh(d.AsUInt64(), s.AsUInt64()).AsByte());
        yield return new("packsswb", a => a.packsswb(xmm0, xmm1), null, (d, s) => Sse2.PackSignedSaturate(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("packssdw", a => a.packssdw(xmm0, xmm1), null, (d, s) => Sse2.PackSignedSaturate(d.AsInt32(), s.AsInt32()).AsByte());
        yield return new("packuswb", a => a.packuswb(xmm0, xmm1), null, (d, s) => Sse2.PackUnsignedSaturate(d.AsInt16(), s.AsInt16()));
        yield return new("pshufd", a => a.pshufd(xmm0, xmm1, 0x6c), null, (d, s) => Sse2.Shuffle(s.AsUInt32(), 0x6c).AsByte());
        yield return new("pshuflw", a => a.pshuflw(xmm0, xmm1, 0xd2), null, (d, s) => Sse2.ShuffleLow(s.AsUInt16(), 0xd2).AsByte());
        yield return new("pshufhw", a => a.pshufhw(xmm0, xmm1, 0x39), null, (d, s) => Sse2.ShuffleHigh(s.AsUInt16(), 0x39).AsByte());
        yield return new("shufps", a => a.shufps(xmm0, xmm1, 0xb1), null, (d, s) => Sse.Shuffle(d.AsSingle(), s.AsSingle(), 0xb1).AsByte());
        yield return new("psllw", a => a.psllw(xmm0, xmm1), a => a.psllw(mm0, mm1), (d, s) => Sse2.ShiftLeftLogical(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("pslld", a => a.pslld(xmm0, xmm1), a => a.pslld(mm0, mm1), (d, s) => Sse2.ShiftLeftLogical(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("psllq", a => a.psllq(xmm0, xmm1), a => a.psllq(mm0, mm1), (d, s) => Sse2.ShiftLeftLogical(d.AsUInt64(), s.AsUInt64()).AsByte());
        yield return new("psrlw", a => a.psrlw(xmm0, xmm1), a => a.psrlw(mm0, mm1), (d, s) => Sse2.ShiftRightLogical(d.AsUInt16(), s.AsUInt16()).AsByte());
        yield return new("psrld", a => a.psrld(xmm0, xmm1), a => a.psrld(mm0, mm1), (d, s) => Sse2.ShiftRightLogical(d.AsUInt32(), s.AsUInt32()).AsByte());
        yield return new("psrlq", a => a.psrlq(xmm0, xmm1), a => a.psrlq(mm0, mm1), (d, s) => Sse2.ShiftRightLogical(d.AsUInt64(), s.AsUInt64()).AsByte());
        yield return new("psraw", a => a.psraw(xmm0, xmm1), a => a.psraw(mm0, mm1), (d, s) => Sse2.ShiftRightArithmetic(d.AsInt16(), s.AsInt16()).AsByte());
        yield return new("psrad", a => a.psrad(xmm0, xmm1), a => a.psrad(mm0, mm1), (d, s) => Sse2.ShiftRightArithmetic(d.AsInt32(), s.AsInt32()).AsByte());
    }

    /// <summary>Random vectors biased to lane edges (0, all ones, sign boundaries), and small shift counts.</summary>
    private static Vector128<byte> RandomVector(Random rng, bool shiftCount)
    {
        if (shiftCount)
        {
            ulong count = (uint)rng.Next(0, 70);
            if (rng.Next(8) == 0)
            {
                count |= 1UL << rng.Next(6, 64);
            }

            return Vector128.Create(count, (ulong)rng.NextInt64()).AsByte();
        }

        var bytes = new byte[16];
        rng.NextBytes(bytes);
        for (int i = 0; i < 16; i++)
        {
            switch (rng.Next(6))
            {
                case 0: bytes[i] = 0; break;
                case 1: bytes[i] = 0xff; break;
                case 2: bytes[i] = (byte)(0x7f + rng.Next(3)); break;
                default: break;
            }
        }

        return Vector128.Create(bytes);
    }

    [Fact]
    public void XmmFormsMatchTheHost()
    {
        if (!Sse2.IsSupported)
        {
            return;
        }

        var rng = new Random(1234);
        foreach (var c in Cases())
        {
            using var m = new TestMachine();
            m.Load(c.Xmm);
            bool shift = c.Name.StartsWith("psll", StringComparison.Ordinal) || c.Name.StartsWith("psr", StringComparison.Ordinal);
            for (int k = 0; k < 64; k++)
            {
                var d = RandomVector(rng, false);
                var s = RandomVector(rng, shift);
                m.SetXmm(0, d.AsUInt64()[0], d.AsUInt64()[1]);
                m.SetXmm(1, s.AsUInt64()[0], s.AsUInt64()[1]);
                m.Cpu.S.Rip = TestMachine.CodeAddress;
                m.Run();
                var (lo, hi) = m.Xmm(0);
                Assert.True(B(c.Host(d, s)) == new V128(lo, hi), $"{c.Name} d={B(d)} s={B(s)}: got {new V128(lo, hi)}, host {B(c.Host(d, s))}");
            }
        }
    }

    /// <summary>PMOVMSKB (the top bit of each byte into a GPR, zero-extended over a dirty RAX) of XMM and MM against the host's.</summary>
    [Fact]
    public void PmovmskbMatchesTheHost()
    {
        if (!Sse2.IsSupported)
        {
            return;
        }

        var rng = new Random(91);
        using var xmm = new TestMachine();
        xmm.Load(a => a.pmovmskb(eax, xmm0));
        using var mmx = new TestMachine();
        mmx.Load(a => a.pmovmskb(rax, mm0));
        for (int k = 0; k < 256; k++)
        {
            var v = RandomVector(rng, false);
            foreach (var (m, isXmm) in new[] { (xmm, true), (mmx, false) })
            {
                m[Gpr.Rax] = ulong.MaxValue;
                if (isXmm)
                {
                    m.SetXmm(0, v.AsUInt64()[0], v.AsUInt64()[1]);
                }
                else
                {
                    m.SetMm(0, v.AsUInt64()[0]);
                }

                m.Cpu.S.Rip = TestMachine.CodeAddress;
                m.Run();
                ulong expected = (ulong)(isXmm ? Sse2.MoveMask(v) : Sse2.MoveMask(v) & 0xff);
                Assert.True(expected == m[Gpr.Rax], $"pmovmskb {(isXmm ? "xmm" : "mm")} {B(v)}: got {m[Gpr.Rax]:x}, host {expected:x}");
            }
        }
    }

    [Fact]
    public void MmxFormsMatchTheLowHalfOfTheHost()
    {
        if (!Sse2.IsSupported)
        {
            return;
        }

        var rng = new Random(5678);
        foreach (var c in Cases())
        {
            if (c.Mmx is null)
            {
                continue;
            }

            using var m = new TestMachine();
            m.Load(c.Mmx);
            bool shift = c.Name.StartsWith("psll", StringComparison.Ordinal) || c.Name.StartsWith("psr", StringComparison.Ordinal);
            for (int k = 0; k < 64; k++)
            {
                var d = Vector128.Create(RandomVector(rng, false).AsUInt64()[0], 0UL).AsByte();
                var s = Vector128.Create(RandomVector(rng, shift).AsUInt64()[0], 0UL).AsByte();
                m.SetMm(0, d.AsUInt64()[0]);
                m.SetMm(1, s.AsUInt64()[0]);
                m.Cpu.S.Rip = TestMachine.CodeAddress;
                m.Run();
                ulong expected = c.Host(d, s).AsUInt64()[0];
                Assert.True(expected == m.Mm(0), $"{c.Name} d={d.AsUInt64()[0]:x} s={s.AsUInt64()[0]:x}: got {m.Mm(0):x}, host {expected:x}");
            }
        }
    }
}
