using Emulator.Devices.AcpiPm;
using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Emulator.Devices.DebugExit;
using Emulator.Devices.DebugPort;
using Emulator.Devices.FwCfg;
using Emulator.Devices.Keyboard;
using Emulator.Devices.Pic;
using Emulator.Devices.Pit;
using Emulator.Devices.Rtc;
using Emulator.Devices.Serial;
using Emulator.Devices.Virtio;
using Emulator.Devices.Virtio9p;
using Emulator.Devices.VirtioBlk;
using Emulator.Machine.Acpi;
using Emulator.Machine.Block;
using Emulator.Machine.Boot;
using Emulator.Machine.Runtime;
using Emulator.Machine.SharedFolders;

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

    /// <summary>Where the disk file itself must lie, checked on the opened file (a server's allowed directories); by default anywhere.</summary>
    public BackingPolicy Confinement { get; init; } = BackingPolicy.Unconfined;

    /// <summary>The quota clusters its overlays allocate are taken from (a server's snapshot and layer quota), or none.</summary>
    public DiskQuota? Quota { get; init; }
}

/// <summary>QEMU's isa-debug-exit at <paramref name="IoBase"/> (QEMU's defaults 0x501, 2 ports): a write of V ends the machine with status (V &lt;&lt; 1) | 1.</summary>
public sealed record IsaDebugExitConfig(ushort IoBase = IsaDebugExit.DefaultIoBase, ushort IoSize = IsaDebugExit.DefaultIoSize);

