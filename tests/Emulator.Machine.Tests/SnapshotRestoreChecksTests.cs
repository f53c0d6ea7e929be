using System.Text.Json.Nodes;
using Emulator.Machine.Pc;
using Emulator.Machine.Snapshots;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>
/// A snapshot is input: what it asks a restore to make is checked before anything is made, and
/// the device state it holds is checked as strictly as the guest's register writes.
/// </summary>
public sealed class SnapshotRestoreChecksTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("emu-snap-checks-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private SnapshotOptions Options(int maxCpus = PcMachine.MaxCpus) => new() { LayerDirectory = dir, MachineId = "restored", MaxCpus = maxCpus };

    /// <summary>
    /// A snapshot file made by hand: a machine section asking for <paramref name="cpus"/> vCPUs and
    /// <paramref name="memoryBytes"/> of RAM, a clock section, an empty RAM section. With
    /// <paramref name="intact"/> false its checksum trailer is wrong, so reading past the machine
    /// section would refuse it as damaged instead.
    /// </summary>
    private string Crafted(int cpus, ulong memoryBytes, bool intact)
    {
        string path = Path.Combine(dir, $"crafted-{Guid.NewGuid():N}.emusnap");
        using (var file = File.Create(path))
        using (var writer = new SnapshotWriter(file, DateTimeOffset.UtcNow))
        {
            writer.Section("machine", SnapshotMachineSection.CurrentVersion, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new SnapshotMachineSection { Cpus = cpus, MemoryBytes = memoryBytes }));
            writer.Section("clock", SnapshotClockSection.CurrentVersion, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new SnapshotClockSection { TscHz = 1_000_000_000 }));
            writer.Section("ram", 1, []);
            writer.Finish();
        }

        if (!intact)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            file.Seek(-1, SeekOrigin.End);
            int last = file.ReadByte();
            file.Seek(-1, SeekOrigin.End);
            file.WriteByte((byte)(last ^ 0xff));
        }

        return path;
    }

    [Theory]
    [InlineData(100_000, 64UL << 20, PcMachine.MaxCpus, false)]
    [InlineData(100_000, 64UL << 20, PcMachine.MaxCpus, true)]
    [InlineData(1, 1UL << 40, PcMachine.MaxCpus, false)]
    [InlineData(1, 1UL << 40, PcMachine.MaxCpus, true)]
    [InlineData(3, 64UL << 20, 2, true)]
    public async Task AMachineBeyondTheLimitsIsRefusedBeforeAnythingIsMade(int cpus, ulong memoryBytes, int maxCpus, bool intact)
    {
        string path = Crafted(cpus, memoryBytes, intact);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var restore = MachineSnapshot.RestoreAsync(path, Options(maxCpus), _ => { });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Refused as too large even when the rest of the file is damaged: only the first section was read.
        var e = await Assert.ThrowsAsync<SnapshotTooLargeException>(() => restore);
        Assert.Contains($"{cpus} vCPUs", e.Reason);
        Assert.Contains($"at most {maxCpus} vCPUs", e.Reason);
        Assert.True(allocated < 1 << 20, $"refusing the snapshot allocated {allocated} bytes");
        Assert.Empty(Directory.GetFiles(dir, "*.cow"));
    }

    [Fact]
    public async Task AFileOfMoreSectionsThanAnyMachineHasIsRefusedBeforeItsTableGrows()
    {
        string path = Path.Combine(dir, "many.emusnap");
        using (var file = File.Create(path))
        using (var writer = new SnapshotWriter(file, DateTimeOffset.UtcNow))
        {
            writer.Section("machine", SnapshotMachineSection.CurrentVersion, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new SnapshotMachineSection { Cpus = 1, MemoryBytes = 32UL << 20 }));
            writer.Section("clock", SnapshotClockSection.CurrentVersion, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new SnapshotClockSection { TscHz = 1_000_000_000 }));
            for (int i = 0; i < SnapshotFile.MaxSections + 10; i++)
            {
                writer.Section("x", 1, []);
            }

            writer.Finish();
        }

        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(path, Options(), _ => { }));
        Assert.Contains($"more than {SnapshotFile.MaxSections} sections", e.Reason);
    }

    /// <summary>Copies a snapshot section by section into a new file, passing each payload through <paramref name="edit"/>.</summary>
    private static void Rewrite(string from, string to, Func<string, byte[], byte[]> edit) =>
        Rewrite(from, to, (name, version, payload) => (version, edit(name, payload)));

    /// <summary>Copies a snapshot section by section, passing each section's version and payload through <paramref name="edit"/>.</summary>
    private static void Rewrite(string from, string to, Func<string, int, byte[], (int Version, byte[] Payload)> edit)
    {
        using var reader = SnapshotReader.Open(from);
        using var file = File.Create(to);
        using var writer = new SnapshotWriter(file, reader.Created);
        foreach (var section in reader.Sections)
        {
            var (version, payload) = edit(section.Name, section.Version, reader.ReadAll(section));
            writer.Section(section.Name, version, payload);
        }

        writer.Finish();
    }

    /// <summary>A snapshot of a machine with one read-only disk, halted in its guest.</summary>
    private async Task<string> SnapshotOfAMachineWithADisk()
    {
        string disk = Path.Combine(dir, "disk.img");
        await File.WriteAllBytesAsync(disk, new byte[1 << 20]);
        string saved = Path.Combine(dir, "saved.emusnap");
        await using var vm = PcMachine.Build(new PcConfig
        {
            Kernel = TestImages.BzImage([0xf4, 0xeb, 0xfd]), // hlt; jmp back
            MemoryBytes = 32UL << 20,
            Disks = [new DiskConfig(disk, ReadOnly: true)],
        });
        vm.Start();
        await MachineSnapshot.SaveAsync(vm, saved, Options());
        return saved;
    }

    [Fact]
    public async Task ASavedVirtqueueOfSizeZeroIsRefusedAsDamaged()
    {
        string saved = await SnapshotOfAMachineWithADisk();

        string crafted = Path.Combine(dir, "crafted.emusnap");
        Rewrite(saved, crafted, (name, payload) =>
        {
            if (name != "device/virtio-blk0")
            {
                return payload;
            }

            var state = JsonNode.Parse(payload)!;
            state["Queues"]![0]!["Size"] = 0;
            return System.Text.Encoding.UTF8.GetBytes(state.ToJsonString());
        });

        // The untouched copy restores; the one with a queue of size 0 is refused with the reason.
        await using (var restored = await MachineSnapshot.RestoreAsync(saved, Options(), _ => { }))
        {
        }

        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(crafted, Options(), _ => { }));
        Assert.Contains("virtio-blk0: Queues[0].Size = 0 is refused: must be a power of 2 from 1 to", e.Reason);
    }

    /// <summary>
    /// A snapshot from before fw_cfg existed (no section for it) restores, fw_cfg as built; a
    /// snapshot without another device's section is refused.
    /// </summary>
    [Fact]
    public async Task ASnapshotWithoutTheFwCfgSectionRestoresWithoutAnotherDevicesItIsRefused()
    {
        string saved = await SnapshotOfAMachineWithADisk();
        foreach (var (dropped, restores) in new[] { ("device/fw_cfg", true), ("device/pit", false) })
        {
            string older = Path.Combine(dir, "older.emusnap");
            using (var reader = SnapshotReader.Open(saved))
            using (var file = File.Create(older))
            using (var writer = new SnapshotWriter(file, reader.Created))
            {
                foreach (var section in reader.Sections.Where(s => s.Name != dropped))
                {
                    using var payload = reader.OpenSection(section);
                    using var copy = new MemoryStream();
                    payload.CopyTo(copy);
                    writer.Section(section.Name, section.Version, copy.ToArray());
                }

                writer.Finish();
            }

            if (restores)
            {
                await using var vm = await MachineSnapshot.RestoreAsync(older, Options(), _ => { });
            }
            else
            {
                var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(older, Options(), _ => { }));
                Assert.Contains("pit", e.Reason);
            }

            File.Delete(older);
        }
    }

    /// <summary>A device section far larger than any device's state is refused before a buffer of its size is allocated.</summary>
    [Fact]
    public async Task AHugeDeviceSectionIsRefusedBeforeItIsRead()
    {
        string saved = await SnapshotOfAMachineWithADisk();
        string crafted = Path.Combine(dir, "huge.emusnap");
        Rewrite(saved, crafted, (name, payload) => name == "device/virtio-blk0" ? new byte[SnapshotReader.MaxSmallSection + 1] : payload);

        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(crafted, Options(), _ => { }));
        Assert.Contains($"section 'device/virtio-blk0' holds {SnapshotReader.MaxSmallSection + 1} bytes", e.Reason);
    }

    /// <summary>
    /// Device sections as the build before the state descriptions wrote them: each payload with its
    /// version inside, and virtio-mmio at version 1, without the device's own state (added in 2).
    /// Such a file restores; a version 1 virtio-mmio section that has the newer field is refused.
    /// </summary>
    [Fact]
    public async Task DeviceSectionsOfTheEarlierVersionsStillRestore()
    {
        string saved = await SnapshotOfAMachineWithADisk();

        string older = Path.Combine(dir, "older.emusnap");
        string mixed = Path.Combine(dir, "mixed.emusnap");
        foreach (var (to, dropDevice) in new[] { (older, true), (mixed, false) })
        {
            Rewrite(saved, to, (name, version, payload) =>
            {
                if (!name.StartsWith("device/", StringComparison.Ordinal))
                {
                    return (version, payload);
                }

                var state = JsonNode.Parse(payload)!.AsObject();
                if (name == "device/virtio-blk0")
                {
                    version = 1;
                    if (dropDevice)
                    {
                        state.Remove("Device");
                    }
                }

                state["Version"] = version;
                return (version, System.Text.Encoding.UTF8.GetBytes(state.ToJsonString()));
            });
        }

        await using (var restored = await MachineSnapshot.RestoreAsync(older, Options(), _ => { }))
        {
            Assert.Equal(Emulator.Machine.Runtime.MachineState.Created, restored.State);
        }

        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(mixed, Options(), _ => { }));
        Assert.Contains("virtio-blk0: Device", e.Reason);
        Assert.Contains("added in version 2", e.Reason);
    }
}
