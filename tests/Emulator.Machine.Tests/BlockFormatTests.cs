using System.Buffers.Binary;
using System.Numerics;
using Emulator.Machine.Block;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>
/// A disk's format comes from the request, never from its contents, and every disk layer a file
/// names (an overlay's backing path, a snapshot's disk) must lie where the opener allows. The
/// attack: a guest writes an overlay header into its own raw disk, naming a host file as the
/// backing file; the next machine opened on that disk must read its bytes as they are and open
/// nothing else. "Nothing else" is checked by holding the named file under an exclusive lock: any
/// attempt to open it (disks are opened with a shared lock) would fail the open.
/// </summary>
public sealed class BlockFormatTests : IDisposable
{
    private const int DiskSize = 1 << 20;

    private readonly string dir = Directory.CreateTempSubdirectory("emu-format-").FullName;
    private readonly string outside = Directory.CreateTempSubdirectory("emu-format-outside-").FullName;

    public void Dispose()
    {
        Directory.Delete(dir, recursive: true);
        Directory.Delete(outside, recursive: true);
    }

    private string File_(string name) => Path.Combine(dir, name);

    /// <summary>A host file a forged header points at, with bytes of its own.</summary>
    private string Victim()
    {
        string path = File_("victim.img");
        File.WriteAllBytes(path, Random(DiskSize, 77));
        return path;
    }

    /// <summary>
    /// A raw disk whose first 4 KiB are a genuine overlay header naming <paramref name="names"/> as
    /// a raw backing file (what a guest can write with one 4 KiB write), the rest the guest's data.
    /// </summary>
    private byte[] ForgedRawDisk(string path, string names)
    {
        string genuine = File_("genuine.cow");
        BlockImage.CreateOverlay(genuine, names, BlockFormat.Raw, BackingPolicy.Unconfined);
        var disk = Random(DiskSize, 5);
        File.ReadAllBytes(genuine).AsSpan(0, 4096).CopyTo(disk);
        File.Delete(genuine);
        File.WriteAllBytes(path, disk);
        return disk;
    }

    private static FileStream HoldExclusively(string path) => new(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);

    /// <summary>
    /// A disk's own file is checked once opened, not only by name before: a name that passed a
    /// server's check and was then made a symbolic link to a file outside is refused, the file
    /// outside untouched (held under an exclusive lock, which any open would fail on anyway).
    /// </summary>
    [Fact]
    public void ADiskSwappedForALinkOutsideAfterItsCheckIsRefusedWhenOpened()
    {
        string secret = Path.Combine(outside, "secret.img");
        File.WriteAllBytes(secret, Random(DiskSize, 9));
        string disk = File_("disk.img");
        File.CreateSymbolicLink(disk, secret);

        var e = Assert.Throws<BlockImageException>(() => BlockImage.Open(disk, BlockFormat.Raw, BackingPolicy.None, BackingPolicy.Within([dir]), readOnly: true));
        Assert.Contains("outside the allowed directories", e.Message);
    }

