using System.Globalization;
using System.Runtime.CompilerServices;
using Iced.Intel;
using Xunit;
using Xunit.Abstractions;
using static Emulator.X86.Tests.X87Tests;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// Differential check against a real x87: Vectors/x87-vectors.txt holds results recorded on
/// the host CPU by Vectors/x87-vectors.c (random 80-bit operands, every rounding and
/// precision control, special operands): add, subtract, multiply, divide, square root,
/// FRNDINT, FSCALE, FPREM, FPREM1, FXTRACT, FCOM, FUCOM, FCOMI, FUCOMI (EFLAGS), FXAM, FTST,
/// loads from m32/m64, stores to m32/m64 and FIST/FISTTP must give the same result and the
/// same status word; the transcendental functions a result within a few ulps (Tolerance) and
/// the same status word but for C1 (the rounding direction).
/// </summary>
public class X87VectorTests(ITestOutputHelper output)
{
    /// <summary>The vector file beside this source file, or found from the test binary's directory upwards (a build with mapped source paths).</summary>
    private static string VectorFile([CallerFilePath] string source = "")
    {
        string beside = Path.Combine(Path.GetDirectoryName(source) ?? ".", "Vectors", "x87-vectors.txt");
        if (File.Exists(beside))
        {
            return beside;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Emulator.X86.Tests", "Vectors", "x87-vectors.txt");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return beside;
    }

    /// <summary>
    /// How many ulps a transcendental result may differ by: a real x87 is not correctly rounded
    /// there, and near a zero of sin, cos or tan its argument reduction by a 66-bit pi costs
    /// several ulps (checked against 90-digit values: the emulator's results there are the
    /// correctly rounded ones). 0 for the exact operations.
    /// </summary>
    private static long Tolerance(string op, ulong signExp) => op switch
    {
        // An absolute error of 2^-60 for results below 1/16 (near a zero).
        "sin" or "cos" or "tan" => 16L << Math.Clamp(16383 - 4 - (int)(signExp & 0x7FFF), 0, 40),
        "atan" or "yl2x" or "yl2xp1" or "f2xm1" => 1,
        _ => 0,
    };

    /// <summary>
    /// Operations that store to memory at 0x30 rather than leave a result on the stack, and
    /// FCOMI/FUCOMI, whose result is EFLAGS.
    /// </summary>
    private static bool Stores(string op) => op.StartsWith("st", StringComparison.Ordinal) || op.StartsWith("ist", StringComparison.Ordinal)
        || op.StartsWith("ld", StringComparison.Ordinal) || op.EndsWith("comi", StringComparison.Ordinal);

    /// <summary>Cases run with some exceptions unmasked: ST(0) is read back through FNSAVE.</summary>
    private static bool Unmasked(string op) => op is "uadd" or "umul" or "udiv" or "usqrt";

    private static void Emit(Assembler a, string op)
    {
        switch (op)
        {
            case "st32": a.fstp(Dw(64, 0x30)); break;
            case "st64": a.fstp(Qw(64, 0x30)); break;
            case "ist16": a.fistp(W(64, 0x30)); break;
            case "ist32": a.fistp(Dw(64, 0x30)); break;
            case "ist64": a.fistp(Qw(64, 0x30)); break;
            case "istt64": a.fisttp(Qw(64, 0x30)); break;
            case "com": a.fcom(st0, st1); break;
            case "ucom": a.fucom(st0, st1); break;
            case "sin": a.fsin(); break;
            case "cos": a.fcos(); break;
            case "tan": a.fptan(); a.fstp(st0); break;
            case "atan": a.fpatan(); break;
            case "yl2x": a.fyl2x(); break;
            case "yl2xp1": a.fyl2xp1(); break;
            case "f2xm1": a.f2xm1(); break;
            case "xtract": a.fxtract(); break;
            case "xtractexp": a.fxtract(); a.fstp(st0); break;
            case "xam": a.fxam(); break;
            case "tst": a.ftst(); break;
            case "ld32": a.fstp(st0); a.fstp(st0); a.fld(Dw(64, 0x10)); a.fstp(Tw(64, 0x30)); break;
            case "ld64": a.fstp(st0); a.fstp(st0); a.fld(Qw(64, 0x10)); a.fstp(Tw(64, 0x30)); break;
            case "comi": a.fcomi(st0, st1); break;
            case "ucomi": a.fucomi(st0, st1); break;
            case "uadd": a.fadd(st0, st1); break;
            case "umul": a.fmul(st0, st1); break;
            case "udiv": a.fdivrp(st1, st0); break;
            case "usqrt": a.fsqrt(); break;
            case "add": a.fadd(st0, st1); break;
            case "sub": a.fsub(st0, st1); break;
            case "mul": a.fmul(st0, st1); break;
            case "div": a.fdiv(st0, st1); break;
            case "sqrt": a.fsqrt(); break;
            case "rndint": a.frndint(); break;
            case "scale": a.fscale(); break;
            case "prem": a.fprem(); break;
            default: a.fprem1(); break;
        }
    }

    [Fact]
    public void MatchesTheHostCpu()
    {
        var machines = new Dictionary<string, TestMachine>();
        int failures = 0, cases = 0;
        try
        {
            foreach (var line in File.ReadLines(VectorFile()))
            {
                var f = line.Split(' ');
                string op = f[0];
                if (!machines.TryGetValue(op, out var m))
                {
                    m = new TestMachine(64);
                    m.Load(a =>
                    {
                        a.mov(ebx, (uint)Data);
                        a.fninit();
                        a.fldcw(W(64, 0));
                        a.fld(Tw(64, 0x20));
                        a.fld(Tw(64, 0x10));
                        a.fnclex();
                        Emit(a, op);
                        a.fnstsw(W(64, 0x40));
                        if (Unmasked(op))
                        {
                            a.fnsave(M(64, 0x60)); // does not wait: reads the state despite the pending exception
                        }
                        else if (!Stores(op))
                        {
                            a.fstp(Tw(64, 0x30));
                        }
                    });
                    machines[op] = m;
                }

                ulong Hex(int i) => ulong.Parse(f[i], NumberStyles.HexNumber);
                m.WriteMem(Data, Hex(1), 2);
                Put80(m, 0x10, Hex(2), (ushort)Hex(3));
                Put80(m, 0x20, Hex(4), (ushort)Hex(5));
                Put80(m, 0x30, 0, 0);
                m.Cpu.S.Rip = TestMachine.CodeAddress;
                m.Run();
                ulong result = Unmasked(op) ? Data + 0x60 + 28 : Data + 0x30;
                ulong rm = op.EndsWith("comi", StringComparison.Ordinal) ? m.Rflags & 0x8D5 : m.ReadMem(result, 8);
                ulong rse = m.ReadMem(result + 8, 2), sw = m.ReadMem(Data + 0x40, 2);
                cases++;
                long tolerance = Tolerance(op, Hex(7));
                bool same = tolerance > 0
                    ? rse == Hex(7) && Math.Abs((long)(rm - Hex(6))) <= tolerance && (sw & ~0x200UL) == (Hex(8) & ~0x200UL)
                    : rm == Hex(6) && rse == Hex(7) && sw == Hex(8);
                if (!same)
                {
                    failures++;
                    if (failures <= 40)
                    {
                        output.WriteLine($"{line}  got {rm:x16} {rse:x4} {sw:x4}");
                    }
                }
            }
        }
        finally
        {
            foreach (var m in machines.Values)
            {
                m.Dispose();
            }
        }

        Assert.True(cases > 500, $"only {cases} vectors");
        Assert.Equal(0, failures);
    }
}
