using System.Diagnostics;
using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86.State;

namespace Emulator.X86.DiffTests;

/// <summary>Totals of a tier-0 against tier-1 run.</summary>
public sealed class Tier1Summary
{
    public long Cases { get; set; }

    public long Mismatched { get; set; }

    /// <summary>Guest instructions the tier-1 machine ran, and how many of its runs entered compiled code.</summary>
    public ulong Instructions { get; set; }

    public long Tier1Entries { get; set; }

    public long Modules { get; set; }

    /// <summary>Blocks compiled to tier 1 (and so compared with tier 0).</summary>
    public long Blocks { get; set; }

    public List<string> Failures { get; } = [];

    public TimeSpan Elapsed { get; set; }

    public override string ToString() =>
        $"{Cases,9} cases {Mismatched,6} mismatched  {Instructions:N0} guest instructions, {Tier1Entries:N0} entries into tier-1 code, " +
        $"{Blocks:N0} blocks in {Modules:N0} modules  {Elapsed.TotalSeconds,6:F1} s";
}

/// <summary>
/// Runs the same code on tier 0 (the interpreter) and on tier 1 (the same IR compiled to Wasm)
/// from the same state and compares the whole CPU state block, the stop reason and the memory
/// (the compiler-against-interpreter fuzzing Wasm engines do). Cases come in batches of
/// <see cref="BatchSize"/>, each at its own address; the tier-1 machine compiles a batch's first
/// blocks into one module (blocks it reaches later are compiled as they are met). Groups are
/// the host differential's, plus "bytes": random bytes, whatever they decode to (faults,
/// privileged instructions, jumps, self-modifying stores), with registers pointing into the data
/// buffer. A mismatch names the batch to replay.
/// </summary>
public sealed class Tier1DiffRunner : IDisposable
{
    public const int BatchSize = 256;
    private const ulong CodeBase = 0x100000;
    private const int SlotBytes = 256;
    private const ulong DataAddress = 0x800000;
    private const int DataBytes = HostCpu.DataSize;
    private const ulong StackTop = 0xf00000;
    private const long Budget = 500;

    private readonly EmulatorCpu tier0 = new(interpreterOnly: true);
    private readonly EmulatorCpu tier1;
    private readonly string engine;

    public Tier1DiffRunner(string engine)
    {
        this.engine = engine;
        tier1 = new EmulatorCpu(new Tier1Options(Tier1Options.CreateEngine(engine)) { Threshold = 1, Synchronous = true });

        // RDTSC must read the same on both sides: a clock that counts retired instructions.
        tier0.Cpu.Clock = new InstructionClock(tier0.Cpu);
        tier1.Cpu.Clock = new InstructionClock(tier1.Cpu);
    }

    public static IEnumerable<string> Groups => DiffGroup.All.Select(g => g.Name).Append("bytes");

    /// <summary>Runs <paramref name="count"/> cases of <paramref name="group"/> from case <paramref name="first"/>, in whole batches.</summary>
    public Tier1Summary Run(string group, ulong seed, long first, long count, int keepFailures = 3)
    {
        var summary = new Tier1Summary();
        var sw = Stopwatch.StartNew();
        var diffGroup = group == "bytes" ? null : DiffGroup.Find(group) ?? throw new ArgumentException($"unknown group {group}");
        var tierUp = tier1.Cache.TierUp!;
        long modulesBefore = tierUp.Modules, blocksBefore = tierUp.CompiledBlocks;
        for (long batch = first; batch < first + count; batch += BatchSize)
        {
            int n = (int)Math.Min(BatchSize, first + count - batch);
            var cases = new Case[n];
            for (int k = 0; k < n; k++)
            {
                cases[k] = diffGroup is null ? RandomBytes(seed, batch + k) : FromGroup(diffGroup.Build(seed, batch + k, DataAddress));
            }

            Load(tier0, cases);
            Load(tier1, cases);
            Precompile(cases);
            for (int k = 0; k < n; k++)
            {
                summary.Cases++;
                string? diff = RunBoth(cases[k], k, summary);
                if (diff is null)
                {
                    continue;
                }

                summary.Mismatched++;
                if (summary.Failures.Count < keepFailures)
                {
                    summary.Failures.Add($"{group} case {batch + k} (seed 0x{seed:x}): {diff}\n" +
                        $"  replay its batch: dotnet run --project tests/Emulator.X86.DiffTests -c Release -- --tier1 {engine} --group {group} --seed 0x{seed:x} --first {batch} --cases {n}");
                }
            }

            if (!MemoryEqual())
            {
                summary.Mismatched++;
                summary.Failures.Add($"{group} batch from case {batch} (seed 0x{seed:x}): guest memory differs after the batch\n" +
                    $"  replay: dotnet run --project tests/Emulator.X86.DiffTests -c Release -- --tier1 {engine} --group {group} --seed 0x{seed:x} --first {batch} --cases {n}");
            }
        }

        summary.Modules = tierUp.Modules - modulesBefore;
        summary.Blocks = tierUp.CompiledBlocks - blocksBefore;
        summary.Elapsed = sw.Elapsed;
        return summary;
    }

