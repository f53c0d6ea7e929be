namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench cpu`: guest MIPS of the CPU core on each kernel. Each kernel runs once to warm
/// up the .NET JIT and then <c>runs</c> times on a fresh vCPU (so translation is included, as
/// it is for a real guest); the median is reported. A figure, not a test.
/// </summary>
internal static class CpuBenchmark
{
    /// <summary>The tiers measured: the interpreter alone, then tier 1 on each engine (default threshold, background compilation).</summary>
    private static readonly string[] Tiers = ["off", "cil", "wasmtime"];

    public static int Run(int runs, string[]? kernels = null, string[]? tiers = null, bool noQemu = false)
    {
        var unknownKernel = kernels?.FirstOrDefault(k => !GuestKernels.All.Any(g => g.Name == k));
        var unknownTier = tiers?.FirstOrDefault(t => !Tiers.Contains(t));
        if (unknownKernel is not null || unknownTier is not null)
        {
            Console.Error.WriteLine(unknownKernel is not null
                ? $"emu bench cpu: no kernel '{unknownKernel}' (there are {string.Join(", ", GuestKernels.All.Select(g => g.Name))})"
                : $"emu bench cpu: no tier '{unknownTier}' (there are {string.Join(", ", Tiers)})");
            return 2;
        }

        Console.WriteLine($"CPU core benchmark: tier 0 alone (tier1=off) and with hot blocks on tier 1 (tier1=ENGINE), {runs} runs per kernel after one warm-up, median shown");
        string? qemu = noQemu ? null : QemuReference.FindQemu();
        Console.WriteLine(noQemu ? "no QEMU comparison (--no-qemu)" : qemu is null
            ? "qemu-system-x86_64 not found (apt-get install qemu-system-x86): no QEMU comparison"
            : "QEMU: the same kernel under qemu-system-x86_64 -accel tcg, best of 3, start-up subtracted");
        Console.WriteLine($"{"kernel",-8} {"tier1",-9} {"guest instructions",20} {"time (ms)",10} {"CPU (ms)",9} {"MIPS",8}  {"QEMU (ms)",10} {"emu/QEMU",9}  result");
        bool ok = true;
        foreach (var kernel in GuestKernels.All.Where(k => kernels is not { Length: > 0 } || kernels.Contains(k.Name)))
        {
            string? qemuProblem = null;
            var qemuResult = qemu is null ? null : QemuReference.Measure(qemu, kernel, KernelRunner.Data(), 3, out qemuProblem);
            foreach (string tier in Tiers.Where(t => tiers is not { Length: > 0 } || tiers.Contains(t)))
            {
                ok &= RunTier(kernel, tier, runs, qemu is not null, qemuResult, qemuProblem);
            }
        }

        return ok ? 0 : 1;
    }

    private static bool RunTier(GuestKernel kernel, string tier, int runs, bool haveQemu, (TimeSpan Time, ulong Rax)? qemuResult, string? qemuProblem)
    {
        KernelRunner.Run(kernel, tier);
        var results = Enumerable.Range(0, runs).Select(_ => KernelRunner.Run(kernel, tier)).OrderBy(r => r.Elapsed).ToArray();
        var median = results[results.Length / 2];
        string check = median.Correct ? "correct" : median.Reason == Emulator.Execution.StopReason.Halted
            ? $"WRONG (guest 0x{median.Guest:x}, host 0x{median.Host:x})"
            : $"stopped: {median.Reason} vector {median.Vector}";
        string qemuCells = $"{"-",10} {"-",9}";
        if (haveQemu)
        {
            if (qemuResult is { } r && r.Rax == median.Host)
            {
                qemuCells = $"{r.Time.TotalMilliseconds,10:F1} {median.Elapsed / r.Time,9:F2}";
            }
            else
            {
                check += qemuResult is { } bad ? $"; QEMU computed 0x{bad.Rax:x}" : $"; QEMU failed: {qemuProblem}";
            }
        }

        Console.WriteLine($"{kernel.Name,-8} {tier,-9} {median.Instructions,20:N0} {median.Elapsed.TotalMilliseconds,10:F1} {median.ThreadCpu.TotalMilliseconds,9:F1} {median.Mips,8:F1}  {qemuCells}  {check}{(tier == "off" ? "" : $", {median.Tier1Blocks:N0} entries into tier-1 code")}");
        return median.Correct;
    }
}
