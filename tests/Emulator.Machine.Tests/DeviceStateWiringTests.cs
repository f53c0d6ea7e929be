using System.Text;
using System.Text.Json.Nodes;
using Emulator.Devices.State;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>
/// The machine's side of the device state descriptions: every device of a PC machine has one, and
/// a restore checks every device's state before it applies any.
/// </summary>
public sealed class DeviceStateWiringTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("emu-devstate-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private PcConfig Config(int cpus = 1, bool disk = false)
    {
        var disks = new List<DiskConfig>();
        if (disk)
        {
            string path = Path.Combine(dir, $"disk-{Guid.NewGuid():N}.img");
            File.WriteAllBytes(path, new byte[1 << 20]);
            disks.Add(new DiskConfig(path, ReadOnly: true));
        }

        return new PcConfig
        {
            Kernel = TestImages.BzImage([0xf4, 0xeb, 0xfd]), // hlt; jmp back
            MemoryBytes = 32UL << 20,
            Cpus = cpus,
            Disks = disks,
        };
    }

    /// <summary>Each device's state as its description saves it (the machine is not started: nothing else touches the devices).</summary>
    private static Dictionary<string, string> States(VirtualMachine vm) =>
        vm.Persistence.ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value.State.Save(vm.Device<object>(p.Key))));

    /// <summary>So that a device cannot be added to the PC machine without the description snapshots (and migration) need.</summary>
    [Fact]
    public async Task EveryDeviceOfThePcMachineHasAStateDescription()
    {
        await using var vm = PcMachine.Build(Config(cpus: 2, disk: true), loadGuest: false);
        Assert.Contains("virtio-blk0", vm.DeviceNames);
        Assert.Contains("lapic1", vm.DeviceNames);
        foreach (string name in vm.DeviceNames)
        {
            Assert.True(vm.Persistence.TryGetValue(name, out var persistence), $"device {name} has no state description");
            object device = vm.Device<object>(name);
            Assert.True(persistence.State.DeviceType.IsInstanceOfType(device), $"{name}: described as {persistence.State.DeviceType.Name}, is {device.GetType().Name}");

            byte[] saved = persistence.State.Save(device);
            persistence.State.Load(device, persistence.State.Version, saved, name).Apply();
            Assert.Equal(saved, persistence.State.Save(device));
        }
    }

    [Fact]
    public async Task ARestoreRefusedOnTheLastDeviceChangesNoDevice()
    {
        MachineSavedState captured;
        await using (var original = PcMachine.Build(Config()))
        {
            original.Start();
            original.Pause();
            await original.QuiesceAsync();
            captured = await original.CaptureAsync();
        }

        // Valid changes to devices restored first, a refused state on the device restored last.
        byte[] Edit(string name, Action<JsonNode> edit)
        {
            var node = JsonNode.Parse(captured.Devices.Single(d => d.Name == name).Payload)!;
            edit(node);
            return Encoding.UTF8.GetBytes(node.ToJsonString());
        }

        var edited = captured.Devices.Where(d => d.Name != "rtc").Select(d => d.Name switch
        {
            "port80" => d with { Payload = Edit("port80", s => { s["LastPostCode"] = 0x42; s["Writes"] = 7; }) },
            "uart0" => d with { Payload = Edit("uart0", s => s["Scr"] = 0x5A) },
            _ => d,
        }).ToList();
        var rtc = captured.Devices.Single(d => d.Name == "rtc");
        var refused = captured with { Devices = [.. edited, rtc with { Payload = Edit("rtc", s => s["Index"] = 200) }] };
        var accepted = captured with { Devices = [.. edited, rtc] };

        await using var vm = PcMachine.Build(Config(), loadGuest: false);
        var before = States(vm);
        long clock = vm.Clock.NowNanoseconds;

        var e = await Assert.ThrowsAsync<DeviceStateException>(() => vm.RestoreAsync(refused));
        Assert.Equal(("rtc", "Index"), (e.Device, e.Field));
        Assert.Contains("from 0 to 127", e.Message);
        Assert.Equal(before, States(vm));
        Assert.Equal(clock, vm.Clock.NowNanoseconds);
        Assert.Equal(MachineState.Created, vm.State);

        // The same machine takes the state without the refused part, edits included.
        await vm.RestoreAsync(accepted);
        Assert.Equal(0x42, vm.Device<Emulator.Devices.DebugPort.DebugPort0x80>("port80").LastPostCode);
        Assert.Equal(0x5AUL, vm.Device<Emulator.Devices.Serial.Serial16550>("uart0").Read(7, 1));
    }
}
