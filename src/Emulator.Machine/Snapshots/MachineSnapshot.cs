using System.Diagnostics;
using Emulator.Devices.State;
using Emulator.Machine.Block;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.X86.State;

namespace Emulator.Machine.Snapshots;

/// <summary>Where a snapshot's disk layers go, and what the machine is called.</summary>
public sealed record SnapshotOptions
{
    /// <summary>The directory for copy-on-write overlays (the live machine's after a snapshot, a restored machine's).</summary>
    public required string LayerDirectory { get; init; }

    /// <summary>The machine's id, recorded in the snapshot and used in overlay file names.</summary>
    public string MachineId { get; init; } = "machine";

    /// <summary>Tier 1 for the restored machine (not part of the snapshot: compiled code is made again); null: the interpreter alone.</summary>
    public Emulator.Execution.Tiering.Tier1Options? Tier1 { get; init; }

    /// <summary>
    /// Directories besides <see cref="LayerDirectory"/> where a restored snapshot's disks and the
    /// backing files of their overlays may lie (a server passes the directories its requests may
    /// name): the snapshot file and the overlays' headers name paths, and none outside is opened.
    /// </summary>
    public IReadOnlyList<string> AllowedDirectories { get; init; } = [];

    /// <summary>
    /// How a restored machine's reset reads its kernel and initrd again (a snapshot holds neither;
    /// it records their names): see <see cref="PcConfig.BootFiles"/>. Null: a restored machine cannot be reset.
    /// </summary>
    public Func<PcConfig, (byte[] Kernel, byte[]? Initrd)>? BootFiles { get; init; }

    /// <summary>The most vCPUs a restored machine may have (a server passes its per-machine cap).</summary>
    public int MaxCpus { get; init; } = PcMachine.MaxCpus;

    /// <summary>The most guest RAM a restored machine may have, in bytes (a server passes its per-machine cap).</summary>
    public ulong MaxMemoryBytes { get; init; } = PcMachine.MaxMemory;

    /// <summary>The quota a restored machine's overlays take their clusters from (a server's), or none.</summary>
    public Emulator.Machine.Block.DiskQuota? Quota { get; init; }

    /// <summary>
    /// Live migration's part (Migration/LiveMigration.cs): a save writes RAM as all zero pages,
    /// because the migration stream carries the pages, and a restore then fills RAM with this
    /// (the pages the stream delivered) instead. Null for an ordinary snapshot.
    /// </summary>
    public Action<Emulator.X86.Memory.GuestMemory>? RamElsewhere { get; init; }

    /// <summary>
    /// Live migration's part: disk layers the stream brought, by the path the snapshot names to the
    /// file here (Migration/DiskLayers.cs). Null for an ordinary snapshot.
    /// </summary>
    public IReadOnlyDictionary<string, string>? MovedDisks { get; init; }

    /// <summary>What a restore may open: the layer directory and <see cref="AllowedDirectories"/>.</summary>
    public BackingPolicy Backing => BackingPolicy.Within([LayerDirectory, .. AllowedDirectories]);
}

/// <summary>What taking a snapshot did and cost.</summary>
public sealed record SnapshotReport(
    string Path,
    long FileBytes,
    TimeSpan Downtime,
    TimeSpan Total,
    long RamPages,
    long NonZeroPages,
    long RamEncodedBytes,
    IReadOnlyList<string> FrozenDisks);

/// <summary>A snapshot file as listings show it (read without verifying the whole file).</summary>
public sealed record SnapshotSummary(string Path, DateTimeOffset Created, long FileBytes, SnapshotMachineSection Machine);

/// <summary>
/// Snapshots of PC machines (see RATIONALE.md). Taking one: pause every vCPU at an instruction
/// boundary and stop the clock, let the devices finish what is under way, capture CPU, device and
/// clock state, compress RAM, freeze each writable disk under a new copy-on-write overlay, resume
/// (if it was running), then write the file beside its final name and rename it into place.
/// Restoring: verify the whole file, build the same machine without loading a guest, put RAM and
/// state in; the new machine is paused-before-start (Created) and continues exactly where the
/// original was when started.
/// </summary>
public static class MachineSnapshot
{
    private static readonly TimeSpan FreezeTimeout = TimeSpan.FromSeconds(60);

