using System.Diagnostics;
using Emulator.Devices.Bus;
using Emulator.Devices.Tests;
using Emulator.Devices.Virtio;
using Emulator.Machine.Block;
using Emulator.Machine.Runtime;
using Emulator.Machine.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Machine.Tests;

/// <summary>
/// virtio-blk request spans in a machine, wired as the PC wires a disk (device actor, block backend
/// actor, a temporary image), with the driver's register accesses going through the machine's bus,
/// collected through the OpenTelemetry SDK pipeline.
/// </summary>
public sealed class VirtioBlkTelemetryTests : IDisposable
{
    private const ulong Window = 0xfeb0_0000;
    private readonly string machine = "blk-vm-" + Guid.NewGuid().ToString("N");
    private readonly string path = Path.Combine(Path.GetTempPath(), $"emu-blk-trace-{Guid.NewGuid():N}.img");
    private readonly List<Activity> spans = [];
    private readonly TracerProvider tracing;

    public VirtioBlkTelemetryTests()
    {
        File.WriteAllBytes(path, Pattern(64 * SectorSize, 5));
        tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(EmulatorTelemetry.DeviceSourceName)
            .AddProcessor(new SimpleActivityExportProcessor(new TelemetryTests.CollectingExporter(spans)))
            .Build()!;
    }

    public void Dispose()
    {
        tracing.Dispose();
        File.Delete(path);
    }

    [Fact]
    public async Task AReadAndAWriteAreSpansWithOperationSectorBytesAndStatus()
    {
        var image = BlockImage.OpenRaw(path);
        await using (var vm = new VirtualMachine(machine, 16 << 20, 1, [new DeviceSpec("virtio-blk0", s =>
        {
            var backend = s.Spawn(BlockBackendActor.Props(image), "disk0");
            var blk = new Blk(new BlockBackendClient(backend, image, () => s.Self)) { Trace = new DeviceTrace("virtio-blk0", s.MachineId) };
            return new VirtioMmioTransport(blk, new GuestRamAccess(s.Memory), NullInterruptLine.Instance, "virtio-blk0");
        }, IoRange.Memory(Window, VirtioMmioRegisters.WindowSize))]))
        {
            vm.Owned.Add(image);
            var driver = new VirtioTestDriver(new BusRegisters(vm.Bus), vm.Memory);
            driver.Initialize(Version1);
            var w = driver.Submit(TypeOut, 9, dataOut: Pattern(2 * SectorSize, 1));
            driver.WaitUsed();
            var r = driver.Submit(TypeIn, 3, dataInLength: 4 * SectorSize);
            driver.WaitUsed();
            Assert.Equal(StatusOk, driver.StatusOf(w));
            Assert.Equal(StatusOk, driver.StatusOf(r));
        }

        List<Activity> requests;
        lock (spans)
        {
            requests = spans.Where(s => (string?)s.GetTagItem(DeviceTrace.MachineIdTag) == machine && s.DisplayName.StartsWith("virtio-blk ", StringComparison.Ordinal)).ToList();
        }

        Assert.Equal(
            [("virtio-blk write", "write", 9L, 2L * SectorSize, "ok"), ("virtio-blk read", "read", 3L, 4L * SectorSize, "ok")],
            requests.Select(s => (s.DisplayName, (string?)s.GetTagItem("blk.operation"), (long?)s.GetTagItem("blk.sector"), (long?)s.GetTagItem(DeviceTrace.BytesTag), (string?)s.GetTagItem("blk.status"))));
        Assert.All(requests, s => Assert.Equal("virtio-blk0", s.GetTagItem(DeviceTrace.DeviceTag)));
    }

    /// <summary>The driver's register accesses as a vCPU makes them: MMIO through the machine's bus.</summary>
    private sealed class BusRegisters(IoBus bus) : IIoDevice
    {
        public string Name => "virtio-blk0";

        public ulong Read(ulong offset, int size) => bus.TryRead(Window + offset, size, out ulong v) ? v : ulong.MaxValue;

        public void Write(ulong offset, int size, ulong value) => bus.TryWrite(Window + offset, size, value);
    }
}
