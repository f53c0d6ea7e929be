using System.Diagnostics;
using Emulator.Cli.Terminal;

namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench guest`: workloads inside the default guest, timed from the serial console, each
/// beside qemu-system-x86_64 -accel tcg running the same kernel, initramfs and commands:
/// single-vCPU workloads (sha256sum, gzip/gunzip, awk, sort, an ash loop), a parallel workload
/// (two sha256sum jobs) on 1, 2 and 4 vCPUs, and sequential write and read throughput of
/// virtio-blk with dd. Figures, not tests.
/// </summary>
internal static class GuestBenchmark
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);
    // CPU-bound and without pipes (a pipe's every wake-up crosses vCPUs): the input is made first, untimed.
    private const string ParallelSetup = "head -c 16777216 /dev/zero > /tmp/z";
    private const string Parallel = "sha256sum /tmp/z > /tmp/a & sha256sum /tmp/z > /tmp/b; wait";
    private const int DiskMiB = 32;

    // Inputs made once per boot, untimed: 16 MiB of zeros, 2 MiB of random bytes, 100,000 numbers.
    private const string WorkSetup =
        "head -c 16777216 /dev/zero > /tmp/z; head -c 2097152 /dev/urandom > /tmp/r; seq 1 100000 | awk '{ print ($1 * 7919) % 100003 }' > /tmp/n";

    /// <summary>The single-vCPU workloads, each timed alone in one boot per runner.</summary>
    private static readonly (string Name, string Command)[] Work =
    [
        ("sha256sum 16 MiB", "sha256sum /tmp/z > /dev/null"),
        ("gzip + gunzip 2 MiB", "gzip -c /tmp/r > /tmp/r.gz && gunzip -c /tmp/r.gz > /dev/null"),
        ("awk loop 300,000", "awk 'BEGIN { s = 0; for (i = 0; i < 300000; i++) s += i % 7; print s }' > /dev/null"),
        ("sort -n 100,000", "sort -n /tmp/n > /dev/null"),
        ("ash loop 20,000", "i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done"),
    ];

    public static int Run(string part)
    {
        string? image = GuestImage.Ensure(Console.Error);
        if (image is null)
        {
            return 1;
        }

        string? qemu = QemuReference.FindQemu();
        string kernel = Path.Combine(image, "vmlinux"), initrd = Path.Combine(image, "initramfs.cpio.gz");
        if (part is "all" or "work")
        {
            RunWork(qemu, kernel, initrd);
        }

        if (part is "all" or "smp")
        {
            RunSmp(qemu, kernel, initrd);
        }

        if (part is "all" or "disk")
        {
            RunDisk(qemu, kernel, initrd);
        }

        if (part is "all" or "net")
        {
            NetBenchmark.Run(qemu, kernel, initrd, Emu("wasmtime"));
        }

        return 0;
    }

    /// <summary>The tiers measured: the interpreter alone, then hot blocks on each tier-1 engine.</summary>
    private static readonly string[] Tiers = ["off", "cil", "wasmtime"];

    /// <summary>emu's command line prefix for a tier (EMU_TIER1 is ignored: -accel says).</summary>
    private static string[] Emu(string tier) => [Path.Combine(AppContext.BaseDirectory, "emu.dll"), "-accel", $"tcg,tier1={tier}"];

    private static void RunWork(string? qemu, string kernel, string initrd)
    {
        Console.WriteLine("workloads on 1 vCPU: wall time of each command at the serial console (s), each runner booted once");
        var runners = Tiers.Select(t => ($"emu tier1={t}", "dotnet", Emu(t))).ToList();
        if (qemu is not null)
        {
            runners.Add(("QEMU", qemu, ["-accel", "tcg", "-nographic"]));
        }

        var times = runners.Select(r => TimeAll(r.Item2, r.Item3, kernel, initrd, 1, null, WorkSetup, [.. Work.Select(w => w.Command)])).ToList();
        Console.WriteLine($"{"workload",-22} {string.Join(" ", runners.Select(r => $"{r.Item1,18}"))}{(qemu is null ? "" : $" {"emu/QEMU (wasmtime)",20}")}");
        for (int i = 0; i < Work.Length; i++)
        {
            string ratio = qemu is null ? "" : $" {times[Tiers.Length - 1][i] / times[^1][i],20:F2}";
            Console.WriteLine($"{Work[i].Name,-22} {string.Join(" ", times.Select(t => $"{t[i],18:F2}"))}{ratio}");
        }
    }

    private static void RunSmp(string? qemu, string kernel, string initrd)
    {
        // Run twice in one boot: the first run is cold (its hot blocks are compiled while it runs,
        // on a thread that shares the host's cores with the vCPUs), the second warm. The speed-up
        // and the ratio to QEMU are the warm run's.
        Console.WriteLine("parallel workload: two sha256sum jobs over the same 16 MiB tmpfs file, wall time in the guest, run twice per boot (cold, then warm)");
        Console.WriteLine($"{"vCPUs",6} {"tier1",-9} {"emu cold",9} {"emu warm",9} {"speed-up",9} {"QEMU warm",10} {"emu/QEMU",9}");
        foreach (string tier in Tiers)
        {
            double? emuOne = null;
            foreach (int cpus in new[] { 1, 2, 4 })
            {
                var emu = TimeAll("dotnet", Emu(tier), kernel, initrd, cpus, null, ParallelSetup, [Parallel, Parallel]);
                emuOne ??= emu[1];
                double? q = qemu is null ? null : TimeAll(qemu, ["-accel", "tcg", "-nographic"], kernel, initrd, cpus, null, ParallelSetup, [Parallel, Parallel])[1];
                Console.WriteLine($"{cpus,6} {tier,-9} {emu[0],9:F2} {emu[1],9:F2} {emuOne / emu[1],9:F2} {q,10:F2} {(q is { } qq ? emu[1] / qq : double.NaN),9:F2}");
            }
        }
    }

    private static void RunDisk(string? qemu, string kernel, string initrd)
    {
        string disk = Path.Combine(Path.GetTempPath(), $"emu-bench-disk-{Environment.ProcessId}.img");
        try
        {
            Console.WriteLine($"virtio-blk sequential throughput, dd of {DiskMiB} MiB with 1 MiB blocks (write: conv=fsync; read: after dropping caches)");
            var runs = Tiers.Select(t => ($"emu tier1={t}", (string?)"dotnet", Emu(t))).Append(("QEMU", qemu, ["-accel", "tcg", "-nographic"]));
            foreach (var (name, program, prefix) in runs)
            {
                if (program is null)
                {
                    Console.WriteLine("  QEMU: not installed");
                    continue;
                }

                File.WriteAllBytes(disk, new byte[DiskMiB << 20]);
                double write = Time(program, prefix, kernel, initrd, 1, disk, null, $"dd if=/dev/zero of=/dev/vda bs=1M count={DiskMiB} conv=fsync 2>/dev/null");
                double read = Time(program, prefix, kernel, initrd, 1, disk, "echo 3 > /proc/sys/vm/drop_caches", $"dd if=/dev/vda of=/dev/null bs=1M count={DiskMiB} 2>/dev/null");
                Console.WriteLine($"  {name,-18} write {DiskMiB / write,7:F1} MiB/s   read {DiskMiB / read,7:F1} MiB/s");
            }
        }
        finally
        {
            File.Delete(disk);
        }
    }

    /// <summary>Boots a machine, runs <paramref name="command"/> once at the prompt, and returns its wall time in seconds.</summary>
    private static double Time(string program, string[] prefix, string kernel, string initrd, int cpus, string? disk, string? setup, string command) =>
        TimeAll(program, prefix, kernel, initrd, cpus, disk, setup, [command])[0];

    /// <summary>Boots a machine, runs each of <paramref name="commands"/> once at the prompt, in order, and returns their wall times in seconds.</summary>
    private static double[] TimeAll(string program, string[] prefix, string kernel, string initrd, int cpus, string? disk, string? setup, string[] commands)
    {
        var args = new List<string>(prefix)
        {
            "-kernel", kernel, "-initrd", initrd, "-append", GuestImage.DefaultAppend, "-m", "512", "-smp", cpus.ToString(), "-no-reboot",
        };
        if (disk is not null)
        {
            args.AddRange(["-drive", $"file={disk},format=raw,if=virtio"]);
        }

        using var session = ConsoleSession.Start(program, null, [.. args]);
        session.WaitFor(ConsoleSession.Prompt, Timeout);
        session.Type("\n");
        session.WaitFor(ConsoleSession.Prompt, Timeout);
        session.Run("stty cols 250", Timeout);
        if (disk is not null)
        {
            // The image has the virtio modules (mmio for emu, pci for QEMU's default PC); load them so /dev/vda appears.
            session.Run("modprobe virtio_mmio 2>/dev/null; modprobe virtio_pci 2>/dev/null; modprobe virtio_blk 2>/dev/null; sleep 1; ls /dev/vda", Timeout);
        }

        if (setup is not null)
        {
            session.Run(setup, Timeout);
        }

        var seconds = new double[commands.Length];
        for (int i = 0; i < commands.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            session.Run(commands[i], Timeout);
            seconds[i] = sw.Elapsed.TotalSeconds;
        }

        session.Type("poweroff -f\n");
        session.WaitForExit(Timeout);
        return seconds;
    }
}