    public static async Task<SnapshotReport> SaveAsync(VirtualMachine vm, string path, SnapshotOptions options, CancellationToken cancel = default)
    {
        using var noReset = await vm.HoldResetsAsync(cancel).ConfigureAwait(false);
        return await SaveHoldingResetsAsync(vm, path, options, cancel).ConfigureAwait(false);
    }

    /// <summary><see cref="SaveAsync"/> for a caller that already holds the machine's resets (a live migration).</summary>
    internal static async Task<SnapshotReport> SaveHoldingResetsAsync(VirtualMachine vm, string path, SnapshotOptions options, CancellationToken cancel)
    {
        var config = vm.Config ?? throw new InvalidOperationException("only PC machines can be snapshotted");
        var total = Stopwatch.StartNew();
        var state = vm.State;
        if (state is not (MachineState.Running or MachineState.Paused))
        {
            throw new MachineStateException("snapshot", state);
        }

        bool resume = state == MachineState.Running;
        if (resume)
        {
            vm.Pause();
        }

        var downtime = Stopwatch.StartNew();
        MachineSavedState saved;
        List<byte[]> ram;
        RamImage.Figures figures;
        var disks = new List<SnapshotDisk>();
        try
        {
            await vm.QuiesceAsync(cancel).ConfigureAwait(false);
            saved = await vm.CaptureAsync(cancel).ConfigureAwait(false);
            (ram, figures) = options.RamElsewhere is null ? RamImage.Encode(vm.Memory) : RamImage.EncodeZero(vm.Memory.Size);
            for (int i = 0; i < vm.Disks.Count; i++)
            {
                var disk = config.Disks[i];
                var format = vm.Disks[i].TopFormat; // of the layer the freeze below makes read-only
                string frozen = disk.ReadOnly
                    ? disk.Path
                    : await vm.Disks[i].FreezeAsync(OverlayPath(options, i), FreezeTimeout).ConfigureAwait(false);
                var info = new FileInfo(frozen);
                disks.Add(new SnapshotDisk
                {
                    Path = frozen,
                    Format = format,
                    ReadOnly = disk.ReadOnly,
                    Cache = disk.Cache,
                    FileSize = info.Length,
                    LastWriteUtcTicks = info.LastWriteTimeUtc.Ticks,
                });
            }
        }
        finally
        {
            downtime.Stop();
            if (resume && vm.State == MachineState.Paused)
            {
                vm.Resume();
            }
        }

        var machine = new SnapshotMachineSection
        {
            SourceMachine = options.MachineId,
            MemoryBytes = config.MemoryBytes,
            Cpus = config.Cpus,
            CommandLine = config.CommandLine,
            KernelName = config.KernelName,
            InitrdName = config.InitrdName,
            NoReboot = config.NoReboot,
            Disks = disks,
            NetworkInterfaces = [.. config.NetworkInterfaces.Select((n, i) => new SnapshotNetworkInterface { Tap = n.Tap, Mac = n.MacFor(i).ToString() })],
            SharedFolders = [.. config.SharedFolders.Select(f => new SnapshotSharedFolder { Path = f.Path, MountTag = f.MountTag, ReadOnly = f.ReadOnly })],
        };
        long length = Write(path, machine, new SnapshotClockSection { NowNanoseconds = saved.ClockNanoseconds, TscHz = vm.Clock.TscHz }, saved, ram);
        return new SnapshotReport(path, length, downtime.Elapsed, total.Elapsed, figures.TotalPages, figures.NonZeroPages, figures.EncodedBytes, disks.Select(d => d.Path).ToList());
    }

