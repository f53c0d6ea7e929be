using Emulator.Machine.Block;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Emulator.Machine.Telemetry;
using Emulator.Service.V1;
using Grpc.Core;

namespace Emulator.Service.Machines;

/// <summary>
/// The snapshot calls. Snapshot files live in the node's snapshot directory as ID.emusnap (ids are
/// checked, so no request names a path), disk overlays in its layers/ subdirectory. The catalogue
/// is the directory itself: listing reads each file's header and machine section.
/// </summary>
public sealed partial class MachineService
{
    private const string SnapshotExtension = ".emusnap";

    /// <summary>Held while layer files are made or collected (snapshot, restore, deletes), so collection never races a new overlay.</summary>
    private readonly SemaphoreSlim layersGate = new(1, 1);

    private string SnapshotDirectory => Directory.CreateDirectory(options.SnapshotDirectory).FullName;

    /// <summary>The node's snapshot and layer quota, measured from what the directory holds when the service starts.</summary>
    private DiskQuota Quota => quota.Value;

    private readonly Lazy<DiskQuota> quota = new(() => new DiskQuota(Directory.CreateDirectory(options.SnapshotDirectory).FullName, options.SnapshotQuotaBytes));

    /// <summary>
    /// Where this node makes disk overlays: layers/ of the snapshot directory, or on a cluster
    /// layers/NODE, because the nodes may share the snapshot directory (RATIONALE.md in
    /// Emulator.Cluster, "Node failure") and each collects only the overlays it made.
    /// </summary>
    private string LayerDirectory => Directory.CreateDirectory(Cluster is null ? LayerRoot : Path.Combine(LayerRoot, options.NodeName)).FullName;

    /// <summary>layers/ of the snapshot directory: every node's overlays (a restored snapshot's disks may stand on another node's).</summary>
    private string LayerRoot => Path.Combine(options.SnapshotDirectory, "layers");

    /// <summary>Beside a snapshot file: the name of the node that took it (several nodes may share the directory).</summary>
    private const string SnapshotNodeExtension = ".node";

    public override Task<Snapshot> CreateSnapshot(CreateSnapshotRequest request, ServerCallContext context) =>
        Routed("CreateSnapshot", request.MachineId, context, (c, o) => c.CreateSnapshotAsync(request, o), () => CreateSnapshot(request, context.CancellationToken));

    public override Task<Service.V1.Machine> RestoreSnapshot(RestoreSnapshotRequest request, ServerCallContext context) =>
        Traced("RestoreSnapshot", request.MachineId, () => TakeOverRestore(request, context) ?? WithIdHeld(request.MachineId, "machine_id", context.CancellationToken, () => RestoreSnapshot(request, context.CancellationToken)));

    public override Task<ListSnapshotsResponse> ListSnapshots(ListSnapshotsRequest request, ServerCallContext context) =>
        Task.FromResult(ListSnapshots(request));

    public override Task<DeleteSnapshotResponse> DeleteSnapshot(SnapshotRef request, ServerCallContext context) =>
        Traced("DeleteSnapshot", "", () => DeleteSnapshot(request));

    private string SnapshotPath(string id) => Path.Combine(SnapshotDirectory, id + SnapshotExtension);

