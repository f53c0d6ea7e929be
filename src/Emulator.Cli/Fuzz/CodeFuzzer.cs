using System.Diagnostics;
using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.X86;

namespace Emulator.Cli.Fuzz;

/// <summary>What `emu fuzz code` runs.</summary>
internal sealed record CodeFuzzOptions
{
    public ulong Seed { get; init; } = 1;

    /// <summary>The first case, and how many; or, with <see cref="Instructions"/>, cases until that many guest instructions ran.</summary>
    public long First { get; init; }

    public long Cases { get; init; } = 1000;

    public long Instructions { get; init; }

    /// <summary>The most guest instructions one case runs.</summary>
    public long Budget { get; init; } = 20_000;

    /// <summary>"off", or the tier-1 engine; with an engine, blocks compile after <see cref="Threshold"/> runs, before they run again.</summary>
    public string Tier1 { get; init; } = "off";

    public int Threshold { get; init; } = 1;

    /// <summary>Print each case's index as it starts and how it ended (to find a case that hangs).</summary>
    public bool Verbose { get; init; }
}

/// <summary>
/// `emu fuzz code`: random guest code against a whole PC machine (every device, a virtio-blk disk
/// on a scratch file) in this one process. Each case is a pure function of (seed, index): random
/// bytes, random device traffic (<see cref="IoProgram"/>), or both, in ring 0 or ring 3 of a
/// fresh long-mode world (<see cref="FuzzGuest"/>), run for at most a budget of instructions on
/// the vCPU's own thread. What the guest does to itself (faults, triple faults, resets, power-off)
/// is counted; a finding is anything that reaches the host: an exception out of the CPU, or a
/// device or disk backend failing (the machine stops FAILED). Findings print a replay command.
/// </summary>
internal static class CodeFuzzer
{
    private const int CasesPerCall = 64;
    private const ulong RamBytes = 64 << 20;
    private static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(2);

