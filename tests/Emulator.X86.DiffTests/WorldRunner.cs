using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>The outcome of one world case: both sides' exceptions and states, and what differed.</summary>
public sealed class WorldResult(WorldCase c, WorldOutcome native, WorldOutcome emulator)
{
    public WorldCase Case { get; } = c;

    public WorldOutcome Native { get; } = native;

    public WorldOutcome Emulator { get; } = emulator;

    public List<string> Differences { get; } = [];

    public bool Passed => Emulator.Failure is null && Differences.Count == 0;
}

/// <summary>Totals of a run of one world group.</summary>
public sealed class WorldSummary(WorldGroup group)
{
    public WorldGroup Group { get; } = group;

    public long Cases { get; set; }

    public long Passed { get; set; }

    public List<WorldResult> Failures { get; } = [];

    /// <summary>How the cases ended on the host, by vector: a coverage report.</summary>
    public SortedDictionary<int, long> Vectors { get; } = [];

    public TimeSpan Elapsed { get; set; }

    public string VectorCounts() => string.Join(' ', Vectors.Select(kv => $"{WorldRunner.VectorName(kv.Key)}:{kv.Value}"));

    public override string ToString() =>
        $"{Group.Name,-8} {Cases,9} cases {Passed,9} passed {Cases - Passed,7} failed  {Elapsed.TotalSeconds,7:F1} s " +
        $"{(Elapsed.TotalSeconds > 0 ? Cases / Elapsed.TotalSeconds : 0),8:F0} cases/s  ends: {VectorCounts()}";
}

/// <summary>
/// Runs world cases on the host (through <see cref="HostRunner"/>) and on the emulator
/// (<see cref="World"/>) and compares how they ended: the vector, the error code (for vectors
/// that push one), CR2 (for #PF), the saved RIP and CS, every GPR, the defined flags, the
/// FXSAVE image (FCW, FSW, the abridged tag, ST0-7, MXCSR, XMM0-15) and the region's bytes (so
/// a faulting store that wrote anything shows).
/// </summary>
public sealed class WorldRunner : IDisposable
{
    private readonly World world = new();
    private readonly HostRunner host = new();

    public WorldSummary RunGroup(WorldGroup group, ulong seed, long first, long count, int keepFailures = 5)
    {
        var summary = new WorldSummary(group);
        var sw = Stopwatch.StartNew();
        for (long i = first; i < first + count; i++)
        {
            var r = RunCase(group.Build(seed, i));
            summary.Cases++;
            summary.Vectors[r.Native.Vector] = summary.Vectors.GetValueOrDefault(r.Native.Vector) + 1;
            if (r.Passed)
            {
                summary.Passed++;
            }
            else if (summary.Failures.Count < keepFailures)
            {
                summary.Failures.Add(r);
            }
        }

        summary.Elapsed = sw.Elapsed;
        return summary;
    }

    public WorldResult RunCase(WorldCase c)
    {
        var native = host.Run(c);
        var emu = world.Run(c);
        var result = new WorldResult(c, native, emu);
        if (emu.Failure is null)
        {
            Compare(result);
        }

        return result;
    }

    private static void Compare(WorldResult r)
    {
        var c = r.Case;
        var (n, e, d) = (r.Native, r.Emulator, r.Differences);
        if (n.Vector != e.Vector)
        {
            d.Add($"vector native {VectorName(n.Vector)}  emulator {VectorName(e.Vector)}");
        }
        else
        {
            // Linux reports a user-mode #PF at or above TASK_SIZE_MAX (0x7ffffffff000) as a protection
            // fault whatever the page tables say (arch/x86/mm/fault.c, sanitize_error_code): P is not compared there.
            ulong errorMask = n.Vector == Vector.PF && n.Cr2 >= 0x7fff_ffff_f000 ? ~1UL : ~0UL;
            if (Cpu.HasErrorCode(n.Vector) && (n.ErrorCode & errorMask) != (e.ErrorCode & errorMask))
            {
                d.Add($"error code native 0x{n.ErrorCode:x}  emulator 0x{e.ErrorCode:x}");
            }

            if (n.Vector == Vector.PF && n.Cr2 != e.Cr2)
            {
                d.Add($"cr2    native 0x{n.Cr2:x}  emulator 0x{e.Cr2:x}");
            }
        }

        if (n.Rip != e.Rip || n.Cs != e.Cs)
        {
            d.Add($"saved cs:rip native {n.Cs:x}:{n.Rip:x}  emulator {e.Cs:x}:{e.Rip:x}");
        }

        for (int i = 0; i < 16; i++)
        {
            // Linux returns to a 16-bit stack segment through its ESPFIX64 stack (arch/x86/kernel/espfix_64.c),
            // so an interrupt taken during a 16-bit case leaves bits 63:32 of RSP set: not compared there.
            ulong mask = i == (int)Gpr.Rsp && c.Bitness == 16 ? 0xffff_ffff : ulong.MaxValue;
            if (((n.Gpr[i] ^ e.Gpr[i]) & mask) != 0)
            {
                d.Add($"{RegName(i),-6} input {c.Input.Gpr[i]:x16}  native {n.Gpr[i]:x16}  emulator {e.Gpr[i]:x16}");
            }
        }

        if (((n.Rflags ^ e.Rflags) & c.FlagsCompared) != 0)
        {
            d.Add($"rflags native {n.Rflags & c.FlagsCompared:x}  emulator {e.Rflags & c.FlagsCompared:x}  (compared bits {c.FlagsCompared:x})");
        }

        CompareFx(c, n.Fx, e.Fx, d);
        for (int i = 0; i < World.RegionBytes;)
        {
            if (n.Region[i] == e.Region[i])
            {
                i++;
                continue;
            }

            int end = i + 1;
            while (end < World.RegionBytes && end - i < 16 && n.Region[end] != e.Region[end])
            {
                end++;
            }

            d.Add($"mem[0x{World.RegionAddress + (ulong)i:x}..+{end - i}] input {Hex(c.Region.AsSpan(i, end - i))}  native {Hex(n.Region.AsSpan(i, end - i))}  emulator {Hex(e.Region.AsSpan(i, end - i))}");
            i = end;
        }
    }