    private async Task<Snapshot> CreateSnapshot(CreateSnapshotRequest r, CancellationToken cancel)
    {
        var m = Find(r.MachineId);
        string id = ChooseId(r.SnapshotId, m.Id, "snapshot_id", s => File.Exists(SnapshotPath(s)));
        await layersGate.WaitAsync(cancel).ConfigureAwait(false);
        await m.Gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            string path = SnapshotPath(id);
            if (File.Exists(path))
            {
                throw Failure(StatusCode.AlreadyExists, $"snapshot '{id}' exists");
            }

            if (Quota.FreeBytes == 0)
            {
                throw Failure(StatusCode.ResourceExhausted, $"the snapshot quota of this node ({Quota.LimitBytes >> 20} MiB) is used up");
            }

            SnapshotReport report;
            try
            {
                report = await MachineSnapshot.SaveAsync(m.Vm, path, new SnapshotOptions { LayerDirectory = LayerDirectory, MachineId = m.Id }, cancel).ConfigureAwait(false);
                long size = HostFiles.AllocatedBytes(path);
                if (!Quota.TryTake(size))
                {
                    throw Failure(StatusCode.ResourceExhausted,
                        $"the snapshot takes {size >> 20} MiB and this node's snapshot quota has {Quota.FreeBytes >> 20} of {Quota.LimitBytes >> 20} MiB left; it was not kept");
                }

                // The deadline or the client may be gone by now: then no snapshot file is kept.
                await BeforeCommit("CreateSnapshot", cancel).ConfigureAwait(false);
                cancel.ThrowIfCancellationRequested();
            }
            catch (Exception e)
            {
                // No file of a call that did not succeed stays (none was there: checked above, under the gates).
                File.Delete(path);
                Quota.Remeasure();
                throw e switch
                {
                    MachineStateException => Failure(StatusCode.FailedPrecondition, $"machine '{m.Id}' is {m.State}: {e.Message}"),
                    IOException or UnauthorizedAccessException or TimeoutException or BlockImageException or InvalidOperationException =>
                        Failure(StatusCode.Internal, $"snapshot of '{m.Id}' failed: {e.Message}"),
                    _ => e,
                };
            }

            try
            {
                await File.WriteAllTextAsync(Path.Combine(SnapshotDirectory, id + SnapshotNodeExtension), options.NodeName, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log($"snapshot {id}: the name of the node that took it could not be written beside it ({e.Message}); it is listed as this node's");
            }

            Catalogue?.Record(new Emulator.Cluster.Catalogue.MachineSnapshotTaken(m.Id, id, options.NodeName));
            m.Publish(m.State, $"snapshot {id} taken");
            await CatalogueSyncAsync().ConfigureAwait(false);
            var summary = MachineSnapshot.Describe(path);
            var snapshot = Describe(id, summary);
            snapshot.DurationNanos = report.Total.Ticks * 100;
            snapshot.DowntimeNanos = report.Downtime.Ticks * 100;
            snapshot.MemoryPages = (ulong)report.RamPages;
            snapshot.MemoryPagesSaved = (ulong)report.NonZeroPages;
            return snapshot;
        }
        finally
        {
            m.Gate.Release();
            layersGate.Release();
        }
    }