/// <summary>A device option the machine cannot honour (an isa-debug-exit on ports another device has).</summary>
public sealed class DeviceOptionException(string message) : ArgumentException(message);

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

    /// <summary>A guest reboot (or triple fault) ends the machine (as QEMU's -no-reboot); otherwise the machine resets and boots again.</summary>
    public bool NoReboot { get; init; }

    /// <summary>
    /// Where a reset gets the kernel and initrd again when <see cref="Kernel"/> is empty (a machine
    /// restored from a snapshot, which holds neither), given this config with their recorded
    /// names; null: such a machine cannot be reset.
    /// </summary>
    public Func<PcConfig, (byte[] Kernel, byte[]? Initrd)>? BootFiles { get; init; }

    /// <summary>An isa-debug-exit device (`-device isa-debug-exit`), or null for none.</summary>
    public IsaDebugExitConfig? DebugExit { get; init; }

    /// <summary>virtio-blk disks, /dev/vda first.</summary>
    public IReadOnlyList<DiskConfig> Disks { get; init; } = [];

    /// <summary>virtio-net interfaces on host TAP devices, eth0 first (PcMachine.Net.cs).</summary>
    public IReadOnlyList<Net.NetworkInterfaceConfig> NetworkInterfaces { get; init; } = [];

    /// <summary>Tier 1 (hot blocks as WebAssembly), or null for the interpreter alone.</summary>
    public Emulator.Execution.Tiering.Tier1Options? Tier1 { get; init; }

    /// <summary>Host folders on virtio-9p devices, after the disks.</summary>
    public IReadOnlyList<SharedFolderConfig> SharedFolders { get; init; } = [];

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
public static partial class PcMachine
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

    /// <summary>virtio-mmio devices of every kind together: one IOAPIC pin each, 16-23.</summary>
    public const int MaxVirtioDevices = 8;

    public static VirtualMachine Build(PcConfig config) => Build(config, loadGuest: true);

    /// <summary>The machine without a guest in RAM (no ACPI tables, kernel or boot_params): for code that puts its own there (the fuzzer).</summary>
    public static VirtualMachine BuildWithoutGuest(PcConfig config) => Build(config, loadGuest: false);

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
                IoRange.Port(0x4d0, 2, d => ((Pic8259Pair)d).ElcrPorts)) { Persistence = DevicePersistence.Of(Pic8259Pair.SavedState) },
            new("ioapic", _ => ioapic = new IoApic(wiring), IoRange.Memory(ApicWiring.IoApicBase, 0x1000)) { Persistence = DevicePersistence.Of(IoApic.SavedState) },
            new("pit", s => new Pit8254(Isa(0), s.Timers, () => s.Clock.NowNanoseconds),
                IoRange.Port(0x40, 4),
                IoRange.Port(0x61, 1, d => ((Pit8254)d).PortB)) { Persistence = DevicePersistence.Of(Pit8254.SavedState) },
            new("rtc", s => new CmosRtc(Isa(8), s.Timers, () => s.Clock.NowNanoseconds, DateTime.UtcNow), IoRange.Port(0x70, 2)) { Persistence = DevicePersistence.Of(CmosRtc.SavedState), Reset = d => ((CmosRtc)d).Reset() },
            new("uart0", s => Uart(s, Isa(4), config.SerialOutput), IoRange.Port(Com1, 8)) { Persistence = DevicePersistence.Of(Serial16550.SavedState) },
            new("i8042", _ => new I8042(Isa(1), Isa(12)),
                IoRange.Port(0x60, 1, d => ((I8042)d).DataPort),
                IoRange.Port(0x64, 1, d => ((I8042)d).CommandPort)) { Persistence = DevicePersistence.Of(I8042.SavedState) },
            new("port80", _ => new DebugPort0x80(), IoRange.Port(0x80, 1)) { Persistence = DevicePersistence.Of(DebugPort0x80.SavedState) },
            new("acpi-pm", s => new AcpiPmDevice(() => s.Clock.NowNanoseconds, Isa(9)), IoRange.Port(AcpiPmRegisters.DefaultBase, 12)) { Persistence = DevicePersistence.Of(AcpiPmDevice.SavedState) },
            new("reset", _ => new ResetControlDevice(), IoRange.Port(ResetControlRegisters.Port, 1)) { Persistence = DevicePersistence.Of(ResetControlDevice.SavedState) },
            new("fw_cfg", _ => new FwCfgDevice(FirmwareConfig(config)), IoRange.Port(FwCfgRegisters.SelectorPort, FwCfgRegisters.PortCount)) { Persistence = DevicePersistence.Of(FwCfgDevice.SavedState) with { MayBeAbsent = true } },
        };

        if (config.DebugExit is { } debugExit)
        {
            ulong first = debugExit.IoBase, end = first + debugExit.IoSize;
            foreach (var spec in specs)
            {
                if (spec.Ranges.FirstOrDefault(r => r.IsPort && r.Base < end && first < r.Base + r.Length) is { } taken)
                {
                    throw new DeviceOptionException(
                        $"-device isa-debug-exit: ports 0x{first:x}-0x{end - 1:x} overlap {spec.Name} at 0x{taken.Base:x}-0x{taken.Base + taken.Length - 1:x}");
                }
            }

            // No state: its port and size are configuration.
            specs.Add(new DeviceSpec("isa-debug-exit", _ => new IsaDebugExit(), IoRange.Port(debugExit.IoBase, debugExit.IoSize)));
        }

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
                var image = BlockImage.Open(disk.Path, disk.Format, disk.Backing, disk.Confinement, disk.ReadOnly, disk.Cache);
                image.Quota = disk.Quota;
                images.Add(image);
            }
        }
        catch
        {
            images.ForEach(i => i.Dispose());
            throw;
        }

        // virtio-mmio devices take the windows in order: disks first (so /dev/vda is the first disk).
        int virtioSlots = 0;
        void AddVirtioMmio(string name, Func<MachineServices, IInterruptLine, VirtioMmioTransport> create, Func<VirtioMmioTransport, bool>? busy = null)
        {
            if (virtioSlots == MaxVirtioDevices)
            {
                throw new DeviceOptionException($"at most {MaxVirtioDevices} virtio devices in all (disks, shared folders, network interfaces: IOAPIC pins 16-23); {name} is one too many");
            }

            int gsi = VirtioFirstGsi + virtioSlots;
            ulong window = VirtioBase + (ulong)virtioSlots * VirtioMmioRegisters.WindowSize;
            virtioSlots++;
            var line = new IsaLine(gsi, level => Vm().Post("ioapic", () => ioapic!.SetIrq(gsi, level)));
            specs.Add(new DeviceSpec(name, s => create(s, line), IoRange.Memory(window, VirtioMmioRegisters.WindowSize))
            {
                Persistence = DevicePersistence.Of(VirtioMmioTransport.SavedState, busy),
            });
            dsdt.AddVirtioMmio(window, VirtioMmioRegisters.WindowSize, (uint)gsi);
        }

        for (int i = 0; i < images.Count; i++)
        {
            int n = i; // captured by the device factory, which runs later
            var image = images[n];
            string name = $"virtio-blk{n}";
            VirtioBlk? blk = null;
            AddVirtioMmio(name, (s, line) =>
            {
                var backend = s.Spawn(BlockBackendActor.Props(image, faulted: e => s.Fail($"disk backend of {image.Path} failed", e)), $"disk{n}");
                var client = new BlockBackendClient(backend, image, () => s.Self);
                disks[n] = client;
                blk = new VirtioBlk(client, new VirtioBlkOptions { Serial = $"emu-disk{n}" })
                {
                    Trace = new DeviceTrace(name, s.MachineId),
                };
                return new VirtioMmioTransport(blk, new GuestRamAccess(s.Memory, s.DeviceWroteRam), line, name);
            },
            // A request handed to the backend must complete before the queue state is saved.
            busy: _ => blk!.InFlight > 0);
        }

        var shares = AddSharedFolders(config, images, (name, create, busy) => AddVirtioMmio(name, create, busy));
        var taps = AddNetworkInterfaces(config, AddVirtioMmio, [.. images, .. shares]);

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
                Persistence = DevicePersistence.Of(LocalApic.SavedState),
            });
        }

        vm = new VirtualMachine("pc", config.MemoryBytes, config.Cpus, specs, wiring.SignalsFor, config.Tier1) { Config = config, AfterRestore = wiring.HintAll };
        foreach (var cpu in vm.Cpus)
        {
            cpu.Features = config.CpuModel.Features; // a restored snapshot sets the features it was saved with
        }

        vm.Owned.AddRange(images);
        vm.Owned.AddRange(taps);
        vm.Owned.AddRange(shares);
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

        // A reset request (keyboard controller, 0xCF9 = the FADT's RESET_REG, triple fault) boots
        // again, or ends the machine under -no-reboot (as QEMU).
        vm.GuestResetRequested = how =>
        {
            if (config.NoReboot)
            {
                vm.Stop(new MachineExit(MachineExitReason.Reboot, $"the guest rebooted ({how}; -no-reboot)"));
            }
            else
            {
                vm.RequestReset(how);
            }
        };
        vm.Device<ResetControlDevice>("reset").ResetRequested += hard => vm.GuestResetRequested(hard ? "reset through port 0xCF9 (hard)" : "reset through port 0xCF9");
        vm.Device<I8042>("i8042").ResetRequested += () => vm.GuestResetRequested("reset through the keyboard controller");
        if (config.DebugExit is not null)
        {
            vm.Device<IsaDebugExit>("isa-debug-exit").ExitRequested += status =>
                vm.Stop(new MachineExit(MachineExitReason.DebugExit, $"the guest wrote to isa-debug-exit: exit status {status}") { Status = status });
        }

        vm.Firmware = () =>
        {
            // Read first (a failure leaves the machine as it was), then write guest memory.
            var (kernel, initrd) = config.Kernel.Length > 0 ? (config.Kernel, config.Initrd)
                : config.BootFiles?.Invoke(config) ?? throw new InvalidOperationException(
                    $"the machine was restored from a snapshot, which does not hold its kernel ({config.KernelName}), and nothing says where to read it again");
            return () =>
            {
                // Firmware's work: ACPI tables, then the kernel, initrd (or module), command line and boot structures.
                var tables = AcpiTables.Build(new AcpiConfig { CpuCount = config.Cpus }, dsdt);
                tables.WriteTo(vm.Memory);
                var boot = KernelLoader.Load(vm.Memory, new LinuxBootOptions
                {
                    Kernel = kernel,
                    KernelName = config.KernelName,
                    Initrd = initrd,
                    InitrdName = config.InitrdName,
                    CommandLine = config.CommandLine,
                    AcpiRsdpAddress = tables.RsdpAddress,
                });
                return boot.Apply;
            };
        };
        vm.RecordPowerOnState();

        if (loadGuest)
        {
            vm.Firmware()()(vm.Cpus[0]);
        }

        return vm;
    }

    /// <summary>
    /// A virtio-9p device per shared folder, after the disks, each with its server on a
    /// shared-folder actor (SharedFolders/). Every share's root is opened first, so a bad path is
    /// a clear error before anything runs; the disks opened before are closed then.
    /// </summary>
    private static List<P9Server> AddSharedFolders(PcConfig config, List<BlockImage> images,
        Action<string, Func<MachineServices, IInterruptLine, VirtioMmioTransport>, Func<VirtioMmioTransport, bool>> add)
    {
        var servers = new List<P9Server>();
        try
        {
            if (images.Count + config.SharedFolders.Count > MaxVirtioDevices)
            {
                throw new DeviceOptionException(
                    $"at most {MaxVirtioDevices} virtio devices in all (disks, shared folders, network interfaces: IOAPIC pins 16-23); {images.Count} disks and {config.SharedFolders.Count} shared folders are too many");
            }

            foreach (var share in config.SharedFolders)
            {
                servers.Add(new P9Server(share.Path, share.ReadOnly, share.Limits, share.Confinement));
            }
        }
        catch
        {
            servers.ForEach(s => s.Dispose());
            images.ForEach(i => i.Dispose());
            throw;
        }

        for (int i = 0; i < servers.Count; i++)
        {
            int n = i;
            string name = $"virtio-9p{n}";
            Virtio9p? device = null;
            add(name, (s, line) =>
            {
                var backend = s.Spawn(SharedFolderActor.Props(servers[n], e => s.Fail($"shared folder {config.SharedFolders[n].Path} failed", e)), $"share{n}");
                device = new Virtio9p(new SharedFolderClient(backend, () => s.Self), config.SharedFolders[n].MountTag)
                {
                    Trace = new DeviceTrace(name, s.MachineId),
                };
                return new VirtioMmioTransport(device, new GuestRamAccess(s.Memory, s.DeviceWroteRam), line, name);
            },
            _ => device!.InFlight > 0);
        }

        return servers;
    }

    /// <summary>fw_cfg's items: the standard keys and "etc/e820" (the memory map, 20-byte entries as QEMU's).</summary>
    private static FwCfgItems FirmwareConfig(PcConfig config)
    {
        var items = FwCfgItems.Standard(config.MemoryBytes, config.Cpus, config.CommandLine);
        var e820 = E820.ForRam(Math.Max(config.MemoryBytes, E820.MinimumRam));
        var table = new byte[e820.Count * E820Entry.EncodedSize];
        for (int i = 0; i < e820.Count; i++)
        {
            var entry = table.AsSpan(i * E820Entry.EncodedSize);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(entry, e820[i].Address);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], e820[i].Size);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], (uint)e820[i].Type);
        }

        items.AddFile("etc/e820", table);
        return items;
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
