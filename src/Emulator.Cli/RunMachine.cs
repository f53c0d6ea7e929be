using System.Collections.Concurrent;
using Emulator.Cli.Terminal;
using Emulator.Devices.Serial;
using Emulator.Machine.Boot;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;

namespace Emulator.Cli;

/// <summary>Boots a PC machine from the command line's options with its serial port on the terminal, until it ends.</summary>
internal static class RunMachine
{
    public static int Run(MachineOptions options)
    {
        foreach (var note in options.Notes)
        {
            Console.Error.WriteLine($"emu: note: {note}");
        }

        byte[] kernel, initrd;
        try
        {
            kernel = File.ReadAllBytes(options.Kernel);
            initrd = options.Initrd is null ? [] : File.ReadAllBytes(options.Initrd);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"emu: {e.Message}");
            return 1;
        }

        using var console = new SerialConsole();
        VirtualMachine vm;
        try
        {
            vm = PcMachine.Build(new PcConfig
            {
                Kernel = kernel,
                KernelName = options.Kernel,
                Initrd = options.Initrd is null ? null : initrd,
                InitrdName = options.Initrd ?? "initrd",
                CommandLine = options.CommandLine,
                MemoryBytes = options.MemoryBytes,
                Cpus = options.Cpus,
                SerialOutput = options.SerialOnStdio ? console.Write : _ => { },
                NoReboot = options.NoReboot,
                Disks = options.Disks,
            });
        }
        catch (Exception e) when (e is BootImageException or ArgumentException or Emulator.Machine.Block.BlockImageException)
        {
            Console.Error.WriteLine($"emu: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            // A bug in emu, not bad input: say so plainly, with the detail needed to report it.
            Console.Error.WriteLine($"emu: internal error while building the machine: {e}");
            return 70;
        }

        try
        {
            var uart = vm.Device<Serial16550>("uart0");
            var pending = new ConcurrentQueue<byte>();
            void Feed()
            {
                // Runs inside the UART's actor: move as much queued input as the receive FIFO takes.
                Span<byte> chunk = stackalloc byte[16];
                while (true)
                {
                    int n = 0;
                    while (n < chunk.Length && n < uart.ReceiveSpace && pending.TryPeek(out byte b))
                    {
                        pending.TryDequeue(out _);
                        chunk[n++] = b;
                    }

                    if (n == 0)
                    {
                        return;
                    }

                    uart.Receive(chunk[..n]);
                }
            }

            uart.ReceiveSpaceAvailable = Feed;
            console.Open();
            vm.Start();
            using var cancel = new CancellationTokenSource();

            // Input waits in the queue while the guest's receive FIFO is full (or its driver has
            // not started reading yet); retry regularly rather than rely on one callback.
            var feeder = Task.Run(async () =>
            {
                while (!cancel.IsCancellationRequested)
                {
                    if (!pending.IsEmpty)
                    {
                        vm.Post("uart0", Feed);
                    }

                    await Task.Delay(20).ConfigureAwait(false);
                }
            });
            var pump = Task.Run(() =>
            {
                if (!options.SerialOnStdio)
                {
                    return;
                }

                var command = console.Pump(
                    bytes =>
                    {
                        foreach (byte b in bytes)
                        {
                            pending.Enqueue(b);
                        }

                        vm.Post("uart0", Feed);
                    },
                    cancel.Token);
                if (command == ConsoleCommand.Quit)
                {
                    vm.Stop(new MachineExit(MachineExitReason.Stopped, "quit from the console (Ctrl-A x)"));
                }
            });

            var exit = vm.Exited.GetAwaiter().GetResult();
            cancel.Cancel();
            console.Dispose();
            if (Environment.GetEnvironmentVariable("EMU_STATS") == "1")
            {
                // One line for benchmarks: guest instructions retired and the guest time they took.
                ulong retired = 0;
                foreach (var cpu in vm.Cpus)
                {
                    retired += cpu.S.InstructionCount;
                }

                Console.Error.WriteLine($"emu-stats: instructions={retired} guest_seconds={vm.Clock.NowNanoseconds / 1e9:F3} translations={vm.Cache.Translations}");
            }

            if (exit.Reason is not (MachineExitReason.PowerOff or MachineExitReason.Reboot))
            {
                Console.Error.WriteLine($"\nemu: {exit.Detail}");
            }

            return exit.Reason == MachineExitReason.Stopped ? 0 : exit.ExitCode;
        }
        finally
        {
            vm.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
        }
    }
}
