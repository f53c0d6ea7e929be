using System.Diagnostics;
using System.Text;
using Emulator.Execution;
using Emulator.X86.Frontend;
using Emulator.X86.State;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>The outcome of one case.</summary>
public sealed class CaseResult
{
    public CaseResult(DiffCase c) => Case = c;

    public DiffCase Case { get; }

    public bool Passed => Stop == StopReason.Halted && Differences.Count == 0;

    public StopReason Stop { get; set; }

    /// <summary>Set when the emulator did not reach the final HLT.</summary>
    public string? StopDetail { get; set; }

    /// <summary>Mnemonics of the case that the emulator has no emitter for.</summary>
    public List<Mnemonic> Unimplemented { get; } = [];

    public List<string> Differences { get; } = [];

    /// <summary>What the case changed on the host, to show that cases exercise each part of the state.</summary>
    public StateParts NativeChanged { get; set; }
}

/// <summary>Parts of the machine state.</summary>
[Flags]
public enum StateParts
{
    None = 0,
    Gpr = 1,
    Flags = 2,
    Xmm = 4,
    Mxcsr = 8,
    Memory = 16,
}

/// <summary>Totals of a run of one group.</summary>
public sealed class GroupSummary
{
    public GroupSummary(DiffGroup group) => Group = group;

    public DiffGroup Group { get; }

    public long Cases { get; set; }

    public long Passed { get; set; }

    /// <summary>Cases where the emulator stopped early (usually #UD on an instruction it lacks).</summary>
    public long Stopped { get; set; }

    /// <summary>Cases that ran to the end with a different state.</summary>
    public long Mismatched { get; set; }

    public SortedSet<string> Unimplemented { get; } = [];

    public List<CaseResult> Failures { get; } = [];

    /// <summary>How often each mnemonic occurs in the cases run.</summary>
    public Dictionary<Mnemonic, long> Mnemonics { get; } = [];

    /// <summary>Number of cases that changed each part of the state on the host (index: bit of <see cref="StateParts"/>).</summary>
    public long[] Changed { get; } = new long[5];

    /// <summary>Instruction counts and how often each part of the state changed: a coverage report.</summary>
    public string Coverage()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append($"  {Group.Name}: cases changing gpr/flags/xmm/mxcsr/memory on the host: ");
        sb.AppendLine(string.Join(" / ", Changed.Select(n => $"{100.0 * n / Math.Max(1, Cases):F0}%")));
        sb.Append("    ");
        sb.AppendLine(string.Join(' ', Mnemonics.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key.ToString().ToLowerInvariant()}:{kv.Value}")));
        return sb.ToString();
    }

    public TimeSpan Elapsed { get; set; }

    public override string ToString() =>
        $"{Group.Name,-7} {Cases,9} cases {Passed,9} passed {Mismatched,7} mismatched {Stopped,7} stopped  " +
        $"{Elapsed.TotalSeconds,7:F1} s {(Elapsed.TotalSeconds > 0 ? Cases / Elapsed.TotalSeconds : 0),8:F0} cases/s" +
        (Unimplemented.Count > 0 ? $"  unimplemented: {string.Join(' ', Unimplemented)}" : "");
}

/// <summary>Runs generated cases on the host and the emulator and compares the final states.</summary>
public sealed class DiffRunner : IDisposable
{
    private readonly EmulatorCpu emu = new();
    private readonly HostCpu host = HostCpu.Instance;
    private readonly MachineState nativeOut = new();
    private readonly MachineState emuOut = new();
    private readonly byte[] emuCode = new byte[4096];

    public ulong DataAddress => host.DataAddress;

    /// <summary>Runs cases [first, first + count) of <paramref name="group"/>, keeping the first <paramref name="keepFailures"/> failures.</summary>
    public GroupSummary RunGroup(DiffGroup group, ulong seed, long first, long count, int keepFailures = 5)
    {
        var summary = new GroupSummary(group);
        var sw = Stopwatch.StartNew();
        for (long i = first; i < first + count; i++)
        {
            var result = RunCase(group.Build(seed, i, host.DataAddress));
            summary.Cases++;
            foreach (var insn in result.Case.Instructions)
            {
                summary.Mnemonics[insn.Mnemonic] = summary.Mnemonics.GetValueOrDefault(insn.Mnemonic) + 1;
            }

            for (int bit = 0; bit < summary.Changed.Length; bit++)
            {
                if (((int)result.NativeChanged & (1 << bit)) != 0)
                {
                    summary.Changed[bit]++;
                }
            }

            if (result.Passed)
            {
                summary.Passed++;
                continue;
            }

            if (result.Stop != StopReason.Halted)
            {
                summary.Stopped++;
            }
            else
            {
                summary.Mismatched++;
            }

            foreach (var m in result.Unimplemented)
            {
                summary.Unimplemented.Add(m.ToString().ToLowerInvariant());
            }

            if (summary.Failures.Count < keepFailures)
            {
                summary.Failures.Add(result);
            }
        }

        summary.Elapsed = sw.Elapsed;
        return summary;
    }

