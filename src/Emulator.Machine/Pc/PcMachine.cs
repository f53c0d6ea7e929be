using Emulator.Devices.AcpiPm;
using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Emulator.Devices.DebugPort;
using Emulator.Devices.Keyboard;
using Emulator.Devices.Pic;
using Emulator.Devices.Pit;
using Emulator.Devices.Rtc;
using Emulator.Devices.Serial;
using Emulator.Devices.Virtio;
using Emulator.Devices.VirtioBlk;
using Emulator.Machine.Acpi;
using Emulator.Machine.Block;
using Emulator.Machine.Boot;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Pc;

/// <summary>
/// A disk on a virtio-blk device: an image file read as <paramref name="Format"/> (raw unless the
/// request says otherwise; never guessed from the file). An overlay's backing files must be ones
/// <see cref="Backing"/> allows; by default none, so only the code that makes an overlay, or a
/// caller that says where its layers may be, opens one.
/// </summary>
public sealed record DiskConfig(string Path, bool ReadOnly = false, BlockCacheMode Cache = BlockCacheMode.Writeback, BlockFormat Format = BlockFormat.Raw)
{
    public BackingPolicy Backing { get; init; } = BackingPolicy.None;
}

/// <summary>What a PC machine is made from.</summary>
public sealed record PcConfig
{
    public required byte[] Kernel { get; init; }

    public string KernelName { get; init; } = "kernel";

    public byte[]? Initrd { get; init; }

    public string InitrdName { get; init; } = "initrd";

    public string CommandLine { get; init; } = "console=ttyS0";

    public ulong MemoryBytes { get; init; } = 512UL << 20;

    public int Cpus { get; init; } = 1;

    /// <summary>Where COM1's output goes.</summary>
    public Action<ReadOnlySpan<byte>> SerialOutput { get; init; } = _ => { };

    /// <summary>A guest reboot ends the machine (as QEMU's -no-reboot); otherwise it is reported as not supported yet.</summary>
    public bool NoReboot { get; init; }

    /// <summary>virtio-blk disks, /dev/vda first.</summary>
    public IReadOnlyList<DiskConfig> Disks { get; init; } = [];

    /// <summary>Tier 1 (hot blocks as WebAssembly), or null for the interpreter alone.</summary>
    public Emulator.Execution.Tiering.Tier1Options? Tier1 { get; init; }

    /// <summary>The CPU model (QEMU's -cpu): which optional features the guest is shown; x86-64-v2 by default.</summary>
    public Emulator.X86.CpuModel CpuModel { get; init; } = Emulator.X86.CpuModel.Default;
}

/// <summary>
/// The microVM-style PC (see ARCHITECTURE.md, Machine): 16550 UART on COM1, 8259 PICs, 8254 PIT
/// with port 0x61, CMOS RTC, a local APIC per vCPU, IOAPIC, i8042 (reset), port 0x80, the ACPI
/// PM block and the 0xCF9 reset register, virtio-blk disks on virtio-mmio (described in the DSDT,
/// the only way Debian's kernel finds them), ACPI tables, and Linux booted directly. Every device
/// is an actor; interrupt lines are messages into the PIC and IOAPIC actors.
/// </summary>
public static class PcMachine
{
    public const ushort Com1 = 0x3f8;

    /// <summary>The most RAM this machine maps: below the 3 GiB MMIO hole (the loader places nothing above it).</summary>
    public const ulong MaxMemory = 3UL << 30;

    /// <summary>The most vCPUs a machine has (as `emu -smp` and machine.proto allow).</summary>
    public const int MaxCpus = 64;

    /// <summary>virtio-mmio windows as QEMU's microvm places them; device n interrupts on IOAPIC pin 16 + n.</summary>
    public const ulong VirtioBase = 0xfeb0_0000;
    public const int VirtioFirstGsi = 16;
    public const int MaxDisks = 8;

    public static VirtualMachine Build(PcConfig config) => Build(config, loadGuest: true);