    /// <summary>Restores a snapshot as machine r.MachineId; <paramref name="spec"/>, when given, is the spec it is listed with (the catalogue's), else its config's.</summary>
    private async Task<Service.V1.Machine> RestoreSnapshot(RestoreSnapshotRequest r, CancellationToken cancel, CreateMachineRequest? spec = null)
    {
        string path = ExistingSnapshot(r.SnapshotId);
        SnapshotSummary summary;
        try
        {
            summary = MachineSnapshot.Describe(path);
        }
        catch (SnapshotFormatException e)
        {
            throw Failure(StatusCode.DataLoss, e.Message);
        }

        // The per-machine caps CreateMachine applies, from the first section alone: nothing else of
        // the file is read, and nothing is made, for a machine this node would not create.
        var asked = summary.Machine;
        ulong askedMib = asked.MemoryBytes / (1UL << 20) + (asked.MemoryBytes % (1UL << 20) == 0 ? 0UL : 1UL);
        if (asked.Cpus > options.MaxVcpusPerMachine || askedMib > options.MaxMemoryMibPerMachine)
        {
            throw Failure(StatusCode.ResourceExhausted,
                $"snapshot '{r.SnapshotId}' is of a machine with {asked.Cpus} vCPUs and {askedMib} MiB; this node allows a machine at most {options.MaxVcpusPerMachine} vCPUs and {options.MaxMemoryMibPerMachine} MiB");
        }

        string id = ChooseId(r.MachineId, "vm", "machine_id", machines.ContainsKey);
        await layersGate.WaitAsync(cancel).ConfigureAwait(false);
        await createGate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            ulong memoryMib = summary.Machine.MemoryBytes >> 20;
            Admit(id, (uint)summary.Machine.Cpus, memoryMib);
            var line = new SerialLine();
            VirtualMachine vm;
            try
            {
                vm = await MachineSnapshot.RestoreAsync(path, RestoreOptions(id), line.Output, cancel).ConfigureAwait(false);
                try
                {
                    // The deadline or the client may be gone by now: then nothing of the machine is kept.
                    await BeforeCommit("RestoreSnapshot", cancel).ConfigureAwait(false);
                    cancel.ThrowIfCancellationRequested();
                }
                catch
                {
                    await vm.DisposeAsync().ConfigureAwait(false);
                    CollectLayers(); // its new overlays
                    throw;
                }

                vm.StartPaused();
            }
            catch (Exception e)
            {
                line.Dispose();
                throw RestoreFailure(e, $"restoring '{r.SnapshotId}'");
            }

            var hosted = Register(id, spec ?? SpecOf(id, vm.Config!), vm, line);
            hosted.Publish(Service.V1.MachineState.Paused, $"restored from snapshot {r.SnapshotId}");
            await CatalogueSyncAsync().ConfigureAwait(false);
            return hosted.Describe(options.NodeName);
        }
        finally
        {
            createGate.Release();
            layersGate.Release();
        }
    }

    /// <summary>How this node builds a machine from a snapshot or a migration: its directories, caps, tier and quota.</summary>
    private SnapshotOptions RestoreOptions(string id) => new()
    {
        LayerDirectory = LayerDirectory,
        MachineId = id,
        AllowedDirectories = allowedDirectories,
        MaxCpus = options.MaxVcpusPerMachine,
        MaxMemoryBytes = options.MaxMemoryMibPerMachine > ulong.MaxValue >> 20 ? ulong.MaxValue : options.MaxMemoryMibPerMachine << 20,
        Tier1 = options.Tier1,
        Quota = Quota,
        BootFiles = ReadBootFilesAgain,
    };

    /// <summary>The status for a restore (or a received migration) that failed: <paramref name="doing"/> says which.</summary>
    private static Exception RestoreFailure(Exception e, string doing) => e switch
    {
        SnapshotFormatException => Failure(StatusCode.DataLoss, e.Message),
        SnapshotTooLargeException => Failure(StatusCode.ResourceExhausted, e.Message),
        BackingFileRefusedException => Failure(StatusCode.PermissionDenied, e.Message),
        Emulator.Machine.Net.NetworkBackendException => Failure(StatusCode.FailedPrecondition, $"{doing}: {e.Message}"),
        IOException or UnauthorizedAccessException => Failure(StatusCode.Internal, $"{doing} failed: {e.Message}"),
        _ => e,
    };

    /// <summary>
    /// The spec a machine built from saved state is listed with (GetMachine) and recorded with in
    /// the catalogue (StartMachine boots it from this after a restart): what its config says.
    /// </summary>
    private static CreateMachineRequest SpecOf(string id, PcConfig config) => new()
    {
        Id = id,
        Vcpus = (uint)config.Cpus,
        MemoryMib = config.MemoryBytes >> 20,
        Kernel = config.KernelName,
        Initrd = Path.IsPathRooted(config.InitrdName) ? config.InitrdName : "", // a machine without one names it "initrd"
        CommandLine = config.CommandLine,
        NoReboot = config.NoReboot,
        Disks = { config.Disks.Select(d => new Disk { Path = d.Path, ReadOnly = d.ReadOnly, Format = d.Format.Name() }) },
        SharedFolders = { config.SharedFolders.Select(f => new SharedFolder { Path = f.Path, MountTag = f.MountTag, ReadOnly = f.ReadOnly }) },
        NetworkInterfaces = { config.NetworkInterfaces.Select((n, i) => new NetworkInterface { Tap = n.Tap, Mac = n.MacFor(i).ToString() }) },
    };

    /// <summary>
    /// A restored machine's reset reads its kernel and initrd again by the paths the snapshot
    /// recorded, under the same confinement as CreateMachine (a refusal is why the reset fails).
    /// </summary>
    private (byte[] Kernel, byte[]? Initrd) ReadBootFilesAgain(PcConfig config)
    {
        try
        {
            byte[] kernel = ReadAllowedFile(config.KernelName, "kernel").Bytes!;
            byte[]? initrd = Path.IsPathRooted(config.InitrdName) ? ReadAllowedFile(config.InitrdName, "initrd").Bytes : null;
            return (kernel, initrd);
        }
        catch (RpcException e)
        {
            throw new InvalidOperationException(e.Status.Detail, e);
        }
    }

    private ListSnapshotsResponse ListSnapshots(ListSnapshotsRequest r)
    {
        var list = new List<(DateTimeOffset Created, Snapshot Snapshot)>();
        foreach (string path in Directory.EnumerateFiles(SnapshotDirectory, "*" + SnapshotExtension))
        {
            try
            {
                var summary = MachineSnapshot.Describe(path);
                if (string.IsNullOrEmpty(r.MachineId) || summary.Machine.SourceMachine == r.MachineId)
                {
                    list.Add((summary.Created, Describe(Path.GetFileNameWithoutExtension(path), summary)));
                }
            }
            catch (Exception e) when (e is SnapshotFormatException or IOException)
            {
                // Not a snapshot we can describe (a foreign or damaged file): not listed. Restore says why.
            }
        }

        return new ListSnapshotsResponse { Snapshots = { list.OrderByDescending(s => s.Created).Select(s => s.Snapshot) } };
    }

    private async Task<DeleteSnapshotResponse> DeleteSnapshot(SnapshotRef r)
    {
        await layersGate.WaitAsync().ConfigureAwait(false);
        try
        {
            File.Delete(ExistingSnapshot(r.Id));
            File.Delete(Path.Combine(SnapshotDirectory, r.Id + SnapshotNodeExtension));
            CollectLayers();
        }
        finally
        {
            layersGate.Release();
        }

        return new DeleteSnapshotResponse();
    }

    /// <summary>Deletes the machine's own overlays that no snapshot needs (after DeleteMachine).</summary>
    private async Task CollectLayersAsync()
    {
        await layersGate.WaitAsync().ConfigureAwait(false);
        try
        {
            CollectLayers();
        }
        finally
        {
            layersGate.Release();
        }
    }

    /// <summary>
    /// Deletes overlay files in layers/ that neither a machine of this node nor a snapshot uses (a
    /// snapshot uses its frozen disks and everything below them). A file in the catalogue that is
    /// not a readable snapshot cannot be restored (RestoreSnapshot answers DATA_LOSS), so it keeps
    /// nothing alive; but if a snapshot's disk chain cannot be opened, nothing is deleted.
    /// </summary>
    private void CollectLayers()
    {
        if (!Directory.Exists(LayerRoot))
        {
            return;
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in machines.Values.Where(m => m.HasVm))
        {
            foreach (var disk in m.Vm.Disks)
            {
                used.UnionWith(disk.Layers);
            }
        }

        foreach (string path in Directory.EnumerateFiles(SnapshotDirectory, "*" + SnapshotExtension))
        {
            IReadOnlyList<SnapshotDisk> disks;
            try
            {
                disks = MachineSnapshot.Describe(path).Machine.Disks;
            }
            catch (Exception e) when (e is SnapshotFormatException or IOException)
            {
                continue;
            }

            try
            {
                var policy = LayerPolicy;
                foreach (var disk in disks)
                {
                    policy.Check(path, disk.Path);
                    using var image = BlockImage.Open(disk.Path, disk.Format, policy, readOnly: true);
                    used.UnionWith(image.Layers);
                }
            }
            catch (Exception e) when (e is BlockImageException or IOException)
            {
                return;
            }
        }

        foreach (string layer in Directory.EnumerateFiles(LayerDirectory, "*.cow"))
        {
            if (!used.Contains(layer))
            {
                File.Delete(layer);
            }
        }

        Quota.Remeasure();
    }

    private string ExistingSnapshot(string id)
    {
        if (string.IsNullOrEmpty(id))
        {
            throw Failure(StatusCode.InvalidArgument, "a snapshot id is required");
        }

        CheckId(id, "snapshot id");
        string path = SnapshotPath(id);
        return File.Exists(path) ? path : throw Failure(StatusCode.NotFound, $"no snapshot '{id}'");
    }

    /// <summary>The node that took a snapshot, as written beside it; this node for one without (taken before nodes shared directories).</summary>
    private string TakenBy(string id)
    {
        try
        {
            string name = File.ReadAllText(Path.Combine(SnapshotDirectory, id + SnapshotNodeExtension)).Trim();
            return name.Length is > 0 and <= 64 ? name : options.NodeName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return options.NodeName;
        }
    }

    private Snapshot Describe(string id, SnapshotSummary s) => new()
    {
        Id = id,
        MachineId = s.Machine.SourceMachine,
        CreatedUnixNanos = (s.Created - DateTimeOffset.UnixEpoch).Ticks * 100,
        SizeBytes = (ulong)s.FileBytes,
        Node = TakenBy(id),
        Vcpus = (uint)s.Machine.Cpus,
        MemoryMib = s.Machine.MemoryBytes >> 20,
    };
}
