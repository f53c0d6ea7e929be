using Emulator.Cli.Terminal;
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
        using var line = new SerialLine();
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
                SerialOutput = line.Output,
                NoReboot = options.NoReboot,
                DebugExit = options.DebugExit,
                Disks = options.Disks,
                NetworkInterfaces = options.NetworkInterfaces,
                SharedFolders = options.SharedFolders,
                Tier1 = options.Tier1,
                CpuModel = options.CpuModel,
            });
        }
        catch (Exception e) when (e is BootImageException or DeviceOptionException)
        {
            // Not a kernel emu can boot, or a device on taken ports: bad input, like a bad option.
            Console.Error.WriteLine($"emu: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is ArgumentException or Emulator.Machine.Block.BlockImageException or Emulator.Machine.Net.NetworkBackendException or IOException)
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
            if (options.SerialOnStdio)
            {
                line.Listen(bytes => console.Write(bytes.Span));
            }

            line.Connect(vm);
            console.Open();
            vm.Start();
            using var cancel = new CancellationTokenSource();
            var pump = Task.Run(() =>
            {
                if (!options.SerialOnStdio)
                {
                    return;
                }

                var command = console.Pump(bytes => line.Send(bytes), cancel.Token);
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

                string tier1 = vm.Cache.TierUp is { } t && t.RunFigures() is { } run
                    ? $" tier1={t.Engine.Name} tier1_instructions={run.Instructions} tier1_entries={run.Entries} exits_jump={run.JumpExits} exits_dispatch={run.DispatchExits} exits_exception={run.ExceptionExits} promotions={t.Promotions} compiled_blocks={t.CompiledBlocks} modules={t.Modules} live_blocks={t.LiveBlocks}" +
                      $" module_bytes={t.ModuleBytes} compile_us_per_block={(t.CompiledBlocks == 0 ? 0 : t.CompileTicks * 1e6 / System.Diagnostics.Stopwatch.Frequency / t.CompiledBlocks):F1} evictions={t.Evictions} module_transfers={t.Transfers} merges={t.Merges} merged_modules={t.MergedModules} failures={t.Failures}"
                    : " tier1=off";
                Console.Error.WriteLine($"emu-stats: instructions={retired} guest_seconds={vm.Clock.NowNanoseconds / 1e9:F3} translations={vm.Cache.Translations}{tier1}");
            }

            if (exit.Reason is not (MachineExitReason.PowerOff or MachineExitReason.Reboot or MachineExitReason.DebugExit))
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