    /// <summary>
    /// Builds the machine; with <paramref name="loadGuest"/> false the firmware's work (ACPI tables,
    /// kernel, boot_params) is skipped: a snapshot's RAM and CPU state will replace it.
    /// </summary>
    internal static VirtualMachine Build(PcConfig config, bool loadGuest)
    {
        if (config.MemoryBytes > MaxMemory)
        {
            throw new ArgumentOutOfRangeException(nameof(config), $"at most {MaxMemory >> 20} MiB of RAM is supported for now");
        }

        if (config.Cpus is < 1 or > MaxCpus)
        {
            throw new ArgumentOutOfRangeException(nameof(config), $"a machine has 1 to {MaxCpus} vCPUs, not {config.Cpus}");
        }

        var wiring = new ApicWiring();
        VirtualMachine? vm = null;
        VirtualMachine Vm() => vm ?? throw new InvalidOperationException("the machine is not built yet");
        Pic8259Pair? pic = null;
        IoApic? ioapic = null;

        // An ISA interrupt line goes to the PIC input and to the IOAPIC pin (IRQ 0 is on pin 2, as the MADT says).
        IInterruptLine Isa(int irq) => new IsaLine(irq, level =>
        {
            Vm().Post("pic", () => pic!.SetIrq(irq, level));
            Vm().Post("ioapic", () => ioapic!.SetIrq(irq == 0 ? 2 : irq, level));
        });

        var specs = new List<DeviceSpec>
        {
            new("pic", _ => pic = new Pic8259Pair(),
                IoRange.Port(0x20, 2, d => ((Pic8259Pair)d).MasterPorts),
                IoRange.Port(0xa0, 2, d => ((Pic8259Pair)d).SlavePorts),
                IoRange.Port(0x4d0, 2, d => ((Pic8259Pair)d).ElcrPorts)) { Persistence = DevicePersistence.Of<Pic8259Pair, Pic8259PairState>(Pic8259PairState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("ioapic", _ => ioapic = new IoApic(wiring), IoRange.Memory(ApicWiring.IoApicBase, 0x1000)) { Persistence = DevicePersistence.Of<IoApic, IoApicState>(IoApicState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("pit", s => new Pit8254(Isa(0), s.Timers, () => s.Clock.NowNanoseconds),
                IoRange.Port(0x40, 4),
                IoRange.Port(0x61, 1, d => ((Pit8254)d).PortB)) { Persistence = DevicePersistence.Of<Pit8254, Pit8254State>(Pit8254State.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("rtc", s => new CmosRtc(Isa(8), s.Timers, () => s.Clock.NowNanoseconds, DateTime.UtcNow), IoRange.Port(0x70, 2)) { Persistence = DevicePersistence.Of<CmosRtc, CmosRtcState>(CmosRtcState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("uart0", s => Uart(s, Isa(4), config.SerialOutput), IoRange.Port(Com1, 8)) { Persistence = DevicePersistence.Of<Serial16550, Serial16550State>(Serial16550State.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("i8042", _ => new I8042(Isa(1), Isa(12)),
                IoRange.Port(0x60, 1, d => ((I8042)d).DataPort),
                IoRange.Port(0x64, 1, d => ((I8042)d).CommandPort)) { Persistence = DevicePersistence.Of<I8042, I8042State>(I8042State.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("port80", _ => new DebugPort0x80(), IoRange.Port(0x80, 1)) { Persistence = DevicePersistence.Of<DebugPort0x80, DebugPort0x80State>(DebugPort0x80State.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("acpi-pm", s => new AcpiPmDevice(() => s.Clock.NowNanoseconds, Isa(9)), IoRange.Port(AcpiPmRegisters.DefaultBase, 12)) { Persistence = DevicePersistence.Of<AcpiPmDevice, AcpiPmState>(AcpiPmState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
            new("reset", _ => new ResetControlDevice(), IoRange.Port(ResetControlRegisters.Port, 1)) { Persistence = DevicePersistence.Of<ResetControlDevice, ResetControlState>(ResetControlState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)) },
        };

        if (config.Disks.Count > MaxDisks)
        {
            throw new ArgumentOutOfRangeException(nameof(config), $"at most {MaxDisks} disks (IOAPIC pins 16-23)");
        }

        // Open every image first, so a bad path is a clear error before anything runs.
        var images = new List<BlockImage>();
        var disks = new BlockBackendClient[config.Disks.Count];
        var dsdt = DsdtBuilder.ForMicrovm();
        try
        {
            foreach (var disk in config.Disks)
            {
                images.Add(BlockImage.Open(disk.Path, disk.Format, disk.Backing, disk.ReadOnly, disk.Cache));
            }
        }
        catch
        {
            images.ForEach(i => i.Dispose());
            throw;
        }

        for (int i = 0; i < images.Count; i++)
        {
            int n = i; // captured by the device factory, which runs later
            int gsi = VirtioFirstGsi + n;
            ulong window = VirtioBase + (ulong)n * VirtioMmioRegisters.WindowSize;
            var image = images[n];
            string name = $"virtio-blk{n}";
            var line = new IsaLine(gsi, level => Vm().Post("ioapic", () => ioapic!.SetIrq(gsi, level)));
            VirtioBlk? blk = null;
            specs.Add(new DeviceSpec(name, s =>
            {
                var backend = s.Spawn(BlockBackendActor.Props(image, faulted: e => s.Fail($"disk backend of {image.Path} failed", e)), $"disk{n}");
                var client = new BlockBackendClient(backend, image, () => s.Self);
                disks[n] = client;
                blk = new VirtioBlk(client, new VirtioBlkOptions { Serial = $"emu-disk{n}" })
                {
                    Trace = new DeviceTrace(name, s.MachineId),
                };
                return new VirtioMmioTransport(blk, new GuestRamAccess(s.Memory, s.DeviceWroteRam), line, name);
            }, IoRange.Memory(window, VirtioMmioRegisters.WindowSize))
            {
                // A request handed to the backend must complete before the queue state is saved.
                Persistence = DevicePersistence.Of<VirtioMmioTransport, VirtioMmioState>(
                    VirtioMmioState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x), _ => blk!.InFlight > 0),
            });
            dsdt.AddVirtioMmio(window, VirtioMmioRegisters.WindowSize, (uint)gsi);
        }

        var apics = new LocalApic[config.Cpus];
        for (int i = 0; i < config.Cpus; i++)
        {
            int index = i;
            specs.Add(new DeviceSpec($"lapic{i}", s => apics[index] = new LocalApic(index, index == 0, wiring, s.Timers, () => s.Clock.NowNanoseconds)
            {
                TscHz = s.Clock.TscHz,
                ReadTsc = () => Vm().Cpus[index].Tsc,
            })
            {
                Persistence = DevicePersistence.Of<LocalApic, LocalApicState>(LocalApicState.CurrentVersion, d => d.SaveState(), (d, x) => d.RestoreState(x)),
            });
        }

        vm = new VirtualMachine("pc", config.MemoryBytes, config.Cpus, specs, wiring.SignalsFor, config.Tier1) { Config = config, AfterRestore = wiring.HintAll };
        foreach (var cpu in vm.Cpus)
        {
            cpu.Features = config.CpuModel.Features; // a restored snapshot sets the features it was saved with
        }

        vm.Owned.AddRange(images);
        vm.Disks.AddRange(disks);

        for (int i = 0; i < config.Cpus; i++)
        {
            int index = i;
            var apic = apics[i];
            apic.EoiBroadcast = vector => vm.Post("ioapic", () => ioapic!.EndOfInterrupt(vector));
            wiring.Add(apic, vm.DeviceActor($"lapic{i}"), () => vm.Kick(index));
            var cpu = vm.Cpus[i];
            cpu.Mmio = wiring.MmioFor(i, vm.Bus);
            cpu.MsrExtension = wiring.MsrsFor(i);
            vm.Engines[i].Interrupts = wiring.InterruptSourceFor(i);
        }

        // The 8259 reaches the BSP through its local APIC's LINT0 (virtual wire mode, SDM Vol. 3A 11.5.1).
        var bsp = apics[0];
        var picActor = vm.DeviceActor("pic");
        pic!.OutputChanged = level => vm.Post("lapic0", () => bsp.SetLint(0, level));
        bsp.PicHasInterrupt = () => picActor.Call<bool>(r => new DeviceMessage.Event(() => r.Reply(pic.HasInterrupt)), TimeSpan.FromSeconds(5));
        bsp.PicAcknowledge = () => picActor.Call<int>(r => new DeviceMessage.Event(() => r.Reply(pic.Acknowledge())), TimeSpan.FromSeconds(5));

        var pm = vm.Device<AcpiPmDevice>("acpi-pm");
        pm.PowerOff += () => vm.Stop(new MachineExit(MachineExitReason.PowerOff, "the guest powered off (ACPI S5)"));
        void Reboot() => vm.Stop(config.NoReboot
            ? new MachineExit(MachineExitReason.Reboot, "the guest rebooted (-no-reboot)")
            : new MachineExit(MachineExitReason.Failed, "the guest rebooted; resetting a machine is not implemented yet (use -no-reboot)"));
        vm.Device<ResetControlDevice>("reset").ResetRequested += _ => Reboot();
        vm.Device<I8042>("i8042").ResetRequested += Reboot;

        if (!loadGuest)
        {
            return vm;
        }

        // Firmware's work: ACPI tables, then the kernel, initrd, command line and boot_params.
        var tables = AcpiTables.Build(new AcpiConfig { CpuCount = config.Cpus }, dsdt);
        tables.WriteTo(vm.Memory);
        var boot = LinuxBoot.Load(vm.Memory, new LinuxBootOptions
        {
            Kernel = config.Kernel,
            KernelName = config.KernelName,
            Initrd = config.Initrd,
            InitrdName = config.InitrdName,
            CommandLine = config.CommandLine,
            AcpiRsdpAddress = tables.RsdpAddress,
        });
        boot.Cpu.Apply(vm.Cpus[0]);
        return vm;
    }

    /// <summary>COM1, with a span per burst of bytes; a burst still open when the machine stops is ended then.</summary>
    public static Serial16550 Uart(MachineServices s, IInterruptLine irq, Action<ReadOnlySpan<byte>> output)
    {
        var bursts = new SerialBurstTrace(new DeviceTrace("uart0", s.MachineId), s.Timers, () => s.Clock.NowNanoseconds);
        s.OnStop(bursts.Flush);
        return new Serial16550(irq, output) { Bursts = bursts };
    }

    private sealed class IsaLine(int irq, Action<bool> set) : IInterruptLine
    {
        public int Irq => irq;

        public void Set(bool level) => set(level);
    }
}