    private static void CompareFx(WorldCase c, byte[] n, byte[] e, List<string> d)
    {
        ushort Word(byte[] image, int at) => BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(at));
        if (Word(n, X87Image.Fcw) != Word(e, X87Image.Fcw))
        {
            d.Add($"fcw    native {Word(n, X87Image.Fcw):x4}  emulator {Word(e, X87Image.Fcw):x4}");
        }

        if (((Word(n, X87Image.Fsw) ^ Word(e, X87Image.Fsw)) & c.FswCompared) != 0)
        {
            d.Add($"fsw    native {Word(n, X87Image.Fsw):x4}  emulator {Word(e, X87Image.Fsw):x4}  (C3 C2 C1 C0 = bits 14 10 9 8, TOP = 13-11, flags = 6-0; compared {c.FswCompared:x4})");
        }

        if (n[X87Image.Ftw] != e[X87Image.Ftw])
        {
            d.Add($"ftw    native {n[X87Image.Ftw]:x2}  emulator {e[X87Image.Ftw]:x2}  (abridged: bit n set = R{{n}} in use)");
        }

        for (int i = 0; i < 8; i++)
        {
            var ns = n.AsSpan(X87Image.St + 16 * i, 10);
            var es = e.AsSpan(X87Image.St + 16 * i, 10);
            if (!ns.SequenceEqual(es))
            {
                d.Add($"st{i}    native {F80(ns)}  emulator {F80(es)}");
            }
        }

        uint nm = BinaryPrimitives.ReadUInt32LittleEndian(n.AsSpan(X87Image.Mxcsr)), em = BinaryPrimitives.ReadUInt32LittleEndian(e.AsSpan(X87Image.Mxcsr));
        if (nm != em)
        {
            d.Add($"mxcsr  input {c.Input.Mxcsr:x8}  native {nm:x8}  emulator {em:x8}");
        }