    /// <summary>One case: code (HLT appended), registers, flags, vectors and the data buffer's bytes.</summary>
    private sealed record Case(byte[] Code, ulong[] Gpr, ulong Rflags, ulong[] Xmm, uint Mxcsr, byte[] Data);

    private static Case FromGroup(DiffCase c)
    {
        var gpr = (ulong[])c.Input.Gpr.Clone();
        gpr[(int)Gpr.Rsp] = StackTop;
        var data = new byte[DataBytes];
        c.Data.AsSpan(0, Math.Min(c.Data.Length, DataBytes)).CopyTo(data);
        return new Case([.. c.Code, 0xf4], gpr, c.Input.Rflags, (ulong[])c.Input.Xmm.Clone(), c.Input.Mxcsr, data);
    }

    private static Case RandomBytes(ulong seed, long index)
    {
        var r = Rng.ForCase(seed, "bytes", index);
        var code = new byte[16 + (int)(r.Next() % 48)];
        for (int i = 0; i < code.Length; i++)
        {
            code[i] = (byte)r.Next();
        }

        var gpr = new ulong[16];
        for (int i = 0; i < 16; i++)
        {
            // Mostly addresses in the data buffer (so memory operands land there), sometimes anything.
            gpr[i] = r.Next() % 8 == 0 ? r.Next() : DataAddress + r.Next() % (DataBytes / 2);
        }

        gpr[(int)Gpr.Rsp] = StackTop;

        // RCX is a count: a REP string instruction runs RCX elements as one instruction, and this
        // flat, unpaged machine reads all ones past RAM without a fault, so a REP OUTS or LODS with
        // a pointer-sized count would run for hours on both tiers (the budget counts instructions).
        gpr[(int)Gpr.Rcx] = r.Next() % 65536;
        var xmm = new ulong[32];
        for (int i = 0; i < 32; i++)
        {
            xmm[i] = r.Next();
        }

        var data = new byte[DataBytes];
        for (int i = 0; i < DataBytes; i += 8)
        {
            BitConverter.TryWriteBytes(data.AsSpan(i), r.Next());
        }

        return new Case([.. code, 0xf4], gpr, r.Next() & 0xcd5, xmm, 0x1f80, data);
    }

    private static ulong Address(int k) => CodeBase + (ulong)(k * SlotBytes);

    private static void Load(EmulatorCpu m, Case[] cases)
    {
        m.Memory.Span(CodeBase, BatchSize * SlotBytes).Clear();
        for (int k = 0; k < cases.Length; k++)
        {
            cases[k].Code.AsSpan(0, Math.Min(cases[k].Code.Length, SlotBytes)).CopyTo(m.Memory.Span(Address(k), SlotBytes));
        }

        // Written behind the cache's back: drop what was translated from the last batch.
        m.Cache.Flush();
    }