    /// <summary>
    /// Builds a new machine from a snapshot, not started. Its serial output goes to
    /// <paramref name="serialOutput"/>; its writable disks get new overlays in the layer directory.
    /// Throws <see cref="SnapshotTooLargeException"/> for a machine with more vCPUs or RAM than
    /// <paramref name="options"/> allow (read from the first section, before the rest of the file
    /// is read or anything is built), <see cref="SnapshotFormatException"/> for a file that is
    /// damaged, foreign, describes a state no machine can be in, or refers to disks that changed
    /// since, and <see cref="BackingFileRefusedException"/> when the snapshot or an overlay under it
    /// names a disk layer outside the layer directory and <see cref="SnapshotOptions.AllowedDirectories"/>.
    /// </summary>
    public static async Task<VirtualMachine> RestoreAsync(string path, SnapshotOptions options, Action<ReadOnlySpan<byte>> serialOutput, CancellationToken cancel = default)
    {
        // Cheap first: the machine section alone says how much the restore would make, before the
        // whole file is read. (A file whose first section cannot be read is refused by Open, with why.)
        if (TryDescribe(path) is { } summary)
        {
            CheckLimits(path, summary.Machine, options);
        }

        using var reader = SnapshotReader.Open(path);
        var machineSection = reader.Get(Sections.Machine);
        var machine = ((SnapshotMachineSection)Sections.Decode(reader, machineSection, typeof(SnapshotMachineSection), SnapshotMachineSection.CurrentVersion))
            .AsOfVersion(machineSection.Version);
        CheckLimits(path, machine, options); // the verified file's, in case it changed since
        var clock = (SnapshotClockSection)Sections.Decode(reader, reader.Get(Sections.Clock), typeof(SnapshotClockSection), SnapshotClockSection.CurrentVersion);
        if (machine.Cpus < 1 || machine.MemoryBytes == 0 || machine.Disks.Count > PcMachine.MaxDisks
            || machine.Disks.Count + machine.SharedFolders.Count > PcMachine.MaxVirtioDevices)
        {
            throw reader.Fail($"the machine section describes a machine this build cannot make ({machine.Cpus} vCPUs, {machine.MemoryBytes >> 20} MiB, {machine.Disks.Count} disks, {machine.SharedFolders.Count} shared folders)");
        }

        var overlays = new List<string>();
        VirtualMachine? vm = null;
        var backing = options.Backing;
        try
        {
            var disks = new List<DiskConfig>();
            for (int i = 0; i < machine.Disks.Count; i++)
            {
                var disk = machine.Disks[i];
                string diskPath = options.MovedDisks?.GetValueOrDefault(disk.Path) ?? disk.Path;
                // The snapshot names the path; like an overlay's backing path, it is checked before it is touched.
                backing.Check(path, diskPath);
                var info = new FileInfo(diskPath);
                if (!info.Exists)
                {
                    throw reader.Fail($"disk {i}: {disk.Path} is missing");
                }

                if (info.Length != disk.FileSize || info.LastWriteTimeUtc.Ticks != disk.LastWriteUtcTicks)
                {
                    throw reader.Fail($"disk {i}: {disk.Path} changed since the snapshot was taken");
                }

                string top = diskPath;
                var format = disk.Format;
                if (!disk.ReadOnly)
                {
                    top = OverlayPath(options, i);
                    try
                    {
                        BlockImage.CreateOverlay(top, diskPath, disk.Format, backing);
                    }
                    catch (BlockImageException e) when (e is not BackingFileRefusedException)
                    {
                        throw reader.Fail($"disk {i}: {e.Message}", e);
                    }

                    overlays.Add(top);
                    format = BlockFormat.EmuCow;
                }

                disks.Add(new DiskConfig(top, disk.ReadOnly, disk.Cache, format) { Backing = backing, Confinement = backing, Quota = options.Quota });
            }

            var shares = RestoredShares(path, reader, machine, backing);
            try
            {
                vm = PcMachine.Build(new PcConfig
                {
                    Kernel = [],
                    KernelName = machine.KernelName,
                    InitrdName = machine.InitrdName,
                    CommandLine = machine.CommandLine,
                    MemoryBytes = machine.MemoryBytes,
                    Cpus = machine.Cpus,
                    SerialOutput = serialOutput,
                    NoReboot = machine.NoReboot,
                    Disks = disks,
                    NetworkInterfaces = [.. machine.NetworkInterfaces.Select((n, i) => new Net.NetworkInterfaceConfig(n.Tap,
                        Emulator.Devices.VirtioNet.MacAddress.TryParse(n.Mac, out var mac, out string? error) ? mac : throw reader.Fail($"network interface {i}: {error}")))],
                    SharedFolders = shares,
                    Tier1 = options.Tier1,
                    BootFiles = options.BootFiles,
                }, loadGuest: false);
            }
            catch (BlockImageException e) when (e is not BackingFileRefusedException)
            {
                throw reader.Fail($"a disk of the snapshot cannot be opened: {e.Message}", e);
            }

            if (clock.TscHz != vm.Clock.TscHz)
            {
                throw reader.Fail($"the guest was told a {clock.TscHz} Hz TSC; this build gives {vm.Clock.TscHz} Hz");
            }

            var cpus = new List<CpuSavedState>();
            for (int i = 0; i < machine.Cpus; i++)
            {
                cpus.Add((CpuSavedState)Sections.Decode(reader, reader.Get(Sections.CpuPrefix + i), typeof(CpuSavedState), CpuSavedState.CurrentVersion));
            }

            // Device sections are read here and checked, field by field, by each device's state
            // description when the machine restores them (below), before any is applied.
            var persistences = vm.Persistence;
            var devices = new List<DeviceSavedState>();
            foreach (var section in reader.Sections.Where(s => s.Name.StartsWith(Sections.DevicePrefix, StringComparison.Ordinal)))
            {
                string name = section.Name[Sections.DevicePrefix.Length..];
                if (!persistences.ContainsKey(name))
                {
                    throw reader.Fail($"the snapshot has a device '{name}' this machine does not have");
                }

                devices.Add(new DeviceSavedState(name, section.Version, reader.ReadAll(section)));
            }

            using (var ram = reader.OpenSection(reader.Get(Sections.Ram)))
            {
                RamImage.Decode(ram, vm.Memory, reason => reader.Fail(reason));
            }

            options.RamElsewhere?.Invoke(vm.Memory);

            try
            {
                await vm.RestoreAsync(new MachineSavedState(clock.NowNanoseconds, cpus, devices), cancel).ConfigureAwait(false);
            }
            catch (ArgumentException e)
            {
                throw reader.Fail($"the saved state does not fit: {e.Message}", e);
            }
            catch (DeviceStateException e)
            {
                throw reader.Fail($"device state refused: {e.Message}", e);
            }

            return vm;
        }
        catch
        {
            if (vm is not null)
            {
                await vm.DisposeAsync().ConfigureAwait(false);
            }

            overlays.ForEach(File.Delete);
            throw;
        }
    }