        for (int i = 0; i < 16; i++)
        {
            var nx = n.AsSpan(X87Image.Xmm + 16 * i, 16);
            var ex = e.AsSpan(X87Image.Xmm + 16 * i, 16);
            if (!nx.SequenceEqual(ex))
            {
                d.Add($"xmm{i,-3} input {c.Input.Xmm[2 * i + 1]:x16}_{c.Input.Xmm[2 * i]:x16}  native {Xmm(nx)}  emulator {Xmm(ex)}");
            }
        }
    }

    /// <summary>The full report of a failed case: what ran, how each side ended, what differed, and how to replay it.</summary>
    public static string Describe(WorldResult r)
    {
        var c = r.Case;
        var sb = new StringBuilder();
        sb.AppendLine($"FAILED group {c.Group} seed 0x{c.Seed:x} case {c.Index} ({c.Bitness}-bit code at 0x{World.CodeAddress:x}, CPL 3, paging)");
        sb.AppendLine($"  replay: {c.ReplayCommand}");
        sb.AppendLine("  code:");
        var formatter = new NasmFormatter();
        formatter.Options.FirstOperandCharIndex = 8;
        var output = new StringOutput();
        ulong ip0 = c.Bitness == 16 ? 0 : World.CodeAddress;
        var code = c.Code.Append((byte)0xf4).ToArray();
        var decoder = Iced.Intel.Decoder.Create(c.Bitness, new ByteArrayCodeReader(code), ip0);
        while (decoder.IP < ip0 + (ulong)code.Length)
        {
            ulong ip = decoder.IP;
            decoder.Decode(out var insn);
            formatter.Format(insn, output);
            string bytes = Convert.ToHexString(code, (int)(ip - ip0), insn.Length).ToLowerInvariant();
            sb.AppendLine($"    {ip:x5}  {bytes,-30} {output.ToStringAndReset(),-40}{MemoryNote(c, insn)}");
        }

        sb.AppendLine($"  region pages at 0x{World.RegionAddress:x}: {string.Join(' ', c.Pages.Select(p => p switch { PageAccess.None => "--", PageAccess.Read => "r-", _ => "rw" }))}");
        sb.AppendLine($"  native:   {Ending(r.Native)} (signal {r.Native.Signal})");
        sb.AppendLine($"  emulator: {r.Emulator.Failure ?? Ending(r.Emulator)}");
        sb.AppendLine("  input:");
        for (int i = 0; i < 16; i += 4)
        {
            sb.Append("   ");
            for (int j = i; j < i + 4; j++)
            {
                sb.Append($" {RegName(j),3}={c.Input.Gpr[j]:x16}");
            }

            sb.AppendLine();
        }

        var fx = c.FxImage();
        sb.AppendLine($"    rflags={c.Input.Rflags:x} mxcsr={c.Input.Mxcsr:x8} fcw={BinaryPrimitives.ReadUInt16LittleEndian(fx):x4}");
        if (fx[X87Image.Ftw] != 0 || BinaryPrimitives.ReadUInt16LittleEndian(fx.AsSpan(X87Image.Fsw)) != 0)
        {
            sb.Append($"    fsw={BinaryPrimitives.ReadUInt16LittleEndian(fx.AsSpan(X87Image.Fsw)):x4} ftw={fx[X87Image.Ftw]:x2}");
            for (int i = 0; i < 8; i++)
            {
                sb.Append($" st{i}={F80(fx.AsSpan(X87Image.St + 16 * i, 10))}");
            }

            sb.AppendLine();
        }

        if (r.Differences.Count > 0)
        {
            sb.AppendLine("  differences (native is the reference):");
            foreach (var diff in r.Differences)
            {
                sb.AppendLine($"    {diff}");
            }
        }

        return sb.ToString();
    }

    /// <summary>The input bytes of an instruction's memory operand (registers at their input values), or nothing.</summary>
    private static string MemoryNote(WorldCase c, Instruction insn)
    {
        if (!Enumerable.Range(0, insn.OpCount).Any(i => insn.GetOpKind(i) == OpKind.Memory) || insn.MemoryBase == Register.None || insn.MemoryBase == Register.RIP)
        {
            return "";
        }

        ulong address = insn.MemoryDisplacement64 + c.Input.Gpr[insn.MemoryBase.GetFullRegister() - Register.RAX];
        if (insn.MemoryIndex != Register.None)
        {
            address += c.Input.Gpr[insn.MemoryIndex.GetFullRegister() - Register.RAX] * (ulong)insn.MemoryIndexScale;
        }

        if (c.Bitness != 64)
        {
            address = c.Bitness == 32 ? address & 0xffff_ffff : (address & 0xffff) + World.Data16Base;
        }

        int size = Math.Min(Math.Max(insn.MemorySize.GetSize(), 1), 16);
        long offset = (long)(address - World.RegionAddress);
        return offset >= 0 && offset + size <= World.RegionBytes
            ? $"; [0x{address:x}] = {Hex(c.Region.AsSpan((int)offset, size))}"
            : $"; [0x{address:x}]";
    }

    private static string Ending(WorldOutcome o) =>
        $"{VectorName(o.Vector)}" + (Cpu.HasErrorCode(o.Vector) ? $"(0x{o.ErrorCode:x})" : "") + (o.Vector == Vector.PF ? $" cr2=0x{o.Cr2:x}" : "") + $" at {o.Cs:x}:{o.Rip:x}";

    private static readonly string[] Names =
        ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "9", "#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM"];

    public static string VectorName(int v) => v >= 0 && v < Names.Length ? Names[v] : v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string F80(ReadOnlySpan<byte> b) => $"{BinaryPrimitives.ReadUInt16LittleEndian(b[8..]):x4}_{BinaryPrimitives.ReadUInt64LittleEndian(b):x16}";

    private static string Xmm(ReadOnlySpan<byte> b) => $"{BinaryPrimitives.ReadUInt64LittleEndian(b[8..]):x16}_{BinaryPrimitives.ReadUInt64LittleEndian(b):x16}";

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    private static string RegName(int i) => ((Register)((int)Register.RAX + i)).ToString().ToLowerInvariant();

    public void Dispose()
    {
        host.Dispose();
        world.Dispose();
    }
}
