using System.Text;
using System.Text.Json.Nodes;
using Emulator.Devices.AcpiPm;
using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Emulator.Devices.DebugPort;
using Emulator.Devices.Keyboard;
using Emulator.Devices.Pic;
using Emulator.Devices.Pit;
using Emulator.Devices.Rtc;
using Emulator.Devices.Serial;
using Emulator.Devices.State;
using Emulator.Devices.Virtio;
using Emulator.Devices.VirtioBlk;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Devices.Tests;

/// <summary>
/// Every device's state description: a round trip into a fresh device gives the same state, and a
/// saved state that breaks a constraint is refused naming the device, the field, the value and the
/// constraint, with the device left exactly as it was.
/// </summary>
public sealed class DeviceStateTests : IDisposable
{
    private const long Now = 5_000_000_000;
    private static readonly DateTime Start = new(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);

    private readonly GuestMemory ram = new(1 << 20);
    private readonly MemoryBlockBackend backend = new(new byte[64 * 512]);

    public void Dispose() => ram.Dispose();

    /// <summary>A device kind: its description, a fresh device, and guest activity that gives it state a fresh one lacks.</summary>
    private sealed record DeviceCase(IDeviceStateDescription Description, Func<object> Fresh, Action<object> Exercise);

    private DeviceCase Case(string name) => name switch
    {
        "pit" => new(Pit8254.SavedState, () => new Pit8254(NullInterruptLine.Instance, Timers(), () => Now), d =>
        {
            var pit = (Pit8254)d;
            pit.Write(3, 1, 0x34);   // counter 0, LSB then MSB, mode 2
            pit.Write(0, 1, 0xE8);
            pit.Write(0, 1, 0x03);   // 1000
            pit.Write(3, 1, 0xB6);   // counter 2, mode 3
            pit.Write(2, 1, 0x12);
            pit.PortB.Write(0, 1, 0x03);
        }),
        "pic" => new(Pic8259Pair.SavedState, () => new Pic8259Pair(), d =>
        {
            var pic = (Pic8259Pair)d;
            foreach (var (port, value) in new (int, int)[] { (0x20, 0x11), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x38), (0xA1, 0x02), (0xA1, 0x01), (0x21, 0xB8) })
            {
                (port < 0xA0 ? pic.MasterPorts : pic.SlavePorts).Write((ulong)(port & 1), 1, (ulong)value);
            }

            pic.SetIrq(1, true);
            pic.SetIrq(10, true);
            pic.Acknowledge();
        }),
        "i8042" => new(I8042.SavedState, () => new I8042(), d =>
        {
            var kbc = (I8042)d;
            kbc.CommandPort.Write(0, 1, 0xAA); // self-test: 0x55 in the output buffer
            kbc.CommandPort.Write(0, 1, 0xD1); // write output port: waits for its data byte
        }),
        "rtc" => new(CmosRtc.SavedState, () => new CmosRtc(NullInterruptLine.Instance, Timers(), () => Now, Start), d =>
        {
            var rtc = (CmosRtc)d;
            rtc.Write(0, 1, 0x50);
            rtc.Write(1, 1, 0x77);
            rtc.Write(0, 1, 0x0B);
            rtc.Write(1, 1, 0x46); // periodic interrupts, binary, 24-hour
            rtc.Write(0, 1, 0x0D);
        }),
        "serial" => new(Serial16550.SavedState, () => new Serial16550(NullInterruptLine.Instance, _ => { }), d =>
        {
            var uart = (Serial16550)d;
            uart.Write(2, 1, 0xC1); // FIFOs on
            uart.Write(3, 1, 0x03);
            uart.Write(7, 1, 0x5A);
            uart.Receive("hello"u8);
        }),
        "ioapic" => new(IoApic.SavedState, () => new IoApic(new RecordingApicBus()), d =>
        {
            var ioapic = (IoApic)d;
            ioapic.Write(0, 4, 0x10 + 18);
            ioapic.Write(0x10, 4, 0x0000_A049); // pin 9: vector 0x49, level, active low
            ioapic.SetIrq(4, true);
        }),
        "lapic" => new(LocalApic.SavedState, () => ApicTestKit.NewApic(Timers()), d =>
        {
            var apic = ((LocalApic)d).Enabled();
            apic.W(LocalApicRegisters.Tpr, 0x20);
            apic.W(LocalApicRegisters.TimerDivideConfig, 0xB);
            apic.W(LocalApicRegisters.LvtTimer, 0x20030);
            apic.W(LocalApicRegisters.TimerInitialCount, 1000);
            apic.Accept(new ApicMessage(ApicDeliveryMode.Fixed, 0x61, 0, false, LevelTriggered: true));
            apic.Accept(new ApicMessage(ApicDeliveryMode.Fixed, 0x45, 0, false));
            apic.Acknowledge();
        }),
        "acpi-pm" => new(AcpiPmDevice.SavedState, () => new AcpiPmDevice(() => Now, NullInterruptLine.Instance), d =>
        {
            var pm = (AcpiPmDevice)d;
            pm.Write(2, 2, 0x0100);
            pm.PressPowerButton();
            pm.Write(4, 2, 5 << 10);
        }),
        "reset" => new(ResetControlDevice.SavedState, () => new ResetControlDevice(), d => ((ResetControlDevice)d).Write(0, 1, 0x0a)),
        "port80" => new(DebugPort0x80.SavedState, () => new DebugPort0x80(), d => ((DebugPort0x80)d).Write(0, 1, 0x42)),
        "virtio-mmio" => new(VirtioMmioTransport.SavedState, () => new VirtioMmioTransport(new Blk(backend), new GuestRamAccess(ram), NullInterruptLine.Instance), d =>
        {
            var driver = new VirtioTestDriver((VirtioMmioTransport)d, ram);
            driver.Initialize(Version1 | EventIdx);
            driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
            driver.Submit(VirtioBlkRegisters.TypeFlush, 0, notify: false); // a request left in the avail ring, not yet notified
        }),
        _ => throw new ArgumentException(name),
    };

    private static ManualTimerService Timers()
    {
        var timers = new ManualTimerService();
        timers.AdvanceTo(Now);
        return timers;
    }

    public static TheoryData<string> Devices => ["pit", "pic", "i8042", "rtc", "serial", "ioapic", "lapic", "acpi-pm", "reset", "port80", "virtio-mmio"];

    [Theory]
    [MemberData(nameof(Devices))]
    public void AStateRestoredIntoAFreshDeviceIsTheSameState(string name)
    {
        var c = Case(name);
        var device = c.Fresh();
        byte[] fresh = c.Description.Save(device);
        c.Exercise(device);
        byte[] saved = c.Description.Save(device);
        Assert.NotEqual(fresh, saved); // the guest activity changed something the state holds

        var copy = c.Fresh();
        c.Description.Load(copy, c.Description.Version, saved, name).Apply();
        Assert.Equal(Encoding.UTF8.GetString(saved), Encoding.UTF8.GetString(c.Description.Save(copy)));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void AnUnknownVersionIsRefused(string name)
    {
        var c = Case(name);
        var device = c.Fresh();
        byte[] saved = c.Description.Save(device);
        foreach (int version in new[] { 0, c.Description.Version + 1 })
        {
            var e = Assert.Throws<DeviceStateException>(() => c.Description.Load(device, version, saved, name));
            Assert.Equal(name, e.Device);
            Assert.Equal("section version", e.Field);
            Assert.Contains($"versions {c.Description.MinVersion} to {c.Description.Version}", e.Message);
        }
    }

    /// <summary>One malformed state per constraint kind, on the device whose constraint it is.</summary>
    public static TheoryData<string, string, string, string, string> Malformed => new()
    {
        // device, JSON path to set, new value (JSON), field named, constraint named
        { "pit", "Counter0.Mode", "7", "Counter0.Mode", "from 0 to 5" },
        { "pit", "Counter2.Access", "0", "Counter2.Access", "from 1 to 3" },
        { "pit", "Counter0.StartValue", "0", "Counter0.StartValue", "at least 1 while counting" },
        { "pic", "Master.VectorBase", "49", "Master.VectorBase", "a multiple of 8" },
        { "pic", "Slave.Elcr", "1", "Slave.Elcr", "only bits 0xde set" },
        { "pic", "Master.InitStep", "4", "Master.InitStep", "from 0 to 3" },
        { "i8042", "PendingCommand", "18", "PendingCommand", "one of 0, 96, 209, 210, 211, 212" },
        { "i8042", "CommandByte", "300", "CommandByte", "u8 holds 0 to 255" },
        { "i8042", "OutputFull", "1", "OutputFull", "true or false" },
        { "rtc", "Index", "128", "Index", "from 0 to 127" },
        { "rtc", "Ram", "\"AAAA\"", "Ram", "exactly 128" },
        { "rtc", "RegisterA", "166", "RegisterA", "only bits 0x7f set" },
        { "serial", "ReceiveFifo", "\"AAAAAAAAAAAAAAAAAAAAAAA=\"", "ReceiveFifo", "at most 16" },
        { "serial", "Fcr", "0", "ReceiveFifo", "at most 1 byte while the FIFOs are off" },
        { "serial", "Mcr", "64", "Mcr", "only bits 0x1f set" },
        { "ioapic", "Pins", "[]", "Pins", "exactly 24" },
        { "ioapic", "Pins[3].Pin", "4", "Pins[3].Pin", "3, its position in the list" },
        { "ioapic", "Pins[9].Entry", "131072", "Pins[9].Entry", "only bits 0xff0000000001efff set" },
        { "ioapic", "Id", "268435456", "Id", "only bits 0xf000000 set" },
        { "lapic", "Tpr", "256", "Tpr", "only bits 0xff set" },
        { "lapic", "LvtLint0", "4096", "LvtLint0", "only bits 0x1e7ff set" },
        { "lapic", "ApicBase", "4276092928", "ApicBase", "with the BSP flag (bit 8) set" },
        { "lapic", "RequestedVectors", "[16, 256]", "RequestedVectors[1]", "from 0 to 255" },
        { "lapic", "StartupVector", "-2", "StartupVector", "from -1 to 255" },
        { "acpi-pm", "Pm1Control", "0", "Pm1Control", "bits 0x1 all set" },
        { "acpi-pm", "Pm1Enable", "2", "Pm1Enable", "only bits 0x721 set" },
        { "reset", "Value", "4", "Value", "only bits 0xa set" },
        { "port80", "Writes", "-1", "Writes", "from 0 to" },
        { "virtio-mmio", "Queues[0].Size", "0", "Queues[0].Size", "a power of 2 from 1 to 256" },
        { "virtio-mmio", "Queues[0].Size", "96", "Queues[0].Size", "a power of 2 from 1 to 256" },
        { "virtio-mmio", "InterruptStatus", "4", "InterruptStatus", "only bits 0x3 set" },
        { "virtio-mmio", "Device.MalformedChains", "-5", "Device.MalformedChains", "from 0 to" },
        { "virtio-mmio", "Device.Sectors", "5", "Device.Sectors", "not a field of virtio-blk" },
        { "virtio-mmio", "Extra", "5", "Extra", "not a field of virtio-mmio" },
        { "virtio-mmio", "Version", "1", "Version", "from 2 to 2" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void AStateBreakingAConstraintIsRefusedAndChangesNothing(string name, string path, string json, string field, string constraint)
    {
        var c = Case(name);
        var device = c.Fresh();
        c.Exercise(device);
        byte[] saved = c.Description.Save(device);
        byte[] bad = Edit(saved, path, JsonNode.Parse(json));

        var target = c.Fresh();
        byte[] before = c.Description.Save(target);
        var e = Assert.Throws<DeviceStateException>(() => c.Description.Load(target, c.Description.Version, bad, name + "7"));
        Assert.Equal(name + "7", e.Device);
        Assert.Equal(field, e.Field);
        Assert.Contains(constraint, e.Constraint);
        Assert.StartsWith($"{name}7: {field}", e.Message);
        Assert.Equal(before, c.Description.Save(target));

        // The unedited state loads into the same device.
        c.Description.Load(target, c.Description.Version, saved, name).Apply();
        Assert.Equal(saved, c.Description.Save(target));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void AMissingFieldOfTheSectionsVersionIsRefused(string name)
    {
        var c = Case(name);
        var device = c.Fresh();
        var node = JsonNode.Parse(c.Description.Save(device))!.AsObject();
        string first = node.First().Key;
        node.Remove(first);
        var e = Assert.Throws<DeviceStateException>(() => c.Description.Load(device, c.Description.Version, Encoding.UTF8.GetBytes(node.ToJsonString()), name));
        Assert.Equal(first, e.Field);
        Assert.Contains("missing", e.Constraint);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[1, 2]")]
    [InlineData("{\"Status\": 1, \"Status\": 2}")]
    public void APayloadThatIsNotOneObjectIsRefused(string payload)
    {
        var c = Case("virtio-mmio");
        var e = Assert.Throws<DeviceStateException>(() => c.Description.Load(c.Fresh(), 2, Encoding.UTF8.GetBytes(payload), "virtio-blk0"));
        Assert.Equal("virtio-blk0", e.Device);
    }

    /// <summary>
    /// Virtio-mmio version 1 had no Device field: a version 1 section loads with the device behind
    /// the transport left as built (the field's default), and a version 1 section that has the
    /// field is refused, since that version never wrote it.
    /// </summary>
    [Fact]
    public void AnOlderSectionLoadsWithTheDefaultsOfTheFieldsItLacks()
    {
        var c = Case("virtio-mmio");
        var device = (VirtioMmioTransport)c.Fresh();
        c.Exercise(device);
        var v2 = JsonNode.Parse(VirtioMmioTransport.SavedState.Save(device))!.AsObject();
        v2["Device"]!["MalformedChains"] = 3;
        var v1 = v2.DeepClone().AsObject();
        v1.Remove("Device");
        v1["Version"] = 1; // the records this replaced wrote their version in the payload

        var blk = new Blk(backend);
        var target = new VirtioMmioTransport(blk, new GuestRamAccess(ram), NullInterruptLine.Instance);
        VirtioMmioTransport.SavedState.Load(target, 1, Encoding.UTF8.GetBytes(v1.ToJsonString()), "virtio-blk0").Apply();
        Assert.Equal(0, blk.MalformedChains);
        Assert.Equal(15u, target.Status);

        var e = Assert.Throws<DeviceStateException>(() => VirtioMmioTransport.SavedState.Load(target, 1, Encoding.UTF8.GetBytes(v2.ToJsonString()), "virtio-blk0"));
        Assert.Equal("Device", e.Field);
        Assert.Contains("added in version 2", e.Constraint);

        VirtioMmioTransport.SavedState.Load(target, 2, Encoding.UTF8.GetBytes(v2.ToJsonString()), "virtio-blk0").Apply();
        Assert.Equal(3, blk.MalformedChains);
    }

    private sealed class Counter
    {
        public int Ticks { get; set; }
        public int Limit { get; set; } = 99;
    }

    /// <summary>A field added in version 2 takes its declared default when a version 1 section is loaded.</summary>
    [Fact]
    public void AFieldNewerThanTheSectionTakesItsDefault()
    {
        var description = new StateDescription<Counter>("counter", version: 2)
            .Int("Ticks", c => c.Ticks, (c, v) => c.Ticks = v)
            .Int("Limit", c => c.Limit, (c, v) => c.Limit = v, StateRule.Within(1, 1000), since: 2, fallback: 10);
        var counter = new Counter();
        description.Load(counter, 1, "{\"Ticks\": 7}"u8, "counter0").Apply();
        Assert.Equal((7, 10), (counter.Ticks, counter.Limit));

        var e = Assert.Throws<DeviceStateException>(() => description.Load(counter, 2, "{\"Ticks\": 7}"u8, "counter0"));
        Assert.Equal(("counter0", "Limit"), (e.Device, e.Field));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StateDescription<Counter>("bad", version: 1).Int("Limit", c => c.Limit, (c, v) => c.Limit = v, since: 2));
    }

    /// <summary>Sets the value at <paramref name="path"/> (dotted, with [i] for list elements) in a saved payload.</summary>
    private static byte[] Edit(byte[] payload, string path, JsonNode? value)
    {
        var root = JsonNode.Parse(payload)!;
        var parts = path.Split('.');
        JsonNode node = root;
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            int bracket = part.IndexOf('[');
            string key = bracket < 0 ? part : part[..bracket];
            bool last = i == parts.Length - 1;
            if (bracket < 0)
            {
                if (last)
                {
                    node[key] = value;
                }
                else
                {
                    node = node[key]!;
                }
            }
            else
            {
                int index = int.Parse(part[(bracket + 1)..^1]);
                if (last)
                {
                    node[key]![index] = value;
                }
                else
                {
                    node = node[key]![index]!;
                }
            }
        }

        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }
}