    /// <summary>
    /// The shared folders of a snapshot, each checked like a disk before it is touched (its path
    /// under <paramref name="backing"/>'s directories, then again on the directory opened) and
    /// required to exist; a valid tag. Their fids come back with the virtio-9p devices' state.
    /// </summary>
    private static List<Emulator.Machine.SharedFolders.SharedFolderConfig> RestoredShares(string path, SnapshotReader reader, SnapshotMachineSection machine, BackingPolicy backing)
    {
        var shares = new List<Emulator.Machine.SharedFolders.SharedFolderConfig>();
        for (int i = 0; i < machine.SharedFolders.Count; i++)
        {
            var share = machine.SharedFolders[i];
            if (share?.Path is not { Length: > 0 } folder || share.MountTag is not { } tag)
            {
                throw reader.Fail($"shared folder {i} has no path or tag");
            }

            if (Emulator.Machine.SharedFolders.SharedFolderConfig.CheckTag(tag) is { } bad)
            {
                throw reader.Fail($"shared folder {i}: {bad}");
            }

            if (!Directory.Exists(folder))
            {
                throw reader.Fail($"shared folder {i}: {folder} is missing");
            }

            // Checked as a disk is, by its real path before it is opened (and again on the directory opened).
            if (!backing.AllowsDirectory(BackingPolicy.RealDirectory(folder)))
            {
                throw new BackingFileRefusedException(path, folder);
            }

            shares.Add(new Emulator.Machine.SharedFolders.SharedFolderConfig(folder, tag, share.ReadOnly) { Confinement = backing });
        }

        return shares;
    }

