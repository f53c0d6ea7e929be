using System.Diagnostics;
using Emulator.Devices.Bus;
using Emulator.Machine.Runtime;
using Emulator.X86;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench io`: the round trip of a vCPU's port or MMIO access to a device actor (a
/// request/response message), uncontended. Measured twice: at the bus the vCPU calls (batches
/// of calls from one thread, median per call), and from guest code (a loop of IN instructions,
/// which adds translation, the helper call and the loop itself).
/// </summary>
internal static class IoBenchmark
{
    private sealed class ScratchDevice : IIoDevice
    {
        private ulong value;

        public string Name => "scratch";

        public ulong Read(ulong offset, int size) => value;

        public void Write(ulong offset, int size, ulong v) => value = v;
    }

    public static int Run()
    {
        const ushort port = 0x510;
        const ulong mmioBase = 0xd000_0000;
        var vm = new VirtualMachine("bench", 16 << 20, 1, [new DeviceSpec("scratch", _ => new ScratchDevice(), IoRange.Port(port, 4), IoRange.Memory(mmioBase, 0x1000))]);
        try
        {
            Console.WriteLine("I/O round trip to a device actor, uncontended (median of 50 batches of 20,000)");
            Console.WriteLine($"  port read at the bus:      {Median(() => vm.Bus.In(port, 1)):F0} ns");
            Console.WriteLine($"  port write at the bus:     {Median(() => vm.Bus.Out(port, 4, 7)):F0} ns");
            Console.WriteLine($"  MMIO read at the bus:      {Median(() => vm.Bus.TryRead(mmioBase, 4, out _)):F0} ns");
            Console.WriteLine($"  guest IN loop, per access: {GuestLoop(vm, port):F0} ns (includes the guest loop and the helper call)");
        }
        finally
        {
            vm.DisposeAsync().AsTask().Wait();
        }

        return 0;
    }

    private static double Median(Action access)
    {
        const int batch = 20_000;

        // Half a second of calls first, so the .NET JIT has promoted the path to optimised code.
        long warm = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(warm).TotalMilliseconds < 500)
        {
            access();
        }

        var perCall = new double[50];
        for (int b = 0; b < perCall.Length; b++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < batch; i++)
            {
                access();
            }

            perCall[b] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / batch;
        }

        Array.Sort(perCall);
        return perCall[perCall.Length / 2];
    }

    private static double GuestLoop(VirtualMachine vm, ushort port)
    {
        const int accesses = 1_000_000;
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        a.mov(ecx, accesses);
        a.mov(dx, port);
        a.Label(ref loop);
        a.@in(al, dx);
        a.dec(ecx);
        a.jnz(loop);
        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x10000);
        ms.ToArray().CopyTo(vm.Memory.Span(0x10000, (int)ms.Length));
        var cpu = vm.Cpus[0];
        CpuSetup.EnterFlat(cpu, 64, 0x10000, 0x80000);
        var engine = vm.Engines[0];
        for (int i = 0; i < 3; i++)
        {
            // Warm up: translate the loop and let the .NET JIT optimise the interpreter and helper.
            CpuSetup.EnterFlat(cpu, 64, 0x10000, 0x80000);
            engine.Run(long.MaxValue);
            cpu.S.Halted = 0;
        }

        CpuSetup.EnterFlat(cpu, 64, 0x10000, 0x80000);
        long start = Stopwatch.GetTimestamp();
        engine.Run(long.MaxValue);
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / accesses;
    }
}