    public CaseResult RunCase(DiffCase c)
    {
        var result = new CaseResult(c);
        lock (HostCpu.Gate)
        {
            c.Data.CopyTo(host.Data);
            host.Run(c.Code, c.Input, nativeOut);
            result.NativeChanged = Changes(c, host.Data);

            c.Data.CopyTo(emu.Memory.Span(host.DataAddress, HostCpu.DataSize));
            c.Code.CopyTo(emuCode, 0);
            emuCode[c.Code.Length] = 0xf4; // HLT
            result.Stop = emu.Run(emuCode.AsSpan(0, c.Code.Length + 1), c.Input, emuOut);
            if (result.Stop != StopReason.Halted)
            {
                var s = emu.Cpu.S;
                result.StopDetail = $"emulator stopped with {result.Stop} at rip=0x{s.Rip:x}" +
                    (result.Stop == StopReason.Exception ? $" (vector {s.ExceptionVector}{(s.ExceptionVector == Vector.UD ? ", #UD" : "")})" : "");
            }

            foreach (var insn in c.Instructions)
            {
                if (!Translator.IsImplemented(insn.Mnemonic) && !result.Unimplemented.Contains(insn.Mnemonic))
                {
                    result.Unimplemented.Add(insn.Mnemonic);
                }
            }

            if (result.Stop == StopReason.Halted)
            {
                Compare(c, result, host.Data, emu.Memory.Span(host.DataAddress, HostCpu.DataSize));
            }
        }

        return result;
    }

    private StateParts Changes(DiffCase c, ReadOnlySpan<byte> nativeData)
    {
        var parts = StateParts.None;
        for (int i = 0; i < 16; i++)
        {
            if (i != (int)Gpr.Rsp && nativeOut.Gpr[i] != c.Input.Gpr[i])
            {
                parts |= StateParts.Gpr;
            }
        }

        if (((nativeOut.Rflags ^ c.Input.Rflags) & c.FlagsCompared) != 0)
        {
            parts |= StateParts.Flags;
        }

        if (!nativeOut.Xmm.AsSpan().SequenceEqual(c.Input.Xmm))
        {
            parts |= StateParts.Xmm;
        }

        if (nativeOut.Mxcsr != c.Input.Mxcsr)
        {
            parts |= StateParts.Mxcsr;
        }

        if (!nativeData.SequenceEqual(c.Data))
        {
            parts |= StateParts.Memory;
        }

        return parts;
    }

    private void Compare(DiffCase c, CaseResult result, ReadOnlySpan<byte> nativeData, ReadOnlySpan<byte> emuData)
    {
        var d = result.Differences;
        for (int i = 0; i < 16; i++)
        {
            if (i != (int)Gpr.Rsp && nativeOut.Gpr[i] != emuOut.Gpr[i])
            {
                d.Add($"{RegName(i),-6} input {c.Input.Gpr[i]:x16}  native {nativeOut.Gpr[i]:x16}  emulator {emuOut.Gpr[i]:x16}");
            }
        }

        ulong mask = c.FlagsCompared;
        if ((nativeOut.Rflags & mask) != (emuOut.Rflags & mask))
        {
            d.Add($"rflags input {FlagNames(c.Input.Rflags, mask)}  native {FlagNames(nativeOut.Rflags, mask)}  emulator {FlagNames(emuOut.Rflags, mask)}" +
                $"  (differ: {FlagNames((nativeOut.Rflags ^ emuOut.Rflags) & mask, mask, onlySet: true)}; compared: {FlagNames(mask, mask, onlySet: true)})");
        }

        for (int i = 0; i < 16; i++)
        {
            if (nativeOut.Xmm[2 * i] != emuOut.Xmm[2 * i] || nativeOut.Xmm[2 * i + 1] != emuOut.Xmm[2 * i + 1])
            {
                d.Add($"xmm{i,-3} input {Xmm(c.Input, i)}  native {Xmm(nativeOut, i)}  emulator {Xmm(emuOut, i)}");
            }
        }

        if (nativeOut.Mxcsr != emuOut.Mxcsr)
        {
            d.Add($"mxcsr  input {c.Input.Mxcsr:x8}  native {nativeOut.Mxcsr:x8}  emulator {emuOut.Mxcsr:x8}");
        }

        if (!nativeData.SequenceEqual(emuData))
        {
            // One line per run of up to 16 differing bytes.
            for (int i = 0; i < nativeData.Length;)
            {
                if (nativeData[i] == emuData[i])
                {
                    i++;
                    continue;
                }

                int end = i + 1;
                while (end < nativeData.Length && end - i < 16 && nativeData[end] != emuData[end])
                {
                    end++;
                }

                d.Add($"mem[0x{host.DataAddress + (ulong)i:x}..+{end - i}] input {Hex(c.Data.AsSpan(i, end - i))}  native {Hex(nativeData[i..end])}  emulator {Hex(emuData[i..end])}");
                i = end;
            }
        }
    }

    /// <summary>The full report of a failed case: what ran, from what state, what differed, and how to replay it.</summary>
    public string Describe(CaseResult r)
    {
        var c = r.Case;
        var sb = new StringBuilder();
        sb.AppendLine($"FAILED group {c.Group} seed 0x{c.Seed:x} case {c.Index}");
        sb.AppendLine($"  replay: {c.ReplayCommand}");
        sb.AppendLine("  code:");
        var formatter = new NasmFormatter();
        formatter.Options.FirstOperandCharIndex = 8;
        var output = new StringOutput();
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(c.Code), EmulatorCpu.CodeAddress);
        while (decoder.IP < EmulatorCpu.CodeAddress + (ulong)c.Code.Length)
        {
            ulong ip = decoder.IP;
            decoder.Decode(out var insn);
            formatter.Format(insn, output);
            string bytes = Convert.ToHexString(c.Code, (int)(ip - EmulatorCpu.CodeAddress), insn.Length).ToLowerInvariant();
            string mem = insn.OpCount > 0 && Enumerable.Range(0, insn.OpCount).Any(i => insn.GetOpKind(i) == OpKind.Memory) && insn.MemorySize.GetSize() > 0
                ? MemoryNote(c, insn)
                : "";
            sb.AppendLine($"    {ip - EmulatorCpu.CodeAddress:x4}  {bytes,-30} {output.ToStringAndReset(),-40}{mem}");
        }

        if (r.StopDetail is not null)
        {
            sb.AppendLine($"  {r.StopDetail}");
        }

        if (r.Unimplemented.Count > 0)
        {
            sb.AppendLine($"  not implemented in the emulator: {string.Join(' ', r.Unimplemented).ToLowerInvariant()}");
        }

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

        sb.AppendLine($"    rflags={c.Input.Rflags:x} ({FlagNames(c.Input.Rflags, (ulong)(RFlags.Arith | RFlags.DF))})  mxcsr={c.Input.Mxcsr:x8}  data buffer at 0x{host.DataAddress:x}");
        var xmmUsed = new SortedSet<int>();
        foreach (var insn in c.Instructions)
        {
            for (int i = 0; i < insn.OpCount; i++)
            {
                if (insn.GetOpKind(i) == OpKind.Register && insn.GetOpRegister(i).IsXMM())
                {
                    xmmUsed.Add(insn.GetOpRegister(i) - Register.XMM0);
                }
            }
        }

        foreach (int x in xmmUsed)
        {
            sb.AppendLine($"    xmm{x,-2} = {Xmm(c.Input, x)}");
        }

        if (r.Differences.Count > 0)
        {
            sb.AppendLine($"  differences (native is the reference; flags compared: {FlagNames(c.FlagsCompared, c.FlagsCompared, onlySet: true)}):");
            foreach (var diff in r.Differences)
            {
                sb.AppendLine($"    {diff}");
            }
        }

        return sb.ToString();
    }

