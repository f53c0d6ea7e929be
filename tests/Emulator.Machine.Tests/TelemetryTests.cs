using System.Diagnostics;
using Emulator.Devices.Bus;
using Emulator.Machine.Runtime;
using Emulator.Machine.Telemetry;
using Emulator.X86;
using Iced.Intel;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>Device I/O spans, checked through the real OpenTelemetry SDK pipeline with a collecting exporter at its end.</summary>
public sealed class TelemetryTests
{
    /// <summary>The end of the pipeline: keeps what it is given.</summary>
    public sealed class CollectingExporter(List<Activity> into) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            lock (into)
            {
                foreach (var a in batch)
                {
                    into.Add(a);
                }
            }

            return ExportResult.Success;
        }
    }

    private sealed class Scratch : IIoDevice
    {
        public string Name => "scratch";

        public ulong Read(ulong offset, int size) => 0x5a;

        public void Write(ulong offset, int size, ulong value)
        {
        }
    }

    [Fact]
    public async Task EveryDeviceRequestIsASpanWithDeviceAndRegister()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(EmulatorTelemetry.DeviceSourceName)
            .AddProcessor(new SimpleActivityExportProcessor(new CollectingExporter(spans)))
            .Build();

        await using var vm = new VirtualMachine("traced-vm", 16 << 20, 1, [new DeviceSpec("scratch", _ => new Scratch(), IoRange.Port(0x510, 4))]);
        var a = new Assembler(64);
        a.mov(dx, 0x512);
        a.mov(al, 0x42);
        a.@out(dx, al);
        a.@in(al, dx);
        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x10000);
        ms.ToArray().CopyTo(vm.Memory.Span(0x10000, (int)ms.Length));
        CpuSetup.EnterFlat(vm.Cpus[0], 64, 0x10000, 0x80000);
        vm.Engines[0].Run(100);

        List<Activity> mine;
        lock (spans)
        {
            mine = spans.Where(s => (string?)s.GetTagItem("machine.id") == "traced-vm").ToList();
        }

        Assert.Equal(2, mine.Count);
        Assert.Equal("device write", mine[0].DisplayName);
        Assert.Equal("scratch", mine[0].GetTagItem("device"));
        Assert.Equal("0x512", mine[0].GetTagItem("device.register"));
        Assert.Equal("0x42", mine[0].GetTagItem("device.value"));
        Assert.Equal("device read", mine[1].DisplayName);
        Assert.Equal("0x5a", mine[1].GetTagItem("device.value"));
    }
}
