using System.Diagnostics;
using Emulator.Devices.Bus;
using Emulator.Devices.Serial;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Telemetry;
using Emulator.X86;
using Iced.Intel;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>COM1's burst spans in a machine (the PC's UART wiring), through the OpenTelemetry SDK pipeline.</summary>
public sealed class SerialBurstTelemetryTests : IDisposable
{
    private readonly string machine = "uart-vm-" + Guid.NewGuid().ToString("N");
    private readonly List<Activity> spans = [];
    private readonly TracerProvider tracing;

    public SerialBurstTelemetryTests()
    {
        tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(EmulatorTelemetry.DeviceSourceName)
            .AddProcessor(new SimpleActivityExportProcessor(new TelemetryTests.CollectingExporter(spans)))
            .Build()!;
    }

    public void Dispose() => tracing.Dispose();

    private VirtualMachine Build() => new(machine, 16 << 20, 1, [new DeviceSpec("uart0", s => PcMachine.Uart(s, new RecordingInterruptLine(), _ => { }), IoRange.Port(PcMachine.Com1, 8))]);

    private static void Load(VirtualMachine vm, Action<Assembler> code)
    {
        var a = new Assembler(64);
        code(a);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x10000);
        ms.ToArray().CopyTo(vm.Memory.Span(0x10000, (int)ms.Length));
        CpuSetup.EnterFlat(vm.Cpus[0], 64, 0x10000, 0x80000);
    }

    private List<Activity> Mine()
    {
        lock (spans)
        {
            return spans.Where(s => (string?)s.GetTagItem(DeviceTrace.MachineIdTag) == machine).ToList();
        }
    }

    private List<Activity> Bursts(string name) => Mine().Where(s => s.DisplayName == name).ToList();

    private List<Activity> WaitFor(string name, int count)
    {
        // A bound on how long a failing test waits, not on how fast a passing one must be.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Bursts(name).Count < count && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(5);
        }

        return Bursts(name);
    }

    [Fact]
    public async Task GuestBytesAreOneTxSpanEndedWhenTheMachineGoesAway()
    {
        const int n = 12;
        var vm = Build();
        Load(vm, a =>
        {
            a.mov(dx, PcMachine.Com1);
            for (int i = 0; i < n; i++)
            {
                a.mov(al, (byte)('A' + i));
                a.@out(dx, al);
            }

            a.mov(dx, PcMachine.Com1 + 5);
            a.@in(al, dx); // LSR
            a.hlt();
        });
        vm.Engines[0].Run(1000);
        Assert.Empty(Bursts(SerialBurstTrace.TxSpanName)); // the machine clock stands still: the burst is open
        await vm.DisposeAsync();

        var burst = Assert.Single(Bursts(SerialBurstTrace.TxSpanName));
        Assert.Equal(n, burst.GetTagItem(DeviceTrace.BytesTag));
        Assert.Equal("uart0", burst.GetTagItem(DeviceTrace.DeviceTag));
        Assert.Equal("tx", burst.GetTagItem(SerialBurstTrace.DirectionTag));

        // The data register is covered by the burst; the LSR read keeps its own span.
        var accesses = Mine().Where(s => s.DisplayName is "device read" or "device write").ToList();
        var lsr = Assert.Single(accesses);
        Assert.Equal("0x3fd", lsr.GetTagItem("device.register"));
    }

    [Fact]
    public async Task AnIdleGapInARunningMachineGivesTwoSpans()
    {
        await using var vm = Build();
        Load(vm, a =>
        {
            a.cli();
            a.hlt();
        });
        vm.Start();

        // Each burst is written inside one message to the UART's actor, so a busy host cannot
        // stretch the time between its bytes past the gap; the gap between bursts is the wait.
        var uart = vm.Device<Serial16550>("uart0");
        void Send(int count) => vm.Post("uart0", () =>
        {
            for (int i = 0; i < count; i++)
            {
                uart.Write(0, 1, 'x');
            }
        });
        Send(3);
        Assert.Single(WaitFor(SerialBurstTrace.TxSpanName, 1));
        Send(4);

        var bursts = WaitFor(SerialBurstTrace.TxSpanName, 2);
        Assert.Equal([3, 4], bursts.Select(b => (int)b.GetTagItem(DeviceTrace.BytesTag)!));
    }

    [Fact]
    public async Task ReceivedBytesAreAnRxSpanEndedWhenTheMachineStops()
    {
        await using var vm = Build();
        vm.Bus.Out(PcMachine.Com1 + 2, 1, 1); // FCR: FIFOs on
        var uart = vm.Device<Serial16550>("uart0");
        vm.Post("uart0", () => uart.Receive("ls -l\n"u8));
        vm.Stop(new MachineExit(MachineExitReason.PowerOff, "test"));
        await vm.Exited;

        var burst = Assert.Single(WaitFor(SerialBurstTrace.RxSpanName, 1));
        Assert.Equal(6, burst.GetTagItem(DeviceTrace.BytesTag));
        Assert.Equal("rx", burst.GetTagItem(SerialBurstTrace.DirectionTag));
    }
}
