using System.Diagnostics;
using System.Globalization;
using Emulator.Cli.Terminal;

namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench boot`: boot time of the default guest from process start to the shell prompt, the
/// guest instructions executed and guest MIPS, beside qemu-system-x86_64 -accel tcg booting the
/// same kernel and initramfs in the same run. A figure, not a test.
/// </summary>
internal static class BootBenchmark
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public static int Run()
    {
        string? image = GuestImage.Ensure(Console.Error);
        if (image is null)
        {
            return 1;
        }

        string initrd = Path.Combine(image, "initramfs.cpio.gz");
        foreach (string kernel in new[] { Path.Combine(image, "vmlinuz"), Path.Combine(image, "vmlinux") }.Where(File.Exists))
        {
            Measure(kernel, initrd);
        }

        return 0;
    }

    /// <summary>The tiers measured: the interpreter alone, then hot blocks on each tier-1 engine.</summary>
    private static readonly string[] Tiers = ["off", "cil", "wasmtime"];

    private static void Measure(string kernel, string initrd)
    {
        const string append = GuestImage.DefaultAppend;
        Console.WriteLine($"{Path.GetFileName(kernel)} + {Path.GetFileName(initrd)}, -m 512, 1 vCPU, append \"{append}\": time from process start to the shell prompt");
        var times = new List<TimeSpan>();
        foreach (string tier in Tiers)
        {
            var sw = Stopwatch.StartNew();
            using var emu = ConsoleSession.StartEmu(
                new Dictionary<string, string> { ["EMU_STATS"] = "1", ["EMU_TIER1"] = "" },
                "-kernel", kernel, "-initrd", initrd, "-append", append, "-m", "512", "-no-reboot", "-accel", $"tcg,tier1={tier}");
            emu.WaitFor(ConsoleSession.Prompt, Timeout);
            var toPrompt = sw.Elapsed;
            times.Add(toPrompt);
            emu.Type("poweroff -f\n");
            emu.WaitForExit(Timeout);
            var stats = ParseStats(emu.Errors);
            double mips = stats.Instructions / stats.GuestSeconds / 1e6;
            Console.WriteLine($"  emu tier1={tier,-8} {toPrompt.TotalSeconds,6:F1} s; {stats.Instructions:N0} guest instructions to power-off in {stats.GuestSeconds:F1} s of guest time: {mips:F1} MIPS{stats.Tier1}");
        }

        string? qemu = QemuReference.FindQemu();
        if (qemu is null)
        {
            Console.WriteLine("  QEMU: qemu-system-x86_64 not found (apt-get install qemu-system-x86): no comparison");
            return;
        }

        var qemuClock = Stopwatch.StartNew();
        using var q = ConsoleSession.Start(qemu, null, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", append);
        q.WaitFor(ConsoleSession.Prompt, Timeout);
        var qemuToPrompt = qemuClock.Elapsed;
        q.Type("poweroff -f\n");
        q.WaitForExit(Timeout);
        Console.WriteLine($"  QEMU: {qemuToPrompt.TotalSeconds,6:F1} s (qemu-system-x86_64 -accel tcg); emu/QEMU: {string.Join(", ", Tiers.Zip(times, (t, e) => $"tier1={t} {e / qemuToPrompt:F2}"))}");
    }

    private static (ulong Instructions, double GuestSeconds, string Tier1) ParseStats(string stderr)
    {
        foreach (var line in stderr.Split('\n'))
        {
            if (!line.StartsWith("emu-stats:", StringComparison.Ordinal))
            {
                continue;
            }

            var fields = line[10..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
            string tier1 = fields.TryGetValue("compiled_blocks", out var blocks)
                ? $"; tier 1: {blocks} blocks compiled in {fields["modules"]} modules, {fields["compile_us_per_block"]} us per block, {fields["module_bytes"]} bytes of Wasm; " +
                  $"{Share(fields["tier1_instructions"], fields["instructions"]):P0} of the instructions on tier 1, {fields["tier1_entries"]} entries into compiled code"
                : "";
            return (ulong.Parse(fields["instructions"], CultureInfo.InvariantCulture), double.Parse(fields["guest_seconds"], CultureInfo.InvariantCulture), tier1);
        }

        throw new InvalidOperationException($"emu printed no statistics line: {stderr}");
    }

    private static double Share(string part, string whole) =>
        double.Parse(part, CultureInfo.InvariantCulture) / Math.Max(1, double.Parse(whole, CultureInfo.InvariantCulture));
}
