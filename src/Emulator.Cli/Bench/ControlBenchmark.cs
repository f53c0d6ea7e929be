using System.Diagnostics;
using System.Globalization;
using System.Text;
using Emulator.Cli.Terminal;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using MachineInfo = Emulator.Service.V1.Machine;
using MachineClient = Emulator.Service.V1.MachineService.MachineServiceClient;

namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench control`: the control plane over gRPC on loopback, against a server started in
/// this process (ControlPlaneHost, as `emu serve` builds it: Kestrel and Grpc.AspNetCore). Unary
/// round trips through Grpc.Net.Client and, when python3-grpcio is installed, through grpcio; then the time
/// from CreateMachine to the guest's shell prompt. Figures, not a test.
/// </summary>
internal static class ControlBenchmark
{
    private const int WarmUp = 500;
    private const int Iterations = 5000;
    private const int BootRuns = 3;
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);

    public static int Run()
    {
        string? image = GuestImage.Ensure(Console.Error);
        if (image is null)
        {
            return 1;
        }

        return RunAsync(image).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string image)
    {
        var snapshots = Directory.CreateTempSubdirectory("emu-bench-snapshots-");
        await using var server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            Machines = new MachineServiceOptions { AllowedDirectories = [image], SnapshotDirectory = snapshots.FullName },
        });
        using var channel = ControlPlaneChannel.Open(server.Address);
        var client = new MachineClient(channel);
        Console.WriteLine($"control plane: in-process server on {server.Address} (Kestrel, cleartext HTTP/2), one Grpc.Net.Client channel, calls one after another");

        await MeasureUnary(client, new Uri(server.Address).Port, image);
        await MeasureCreateToShell(client, image);
        try
        {
            await MeasureSnapshots(client, image);
        }
        finally
        {
            snapshots.Delete(recursive: true);
        }

        return 0;
    }

    private static CreateMachineRequest Guest(string image, string id) => new()
    {
        Id = id,
        Vcpus = 1,
        MemoryMib = 512,
        Kernel = Path.Combine(image, "vmlinux"),
        Initrd = Path.Combine(image, "initramfs.cpio.gz"),
        CommandLine = GuestImage.DefaultAppend,
    };

    private static async Task MeasureUnary(MachineClient client, int port, string image)
    {
        // A CREATED machine: the calls read its record; no guest runs beside them.
        await client.CreateMachineAsync(Guest(image, "bench-idle"));
        var get = new MachineRef { Id = "bench-idle" };
        var list = new ListMachinesRequest();
        Console.WriteLine($"unary round trips, {Iterations:N0} calls after {WarmUp} warm-up, one machine (CREATED):");
        string? python = PythonGrpcLoop.FindInterpreter();
        var pythonFigures = python is null ? null : PythonGrpcLoop.Measure(python, port, WarmUp, Iterations,
            [("GetMachine", get.ToByteArray()), ("ListMachines", list.ToByteArray())]);

        Line("GetMachine", await Time(() => client.GetMachineAsync(get).ResponseAsync), pythonFigures?["GetMachine"]);
        Line("ListMachines", await Time(() => client.ListMachinesAsync(list).ResponseAsync), pythonFigures?["ListMachines"]);
        if (python is null)
        {
            Console.WriteLine("  Python: python3 with grpc not found (apt-get install python3-grpcio): no comparison");
        }

        await client.DeleteMachineAsync(get);
    }

    private static void Line(string method, LatencyFigures ours, LatencyFigures? python)
    {
        string beside = python is { } p ? $" | Python grpcio: {p}" : "";
        Console.WriteLine($"  {method,-12} C# Grpc.Net.Client: {ours}{beside}");
    }

    private static async Task<LatencyFigures> Time<T>(Func<Task<T>> call)
    {
        for (int i = 0; i < WarmUp; i++)
        {
            await call();
        }

        var samples = new double[Iterations];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < Iterations; i++)
        {
            long before = Stopwatch.GetTimestamp();
            await call();
            samples[i] = Stopwatch.GetElapsedTime(before).TotalSeconds;
        }

        return LatencyFigures.From(samples, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private static async Task MeasureCreateToShell(MachineClient client, string image)
    {
        Console.WriteLine($"create to shell over gRPC: CreateMachine + StartMachine + AttachConsole until \"{ConsoleSession.Prompt.Trim()}\"; vmlinux + initramfs.cpio.gz, 512 MiB, 1 vCPU, append \"{GuestImage.DefaultAppend}\"");
        var seconds = new List<double>();
        for (int run = 1; run <= BootRuns; run++)
        {
            string id = $"bench-boot-{run}";
            var sw = Stopwatch.StartNew();
            await client.CreateMachineAsync(Guest(image, id));
            var created = sw.Elapsed;
            await client.StartMachineAsync(new MachineRef { Id = id });
            using (var console = client.AttachConsole())
            {
                await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = id });
                await WaitForPrompt(console);
                seconds.Add(sw.Elapsed.TotalSeconds);
                Console.WriteLine($"  run {run}: {sw.Elapsed.TotalSeconds,6:F1} s (CreateMachine {created.TotalMilliseconds:F0} ms)");
                await client.StopMachineAsync(new MachineRef { Id = id });
            }

            await client.DeleteMachineAsync(new MachineRef { Id = id });
        }

        seconds.Sort();
        Console.WriteLine($"  median: {seconds[seconds.Count / 2],5:F1} s");
    }

    private static Task WaitForPrompt(AsyncDuplexStreamingCall<ConsoleInput, ConsoleOutput> console) => WaitFor(console, ConsoleSession.Prompt);

    private static async Task WaitFor(AsyncDuplexStreamingCall<ConsoleInput, ConsoleOutput> console, string text)
    {
        var seen = new StringBuilder();
        using var timeout = new CancellationTokenSource(Boot);
        await using var output = console.ResponseStream.ReadAllAsync(timeout.Token).GetAsyncEnumerator(timeout.Token);
        while (!seen.ToString().Contains(text, StringComparison.Ordinal))
        {
            if (!await output.MoveNextAsync())
            {
                throw new InvalidOperationException($"the console ended before '{text}'; output:\n{seen}");
            }

            seen.Append(output.Current.Data.ToStringUtf8());
        }
    }

    /// <summary>
    /// Snapshot and restore of an idle guest: boot to the shell prompt, pause, CreateSnapshot
    /// (call time, guest downtime, file size, RAM pages saved); then RestoreSnapshot into a new
    /// machine, resume it and time until it answers a command on its console. Then QEMU's figures
    /// for the same (<see cref="QemuSnapshotReference"/>) and the ratios.
    /// </summary>
    private static async Task MeasureSnapshots(MachineClient client, string image)
    {
        Console.WriteLine("snapshot and restore of an idle guest at its shell prompt (vmlinux + initramfs, 512 MiB, 1 vCPU, PAUSED):");
        const string id = "bench-snap";
        await client.CreateMachineAsync(Guest(image, id));
        await client.StartMachineAsync(new MachineRef { Id = id });
        using (var console = client.AttachConsole())
        {
            await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = id });
            await WaitForPrompt(console);
        }

        await Task.Delay(TimeSpan.FromSeconds(2)); // let the guest settle into idle
        await client.PauseMachineAsync(new MachineRef { Id = id });
        var snapshotMs = new List<double>();
        var serverMs = new List<double>();
        var sizes = new List<double>();
        var answeredMs = new List<double>();
        for (int run = 1; run <= BootRuns; run++)
        {
            var sw = Stopwatch.StartNew();
            var snap = await client.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = id, SnapshotId = $"bench-{run}" });
            snapshotMs.Add(sw.Elapsed.TotalMilliseconds);
            serverMs.Add(snap.DurationNanos / 1e6);
            sizes.Add(snap.SizeBytes);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  snapshot {run}: {sw.Elapsed.TotalMilliseconds,5:F0} ms over gRPC (server {snap.DurationNanos / 1e6:F0} ms, guest stopped {snap.DowntimeNanos / 1e6:F0} ms), " +
                $"{snap.SizeBytes / 1048576.0:F1} MiB file, {snap.MemoryPagesSaved} of {snap.MemoryPages} RAM pages saved ({snap.MemoryPagesSaved * 4096 / 1048576.0:F0} MiB non-zero)"));
        }

        await client.StopMachineAsync(new MachineRef { Id = id });
        await client.DeleteMachineAsync(new MachineRef { Id = id });
        for (int run = 1; run <= BootRuns; run++)
        {
            string restoredId = $"bench-restored-{run}";
            var sw = Stopwatch.StartNew();
            await client.RestoreSnapshotAsync(new RestoreSnapshotRequest { SnapshotId = $"bench-{run}", MachineId = restoredId });
            var restored = sw.Elapsed;
            using (var console = client.AttachConsole())
            {
                await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = restoredId });
                await client.ResumeMachineAsync(new MachineRef { Id = restoredId });
                await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("\necho $((6*7))-ok\n") });
                await WaitFor(console, "42-ok");
                answeredMs.Add(sw.Elapsed.TotalMilliseconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  restore {run}: RestoreSnapshot {restored.TotalMilliseconds,5:F0} ms, to a command answered on the console {sw.Elapsed.TotalMilliseconds,5:F0} ms"));
                await client.StopMachineAsync(new MachineRef { Id = restoredId });
            }

            await client.DeleteMachineAsync(new MachineRef { Id = restoredId });
            await client.DeleteSnapshotAsync(new SnapshotRef { Id = $"bench-{run}" });
        }

        QemuSnapshotReference.Compare(image, new EmuSnapshotFigures(QemuSnapshotReference.Median(snapshotMs), QemuSnapshotReference.Median(serverMs), QemuSnapshotReference.Median(sizes), QemuSnapshotReference.Median(answeredMs)));
    }

    /// <summary>Median, 99th percentile and rate of calls made one after another.</summary>
    internal readonly record struct LatencyFigures(double MedianSeconds, double P99Seconds, double CallsPerSecond)
    {
        public static LatencyFigures From(double[] samples, double totalSeconds)
        {
            Array.Sort(samples);
            return new(samples[samples.Length / 2], samples[Math.Min(samples.Length - 1, (int)(samples.Length * 0.99))], samples.Length / totalSeconds);
        }

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"median {MedianSeconds * 1e6,6:F0} us, p99 {P99Seconds * 1e6,6:F0} us, {CallsPerSecond,7:N0} calls/s");
    }
}