    /// <summary>Translates the first block of every case on the tier-1 machine and compiles them as one module.</summary>
    private void Precompile(Case[] cases)
    {
        var blocks = new List<CompiledBlock>();
        for (int k = 0; k < cases.Length; k++)
        {
            Prepare(tier1, cases[k], k);
            if (tier1.Cpu.TranslateFetch(Address(k), out ulong phys))
            {
                var tb = tier1.Cache.Find(phys, Address(k), tier1.Cpu.Mode) ?? tier1.Cache.Translate(tier1.Cpu, Address(k));
                if (!blocks.Contains(tb))
                {
                    blocks.Add(tb);
                }
            }
        }

        tier1.Cache.TierUp!.CompileNow(blocks);
    }

    private static unsafe void Prepare(EmulatorCpu m, Case c, int k)
    {
        var cpu = m.Cpu;
        CpuSetup.EnterFlat(cpu, 64, Address(k), StackTop);
        ref var s = ref cpu.S;
        for (int i = 0; i < 16; i++)
        {
            cpu.Reg((Gpr)i) = c.Gpr[i];
        }

        cpu.Rflags = c.Rflags;
        for (int i = 0; i < 32; i++)
        {
            s.Xmm[i] = c.Xmm[i];
        }

        s.Mxcsr = c.Mxcsr;
        s.Rip = Address(k);
        s.Halted = 0;
        s.ExceptionVector = -1;
        s.InstructionCount = 0;
        c.Data.CopyTo(m.Memory.Span(DataAddress, DataBytes));
    }

    private string? RunBoth(Case c, int k, Tier1Summary summary)
    {
        Prepare(tier0, c, k);
        Prepare(tier1, c, k);
        long entries = tier1.Engine.Tier1Runs;
        var r0 = tier0.Engine.Run(Budget);
        var r1 = tier1.Engine.Run(Budget);
        summary.Tier1Entries += tier1.Engine.Tier1Runs - entries;
        summary.Instructions += tier1.Cpu.S.InstructionCount;
        if (r0 != r1)
        {
            return $"tier 0 stopped with {r0} at rip=0x{tier0.Cpu.S.Rip:x}, tier 1 with {r1} at rip=0x{tier1.Cpu.S.Rip:x}";
        }

        string? state = CompareState();
        if (state is not null)
        {
            return $"stopped with {r0}; {state}";
        }

        var d0 = tier0.Memory.Span(DataAddress, DataBytes);
        var d1 = tier1.Memory.Span(DataAddress, DataBytes);
        int at = d0.CommonPrefixLength(d1);
        return at == DataBytes ? null : $"stopped with {r0}; data buffer differs at +0x{at:x}: tier 0 {d0[at]:x2}, tier 1 {d1[at]:x2}";
    }

    /// <summary>Compares the whole state block but <see cref="CpuState.InstructionLimit"/> (tier 1's bookkeeping).</summary>
    private unsafe string? CompareState()
    {
        var a = new ReadOnlySpan<byte>(tier0.Cpu.State, sizeof(CpuState));
        var b = new ReadOnlySpan<byte>(tier1.Cpu.State, sizeof(CpuState));
        int limit = CpuStateOffsets.InstructionLimit;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i] && (i < limit || i >= limit + 8))
            {
                string field = CpuStateOffsets.Name(i & ~7) ?? $"state+0x{i:x}";
                return $"{field} differs: tier 0 {BitConverter.ToUInt64(a[(i & ~7)..]):x}, tier 1 {BitConverter.ToUInt64(b[(i & ~7)..]):x} (rip tier 0 0x{tier0.Cpu.S.Rip:x})";
            }
        }

        return null;
    }

    private unsafe bool MemoryEqual()
    {
        ulong size = tier0.Memory.Size;
        var a = new ReadOnlySpan<byte>(tier0.Memory.Ram, (int)size);
        var b = new ReadOnlySpan<byte>(tier1.Memory.Ram, (int)size);
        return a.SequenceEqual(b);
    }

    public void Dispose()
    {
        tier0.Dispose();
        tier1.Dispose();
    }
}

/// <summary>A guest clock that is the vCPU's retired instruction count: deterministic, so both tiers read the same TSC.</summary>
internal sealed class InstructionClock(Cpu cpu) : IGuestClock
{
    public ulong Tsc => cpu.S.InstructionCount;

    public ulong TscHz => 1_000_000_000;
}
