using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Emulator.Execution.Tiering;
using Emulator.Machine.Migration;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;

namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench migrate`: live migration of the default guest while it writes memory. Two machines
/// in this process stand for the two nodes: the source boots the guest to its shell and starts
/// the workload, then migrates over a loopback TCP connection (the migration stream itself, not
/// the gRPC call around it) to the target, which starts as soon as the stream ends. Printed: total
/// time, rounds, pages, bytes (and what they would be uncompressed), the downtime the source
/// measures (pause to end of stream), and the guest-visible downtime: the host-timed gap between
/// the source's last serial byte and the target's first, from a guest loop that prints
/// continuously (the guest's own clock stops while it is paused, so it cannot show the gap).
/// Then the same guest and workload on qemu-system-x86_64 -accel tcg migrating to a second QEMU
/// started with -incoming on the same host, with the figures QEMU's `info migrate` gives.
/// Figures, not a test.
/// </summary>
internal static class MigrateBenchmark
{
    private const ulong MemoryMiB = 512;
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Steady = TimeSpan.FromSeconds(3);

    /// <summary>
    /// 32 MiB of text in tmpfs (1 MiB from yes, which writes a line at a time, then copied 32 times), then in the background dd reads it again and again into a 32 MiB
    /// buffer (the kernel's copy to user memory rewrites those pages at memcpy speed, with bytes
    /// that are not zero), and in the foreground dots printed without end. (With dd at nice 19 the
    /// guest dirtied almost nothing and printed no more steadily: the gaps came from the host.)
    /// </summary>
    internal const string Workload =
        "stty -echo; yes 0123456789abcdef | head -c 1048576 > /tmp/b; for i in $(seq 32); do cat /tmp/b; done > /tmp/a; (while :; do dd if=/tmp/a of=/dev/null bs=33554432 2>/dev/null; done) & while :; do echo -n .; done\n";

    public static int Run(bool compress)
    {
        string? image = GuestImage.Ensure(Console.Error);
        if (image is null)
        {
            return 1;
        }

        try
        {
            RunAsync(image, compress).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException or SnapshotFormatException)
        {
            Console.Error.WriteLine($"emu bench migrate: {e.Message}");
            return 1;
        }

        MigrateQemuReference.Run(image);
        return 0;
    }

    private static async Task RunAsync(string image, bool compress)
    {
        string kernel = Path.Combine(image, "vmlinux"), initrd = Path.Combine(image, "initramfs.cpio.gz");
        var layers = Directory.CreateTempSubdirectory("emu-bench-migrate-");
        var gap = new OutputGap();
        var sourceText = new Transcript();
        var targetText = new Transcript();
        using var sourceLine = new SerialLine();
        using var targetLine = new SerialLine();
        VirtualMachine? target = null;
        try
        {
            await using var source = PcMachine.Build(new PcConfig
            {
                Kernel = File.ReadAllBytes(kernel),
                KernelName = kernel,
                Initrd = File.ReadAllBytes(initrd),
                InitrdName = initrd,
                CommandLine = GuestImage.DefaultAppend,
                MemoryBytes = MemoryMiB << 20,
                SerialOutput = bytes =>
                {
                    gap.Source(bytes);
                    sourceText.Add(bytes);
                    sourceLine.Output(bytes);
                },
                Tier1 = MachineCode.Default(),
            });
            sourceLine.Connect(source);
            source.Start();
            Console.WriteLine($"emu: the default guest ({Path.GetFileName(kernel)}, -m {MemoryMiB}, 1 vCPU, tier 1 on) migrated between two machines of this process over loopback TCP (the migration stream, without gRPC); compression {(compress ? "on" : "off")}");
            await sourceText.WaitFor(Terminal.ConsoleSession.Prompt, Boot);
            sourceLine.Send(Encoding.ASCII.GetBytes(Workload));
            await sourceText.WaitFor("....", Boot); // after the 32 MiB file is made
            await Task.Delay(Steady);

            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var receiving = Task.Run(async () =>
            {
                using var accepted = await listener.AcceptTcpClientAsync().ConfigureAwait(false);
                return await LiveMigration.ReceiveAsync(accepted.GetStream(), new SnapshotOptions { LayerDirectory = layers.FullName, MachineId = "target", Tier1 = MachineCode.Default() }, bytes =>
                {
                    gap.Target(bytes);
                    targetText.Add(bytes);
                    targetLine.Output(bytes);
                }).ConfigureAwait(false);
            });
            MigrationReport report;
            long streamEnded, restored, started;
            using (var client = new TcpClient())
            {
                client.NoDelay = true;
                await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
                await using var link = client.GetStream();
                report = await LiveMigration.SendAsync(source, link, new MigrationOptions
                {
                    Compress = compress,
                    Snapshot = new SnapshotOptions { LayerDirectory = layers.FullName, MachineId = "source" },
                }, new RoundPrinter());
                streamEnded = Stopwatch.GetTimestamp();
            }

            target = await receiving;
            restored = Stopwatch.GetTimestamp();
            targetLine.Connect(target);
            target.Start();
            started = Stopwatch.GetTimestamp();
            await targetText.WaitFor(".", Answer);

            // The guest goes on where it was: its loop is interrupted and a command answered on the target.
            targetLine.Send("\u0003\necho $((6*7))-ok\n"u8);
            await targetText.WaitFor("42-ok", Answer);
            var visible = gap.Gap!.Value;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  emu: total {report.Total.TotalMilliseconds:F0} ms, {report.Rounds} rounds, {report.PagesSent:N0} pages, {report.BytesSent / 1048576.0:F1} MiB sent " +
                $"({report.UncompressedBytes / 1048576.0:F1} MiB uncompressed, {(double)report.BytesSent / report.UncompressedBytes:P0})"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  emu: downtime measured by the source (pause to end of stream) {report.Downtime.TotalMilliseconds:F1} ms; guest-visible " +
                $"(host-timed gap between the source's last and the target's first serial byte) {visible.TotalMilliseconds:F1} ms; " +
                $"largest gap between serial bytes before it moved {gap.LargestSourceGap.TotalMilliseconds:F1} ms (the measure's resolution)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  emu: after the stream ended: the target restored in {Stopwatch.GetElapsedTime(streamEnded, restored).TotalMilliseconds:F1} ms; Start took " +
                $"{Stopwatch.GetElapsedTime(restored, started).TotalMilliseconds:F1} ms; its first byte came {Stopwatch.GetElapsedTime(restored, targetText.FirstByte).TotalMilliseconds:F1} ms after the restore"));
            source.Stop(new MachineExit(MachineExitReason.Stopped, "migrated"));
        }
        finally
        {
            if (target is not null)
            {
                await target.DisposeAsync();
            }

            layers.Delete(recursive: true);
        }
    }

    /// <summary>Each round as it ends (reported on the sender's thread).</summary>
    private sealed class RoundPrinter : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress p) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"    round {p.Round}: {p.PagesSent:N0} pages, {p.BytesSent / 1048576.0:F1} MiB so far; {p.DirtyPages:N0} dirtied meanwhile ({p.DirtyPagesPerSecond:F0}/s), " +
            $"expected downtime {p.ExpectedDowntime.TotalMilliseconds:F1} ms{(p.Final ? "; stops here" : "")}"));
    }

    /// <summary>A machine's serial output as text, searched from where the last match ended.</summary>
    private sealed class Transcript
    {
        private readonly StringBuilder text = new();
        private int from;

        /// <summary>When the first byte came (Stopwatch ticks).</summary>
        public long FirstByte { get; private set; }

        public void Add(ReadOnlySpan<byte> bytes)
        {
            lock (text)
            {
                if (FirstByte == 0)
                {
                    FirstByte = Stopwatch.GetTimestamp();
                }

                text.Append(Encoding.UTF8.GetString(bytes));
            }
        }

        public async Task WaitFor(string what, TimeSpan timeout)
        {
            var limit = Stopwatch.StartNew();
            while (true)
            {
                lock (text)
                {
                    int at = text.ToString().IndexOf(what, from, StringComparison.Ordinal);
                    if (at >= 0)
                    {
                        from = at + what.Length;
                        return;
                    }
                }

                if (limit.Elapsed > timeout)
                {
                    throw new TimeoutException($"the guest did not print '{what}' within {timeout.TotalSeconds:F0} s");
                }

                await Task.Delay(20);
            }
        }
    }
}