    /// <summary>Refuses a machine section that asks for more than <paramref name="options"/> allow (<see cref="SnapshotTooLargeException"/>).</summary>
    private static void CheckLimits(string path, SnapshotMachineSection machine, SnapshotOptions options)
    {
        if (machine.Cpus > options.MaxCpus || machine.MemoryBytes > options.MaxMemoryBytes)
        {
            throw new SnapshotTooLargeException(path,
                $"the snapshot's machine has {machine.Cpus} vCPUs and {machine.MemoryBytes >> 20} MiB of RAM; a restored machine may have at most {options.MaxCpus} vCPUs and {options.MaxMemoryBytes >> 20} MiB");
        }
    }

    private static SnapshotSummary? TryDescribe(string path)
    {
        try
        {
            return Describe(path);
        }
        catch (Exception e) when (e is SnapshotFormatException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Reads a snapshot's header and machine section (cheap; the checksum is verified on restore).</summary>
    public static SnapshotSummary Describe(string path)
    {
        var (created, first, payload) = SnapshotReader.ReadFirstSection(path);
        if (first.Name != Sections.Machine || first.Version is < 1 or > SnapshotMachineSection.CurrentVersion)
        {
            throw new SnapshotFormatException(path, $"the first section is '{first.Name}' version {first.Version}, not a machine section this build reads");
        }

        try
        {
            var machine = System.Text.Json.JsonSerializer.Deserialize<SnapshotMachineSection>(payload, Sections.Json)
                ?? throw new SnapshotFormatException(path, "the machine section is empty");
            return new SnapshotSummary(path, created, new FileInfo(path).Length, machine.AsOfVersion(first.Version));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new SnapshotFormatException(path, $"the machine section cannot be read: {e.Message}", e);
        }
    }

    private static string OverlayPath(SnapshotOptions options, int disk) =>
        System.IO.Path.Combine(options.LayerDirectory, $"{options.MachineId}-disk{disk}-{DateTime.UtcNow:yyyyMMddTHHmmssfff}-{Guid.NewGuid().ToString("N")[..6]}.cow");

    private static long Write(string path, SnapshotMachineSection machine, SnapshotClockSection clock, MachineSavedState saved, List<byte[]> ram)
    {
        string partial = path + ".partial";
        try
        {
            long length;
            using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var writer = new SnapshotWriter(file, DateTimeOffset.UtcNow))
            {
                writer.Section(Sections.Machine, SnapshotMachineSection.CurrentVersion, Sections.Encode(machine, typeof(SnapshotMachineSection)));
                writer.Section(Sections.Clock, SnapshotClockSection.CurrentVersion, Sections.Encode(clock, typeof(SnapshotClockSection)));
                for (int i = 0; i < saved.Cpus.Count; i++)
                {
                    writer.Section(Sections.CpuPrefix + i, CpuSavedState.CurrentVersion, Sections.Encode(saved.Cpus[i], typeof(CpuSavedState)));
                }

                foreach (var device in saved.Devices)
                {
                    writer.Section(Sections.DevicePrefix + device.Name, device.Version, device.Payload);
                }

                writer.SectionHeader(Sections.Ram, RamImage.Version, (ulong)ram.Sum(c => (long)c.Length));
                foreach (var chunk in ram)
                {
                    writer.Payload(chunk);
                }

                writer.Finish();
                length = writer.Length;
            }

            File.Move(partial, path, overwrite: false);
            return length;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }
}