    private static readonly string[] VectorNames =
        ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "9", "#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM"];

    private enum Kind
    {
        Bytes,
        Io,
        Virtio,
        Mixed,
    }

    public static int Run(CodeFuzzOptions o, TextWriter output)
    {
        var ends = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var findings = new List<string>();
        long instructions = 0, cases = 0, machines = 0;
        string scratch = Directory.CreateTempSubdirectory("emu-fuzz-").FullName;
        var clock = Stopwatch.StartNew();
        var lastReport = clock.Elapsed;
        output.WriteLine($"fuzz code: seed {o.Seed}, cases from {o.First}, budget {o.Budget:N0} instructions a case, tier 1 {o.Tier1}{(o.Tier1 == "off" ? "" : $" (threshold {o.Threshold})")}");
        VirtualMachine? vm = null;
        long next = o.First;
        try
        {
            bool Done() => o.Instructions > 0 ? instructions >= o.Instructions : next >= o.First + o.Cases;
            while (!Done())
            {
                if (vm is null)
                {
                    vm = NewMachine(scratch, o);
                    machines++;
                }

                long from = next, to = o.Instructions > 0 ? next + CasesPerCall : Math.Min(next + CasesPerCall, o.First + o.Cases);
                vm.OnVcpuThread(0, cpu =>
                {
                    for (long i = from; i < to && !vm.Exited.IsCompleted; i++, next++)
                    {
                        string end;
                        if (o.Verbose)
                        {
                            Console.Error.Write($"case {i}... ");
                        }

                        try
                        {
                            (end, ulong ran) = RunCase(vm, cpu, o, i);
                            instructions += (long)ran;
                        }
                        catch (Exception e)
                        {
                            end = "host exception";
                            findings.Add($"case {i}: {e.GetType().Name} out of the CPU: {e.Message}{Environment.NewLine}{e.StackTrace}");
                        }

                        if (o.Verbose)
                        {
                            Console.Error.WriteLine(end);
                        }

                        ends[end] = ends.GetValueOrDefault(end) + 1;
                        cases++;
                    }

                    // Park the vCPU (halted, interrupts off) so its actor sleeps until the next call.
                    cpu.Rflags &= ~0x200UL;
                    cpu.S.Halted = 1;
                });

                if (vm.Exited.IsCompleted)
                {
                    var exit = vm.Exited.Result;
                    string what = $"machine stopped: {exit.Reason.ToString().ToLowerInvariant()}";
                    ends[what] = ends.GetValueOrDefault(what) + 1;
                    if (exit.Reason == MachineExitReason.Failed)
                    {
                        findings.Add($"case {next - 1}: the machine failed: {exit.Detail}");
                    }

                    Dispose(vm, next - 1, findings);
                    vm = null;
                }

                if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(10))
                {
                    lastReport = clock.Elapsed;
                    Console.Error.WriteLine($"  {cases:N0} cases, {instructions:N0} instructions, {findings.Count} findings, {clock.Elapsed.TotalSeconds:F0} s");
                }
            }
        }
        finally
        {
            if (vm is not null)
            {
                Dispose(vm, next - 1, findings);
            }

            Directory.Delete(scratch, recursive: true);
        }

        double seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"  {cases:N0} cases (to {o.First + cases - 1}), {instructions:N0} guest instructions, {machines} machines, {seconds:F1} s ({instructions / Math.Max(seconds, 1e-3) / 1e6:F1} MIPS)");
        output.WriteLine($"  how cases ended: {string.Join(", ", ends.Select(kv => $"{kv.Key} {kv.Value:N0}"))}");
        output.WriteLine($"  findings: {findings.Count}");
        foreach (string f in findings.Take(20))
        {
            output.WriteLine($"  finding: {f}");
        }

        if (findings.Count > 0)
        {
            string tier = o.Tier1 == "off" ? "" : $" --tier1 {o.Tier1} --threshold {o.Threshold}";
            output.WriteLine($"  replay one case alone: emu fuzz code --seed {o.Seed} --first CASE --cases 1 --budget {o.Budget}{tier}");
            output.WriteLine($"  replay the run up to it: emu fuzz code --seed {o.Seed} --first {o.First} --cases {cases} --budget {o.Budget}{tier}");
        }

        return findings.Count == 0 ? 0 : 1;
    }

    /// <summary>Shuts a machine down; one that does not (an actor stuck on what the guest did) is a finding.</summary>
    private static void Dispose(VirtualMachine vm, long lastCase, List<string> findings)
    {
        try
        {
            vm.DisposeAsync().AsTask().Wait();
        }
        catch (Exception e)
        {
            findings.Add($"case {lastCase}: the machine did not shut down: {e.GetBaseException().Message}; actors: "
                + string.Join(", ", vm.ActorMetrics().Where(m => m.Status != Emulator.Actors.ActorStatus.Terminated).Select(m => $"{m.Path} {m.Status} mailbox {m.MailboxDepth}")));
        }
    }

    private static VirtualMachine NewMachine(string scratch, CodeFuzzOptions o)
    {
        string disk = Path.Combine(scratch, "disk.raw");
        using (var f = File.Create(disk))
        {
            f.SetLength(1 << 20);
        }

        Tier1Options? tier1 = o.Tier1 == "off"
            ? null
            : new Tier1Options(Tier1Options.CreateEngine(o.Tier1)) { Threshold = o.Threshold, Synchronous = true };
        var vm = PcMachine.BuildWithoutGuest(new PcConfig
        {
            Kernel = [],
            MemoryBytes = RamBytes,
            NoReboot = true,
            Disks = [new DiskConfig(disk)],
            Tier1 = tier1,
        });

        // Halted with interrupts off until the first case puts it somewhere.
        vm.Cpus[0].S.Halted = 1;
        vm.Start();
        return vm;
    }

    /// <summary>Writes and runs case <paramref name="index"/>; returns how it ended and the instructions it ran.</summary>
    private static (string End, ulong Instructions) RunCase(VirtualMachine vm, Cpu cpu, CodeFuzzOptions o, long index)
    {
        var rng = FuzzRng.ForCase(o.Seed, index);
        var kind = (Kind)rng.Below(4);
        bool user = kind is Kind.Bytes or Kind.Mixed && rng.Chance(25);
        byte[] code = kind switch
        {
            Kind.Bytes => RandomBytes(rng, 16 + rng.Below(1024)),
            Kind.Io => IoProgram.Build(rng, 1 + rng.Below(32), virtio: false),
            Kind.Virtio => IoProgram.Build(rng, rng.Below(8), virtio: true),
            _ => [.. IoProgram.Build(rng, 1 + rng.Below(8), virtio: rng.Chance(30)).SkipLast(1), .. RandomBytes(rng, 16 + rng.Below(512))],
        };
        if (o.Verbose)
        {
            Show(kind, user, code);
        }

        FuzzGuest.Write(vm.Memory, code, rng);
        if (kind == Kind.Virtio)
        {
            IoProgram.WriteRings(vm.Memory.Span(FuzzGuest.Data, (int)FuzzGuest.DataBytes), rng);
        }

        foreach (var (address, bytes) in FuzzGuest.Regions)
        {
            vm.Cache.OnDeviceWrite(vm.Memory, address, bytes);
        }

        FuzzGuest.Enter(cpu, rng, user);
        var engine = vm.Engines[0];
        ulong start = cpu.S.InstructionCount;
        long began = Stopwatch.GetTimestamp();
        StopReason reason;

        // One REP string instruction can run for billions of elements and counts as one
        // instruction: a kick every 250 ms (as interrupts would) lets the case be ended after
        // SlowCase. The loop stops at the kick and resumes where it was, as after an interrupt.
        using (new Timer(_ => Interlocked.Exchange(ref cpu.S.ExitRequest, 1), null, 250, 250))
        {
            while (true)
            {
                Interlocked.Exchange(ref cpu.S.ExitRequest, 0);
                long left = o.Budget - (long)(cpu.S.InstructionCount - start);
                reason = engine.Run(Math.Max(0, left));
                if (reason != StopReason.ExitRequested || vm.Exited.IsCompleted || Stopwatch.GetElapsedTime(began) > SlowCase)
                {
                    break;
                }
            }
        }

        ulong ran = cpu.S.InstructionCount - start;
        ushort marker = BitConverter.ToUInt16(vm.Memory.Span(FuzzGuest.Marker, 2));
        string end = reason switch
        {
            StopReason.Halted when marker == FuzzGuest.SyscallVector => "syscall",
            StopReason.Halted when marker < VectorNames.Length => VectorNames[marker],
            StopReason.Halted when marker < 256 => "interrupt",
            StopReason.Halted => "hlt",
            StopReason.Budget => "budget",
            StopReason.TripleFault => "triple fault",
            StopReason.ExitRequested when !vm.Exited.IsCompleted => "slow (a long REP loop, ended after 2 s)",
            _ => reason.ToString().ToLowerInvariant(),
        };
        return ($"{(user ? "ring 3 " : "")}{end}", ran);
    }

    /// <summary>The case's code, disassembled (to stderr, with <see cref="CodeFuzzOptions.Verbose"/>).</summary>
    private static void Show(Kind kind, bool user, byte[] code)
    {
        Console.Error.WriteLine($"{kind.ToString().ToLowerInvariant()} case in ring {(user ? 3 : 0)}, {code.Length} bytes of code:");
        var decoder = Iced.Intel.Decoder.Create(64, code, FuzzGuest.Code);
        var formatter = new Iced.Intel.NasmFormatter();
        var text = new Iced.Intel.StringOutput();
        for (int n = 0; n < 64 && decoder.IP < FuzzGuest.Code + (ulong)code.Length; n++)
        {
            var insn = decoder.Decode();
            formatter.Format(insn, text);
            Console.Error.WriteLine($"  {insn.IP:x8}  {text.ToStringAndReset()}");
        }
    }

    private static byte[] RandomBytes(FuzzRng rng, int count)
    {
        var bytes = new byte[count];
        rng.Fill(bytes);
        return bytes;
    }
}