    private string MemoryNote(DiffCase c, in Instruction insn)
    {
        ulong addr = insn.MemoryDisplacement64 + c.Input.Gpr[insn.MemoryBase - Register.RAX];
        if (insn.MemoryIndex != Register.None)
        {
            addr += c.Input.Gpr[insn.MemoryIndex - Register.RAX] * (ulong)insn.MemoryIndexScale;
        }

        int size = Math.Min(insn.MemorySize.GetSize(), 16);
        long off = (long)(addr - host.DataAddress);
        if (off < 0 || off + size > HostCpu.DataSize)
        {
            return $"; [0x{addr:x}]";
        }

        return $"; [0x{addr:x}] input bytes {Convert.ToHexString(c.Data, (int)off, size).ToLowerInvariant()}";
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    private static string Xmm(MachineState s, int i) => $"{s.Xmm[2 * i + 1]:x16}_{s.Xmm[2 * i]:x16}";

    private static string RegName(int i) => ((Register)((int)Register.RAX + i)).ToString().ToLowerInvariant();

    private static string FlagNames(ulong value, ulong mask, bool onlySet = false)
    {
        var names = new List<string>();
        foreach (var (bit, name) in new[] { (RFlags.CF, "CF"), (RFlags.PF, "PF"), (RFlags.AF, "AF"), (RFlags.ZF, "ZF"), (RFlags.SF, "SF"), (RFlags.DF, "DF"), (RFlags.OF, "OF") })
        {
            if ((mask & (ulong)bit) == 0)
            {
                continue;
            }

            if ((value & (ulong)bit) != 0)
            {
                names.Add(name);
            }
            else if (!onlySet)
            {
                names.Add(name.ToLowerInvariant());
            }
        }

        return names.Count == 0 ? "-" : string.Join(' ', names);
    }

    public void Dispose() => emu.Dispose();
}
