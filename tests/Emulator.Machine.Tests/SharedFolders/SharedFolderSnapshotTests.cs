using Emulator.Devices.Virtio;
using Emulator.Machine.Block;
using Emulator.Machine.Pc;
using Emulator.Machine.SharedFolders;
using Emulator.Machine.Snapshots;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests.SharedFolders;

/// <summary>
/// A PC machine with shared folders through a snapshot: the machine section records them, a
/// restore builds the same virtio-9p devices on the same folders (checked against the allowed
/// directories as disks are), and a folder gone since is a clear refusal.
/// </summary>
public sealed class SharedFolderSnapshotTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("emu-9p-snap-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static byte[] HaltKernel()
    {
        var a = new Assembler(64);
        var halt = a.CreateLabel();
        a.cli();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x100_0200);
        return TestImages.BzImage(ms.ToArray());
    }

    private async Task<string> Snapshot(string share)
    {
        await using var vm = PcMachine.Build(new PcConfig
        {
            Kernel = HaltKernel(),
            MemoryBytes = 64UL << 20,
            SharedFolders = [new SharedFolderConfig(share, "host0"), new SharedFolderConfig(share, "ro", ReadOnly: true)],
        });
        vm.Start();
        string path = Path.Combine(dir, "shares.emusnap");
        await MachineSnapshot.SaveAsync(vm, path, new SnapshotOptions { LayerDirectory = dir, MachineId = "m" });
        return path;
    }

    private static string Tag(Runtime.VirtualMachine vm, string device)
    {
        var transport = vm.Device<VirtioMmioTransport>(device);
        Assert.Equal(9ul, transport.Read(VirtioMmioRegisters.DeviceId, 4));
        int length = (int)transport.Read(VirtioMmioRegisters.Config, 2);
        return new string([.. Enumerable.Range(0, length).Select(i => (char)transport.Read(VirtioMmioRegisters.Config + 2 + (ulong)i, 1))]);
    }

    [Fact]
    public async Task ARestoredMachineHasTheSameFolders()
    {
        string share = Directory.CreateDirectory(Path.Combine(dir, "share")).FullName;
        string path = await Snapshot(share);
        Assert.Equal(2, MachineSnapshot.Describe(path).Machine.SharedFolders.Count);

        await using var vm = await MachineSnapshot.RestoreAsync(path, new SnapshotOptions { LayerDirectory = dir, MachineId = "r" }, _ => { });
        Assert.Equal(["host0", "ro"], vm.Config!.SharedFolders.Select(f => f.MountTag));
        Assert.True(vm.Config.SharedFolders[1].ReadOnly);
        Assert.Equal("host0", Tag(vm, "virtio-9p0"));
        Assert.Equal("ro", Tag(vm, "virtio-9p1"));
    }

    [Fact]
    public async Task AFolderOutsideTheAllowedDirectoriesOrGoneIsRefused()
    {
        string outside = Directory.CreateTempSubdirectory("emu-9p-outside-").FullName;
        try
        {
            string path = await Snapshot(outside);
            await Assert.ThrowsAsync<BackingFileRefusedException>(() => MachineSnapshot.RestoreAsync(path, new SnapshotOptions { LayerDirectory = dir }, _ => { }));

            Directory.Delete(outside);
            var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(path, new SnapshotOptions { LayerDirectory = dir, AllowedDirectories = [outside] }, _ => { }));
            Assert.Contains("is missing", e.Reason);
        }
        finally
        {
            if (Directory.Exists(outside))
            {
                Directory.Delete(outside);
            }
        }
    }
}