    /// <summary>A FIFO named as a disk is refused at once (a read-only open of it would wait for a writer forever).</summary>
    [Fact]
    public async Task AFifoNamedAsADiskIsRefusedWithoutWaiting()
    {
        string fifo = File_("fifo");
        Assert.Equal(0, mkfifo(fifo, 0x1b6));
        var open = Task.Run(() => BlockImage.Open(fifo, BlockFormat.Raw, BackingPolicy.None, readOnly: true));
        var e = await Assert.ThrowsAsync<BlockImageException>(() => open.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("not a regular file", e.Message);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    [Fact]
    public void ARawDiskThatStartsWithAnOverlayHeaderIsReadAsItsOwnBytes()
    {
        string victim = Victim();
        string path = File_("disk.img");
        var bytes = ForgedRawDisk(path, victim);
        using var held = HoldExclusively(victim);

        // A drive as a request gives it without a format: raw.
        var config = new DiskConfig(path);
        Assert.Equal(BlockFormat.Raw, config.Format);
        using var image = BlockImage.Open(config.Path, config.Format, config.Backing);

        Assert.Equal([path], image.Layers);
        Assert.Equal((ulong)DiskSize, image.SizeBytes);
        var read = new byte[DiskSize];
        Assert.Equal(DiskSize, image.Read(read, 0));
        Assert.Equal(bytes, read);
    }

    [Fact]
    public void AnOverlayNamingABackingFileOutsideTheAllowedDirectoriesIsRefusedBeforeItIsOpened()
    {
        string outsideBase = Path.Combine(outside, "base.img");
        File.WriteAllBytes(outsideBase, Random(DiskSize, 1));
        string top = File_("top.cow");
        BlockImage.CreateOverlay(top, outsideBase, BlockFormat.Raw, BackingPolicy.Unconfined);
        var allowed = BackingPolicy.Within([dir]);

        using (HoldExclusively(outsideBase))
        {
            var e = Assert.Throws<BackingFileRefusedException>(() => BlockImage.Open(top, BlockFormat.EmuCow, allowed));
            Assert.Equal(top, e.Path);
            Assert.Equal(outsideBase, e.Named);
            Assert.Contains($"names the disk layer {outsideBase}, which lies outside the directories allowed for disk layers", e.Message);
        }

        // One layer further down: an allowed overlay whose own backing file is outside.
        string upper = File_("upper.cow");
        BlockImage.CreateOverlay(upper, top, BlockFormat.EmuCow, BackingPolicy.Unconfined);
        var deeper = Assert.Throws<BackingFileRefusedException>(() => BlockImage.Open(upper, BlockFormat.EmuCow, allowed));
        Assert.Equal(top, deeper.Path);
        Assert.Throws<BackingFileRefusedException>(() => BlockImage.CreateOverlay(File_("new.cow"), upper, BlockFormat.EmuCow, allowed));
        Assert.False(File.Exists(File_("new.cow")));

        // Whether the named file exists is not even looked at: a missing one is refused the same way.
        string gone = Path.Combine(outside, "gone.img");
        File.WriteAllBytes(gone, Random(DiskSize, 2));
        string stale = File_("stale.cow");
        BlockImage.CreateOverlay(stale, gone, BlockFormat.Raw, BackingPolicy.Unconfined);
        File.Delete(gone);
        Assert.Equal(gone, Assert.Throws<BackingFileRefusedException>(() => BlockImage.Open(stale, BlockFormat.EmuCow, allowed)).Named);

        // Inside the allowed directories the same chain opens.
        using var image = BlockImage.Open(upper, BlockFormat.EmuCow, BackingPolicy.Within([dir, outside]));
        Assert.Equal([outsideBase, top, upper], image.Layers);
    }

    [Fact]
    public async Task AGuestWrittenOverlayHeaderStaysRawThroughAMachineASnapshotAndARestore()
    {
        string victim = Victim();
        string path = File_("disk.img");
        var bytes = ForgedRawDisk(path, victim);
        using var held = HoldExclusively(victim);

        await using var vm = PcMachine.Build(new PcConfig { Kernel = HaltKernel(), MemoryBytes = 32UL << 20, Disks = [new DiskConfig(path)] });
        Assert.Equal([path], vm.Disks[0].Layers);
        vm.Start();
        string snapshot = File_("machine.emusnap");
        var options = new SnapshotOptions { LayerDirectory = dir, MachineId = "original" };
        var report = await MachineSnapshot.SaveAsync(vm, snapshot, options);
        Assert.Equal([path], report.FrozenDisks);
        Assert.Equal(BlockFormat.Raw, MachineSnapshot.Describe(snapshot).Machine.Disks[0].Format);
        vm.Stop(new MachineExit(MachineExitReason.Stopped, "test"));

        // The frozen disk is recorded as raw, so the restored machine's chain is the disk and its
        // own overlay, and its first bytes are the forged header, as the guest wrote them.
        await using var restored = await MachineSnapshot.RestoreAsync(snapshot, options with { MachineId = "restored" }, _ => { });
        var layers = restored.Disks[0].Layers;
        Assert.Equal(2, layers.Count);
        Assert.Equal(path, layers[0]);
        Assert.StartsWith(dir, layers[1]);
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task ARestoreOpensTheSnapshotsDisksOnlyInsideTheAllowedDirectories()
    {
        string path = Path.Combine(outside, "disk.img");
        File.WriteAllBytes(path, Random(DiskSize, 3));
        await using var vm = PcMachine.Build(new PcConfig { Kernel = HaltKernel(), MemoryBytes = 32UL << 20, Disks = [new DiskConfig(path)] });
        vm.Start();
        string snapshot = File_("machine.emusnap");
        await MachineSnapshot.SaveAsync(vm, snapshot, new SnapshotOptions { LayerDirectory = dir, MachineId = "original" });
        vm.Stop(new MachineExit(MachineExitReason.Stopped, "test"));

        var refused = await Assert.ThrowsAsync<BackingFileRefusedException>(() =>
            MachineSnapshot.RestoreAsync(snapshot, new SnapshotOptions { LayerDirectory = dir, MachineId = "refused" }, _ => { }));
        Assert.Equal(snapshot, refused.Path);
        Assert.Equal(path, refused.Named);
        Assert.Single(Directory.GetFiles(dir, "*.cow")); // the original's own overlay; the refused restore made none

        await using var restored = await MachineSnapshot.RestoreAsync(
            snapshot, new SnapshotOptions { LayerDirectory = dir, MachineId = "allowed", AllowedDirectories = [outside] }, _ => { });
        Assert.Equal(path, restored.Disks[0].Layers[0]);
    }

    /// <summary>Version 1 headers (no backing format; the path at byte 72) as earlier builds wrote them still open.</summary>
    [Fact]
    public void AVersion1OverlayTakesItsBackingFormatFromTheBackingFilesName()
    {
        string basePath = File_("base.img");
        var bytes = Random(DiskSize, 9);
        File.WriteAllBytes(basePath, bytes);
        string top = File_("v1.cow");
        BlockImage.CreateOverlay(top, basePath, BlockFormat.Raw, BackingPolicy.Unconfined);
        var file = File.ReadAllBytes(top);
        var h = file.AsSpan(0, 4096);
        int pathLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], 1);
        h.Slice(76, pathLength).CopyTo(h[72..]);
        h.Slice(72 + pathLength, 4).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h[4092..], Crc32C(h[..4092]));
        File.WriteAllBytes(top, file);

        using var image = BlockImage.Open(top, BlockFormat.EmuCow, BackingPolicy.Within([dir]));
        Assert.Equal([basePath, top], image.Layers);
        var read = new byte[DiskSize];
        image.Read(read, 0);
        Assert.Equal(bytes, read);
    }

    /// <summary>A bzImage whose 64-bit entry halts forever: a machine to attach disks to.</summary>
    private static byte[] HaltKernel() => TestImages.BzImage([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp $-3

    private static byte[] Random(int size, int seed)
    {
        var b = new byte[size];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>CRC-32C as the overlay header's checksum (RATIONALE.md in Block/).</summary>
    private static uint Crc32C(ReadOnlySpan<byte> bytes)
    {
        uint crc = ~0u;
        foreach (byte b in bytes)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }
}
