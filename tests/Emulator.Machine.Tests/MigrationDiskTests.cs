using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Emulator.Machine.Block;
using Emulator.Machine.Migration;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>
/// Disks in a live migration (Migration/DiskLayers.cs): the layers in the source's layer
/// directory move into the target's, rewired to each other, and the target's disk reads as the
/// source's did; a base image the target does not have (not allowed there, missing, another size,
/// other first bytes) is refused before the source pauses.
/// </summary>
public sealed class MigrationDiskTests : IDisposable
{
    private const int DiskBytes = 4 << 20;
    private readonly string root = Directory.CreateTempSubdirectory("emu-migrate-disks-").FullName;
    private readonly string images, sourceLayers, targetLayers, basePath;

    public MigrationDiskTests()
    {
        images = Directory.CreateDirectory(Path.Combine(root, "images")).FullName;
        sourceLayers = Directory.CreateDirectory(Path.Combine(root, "source-layers")).FullName;
        targetLayers = Directory.CreateDirectory(Path.Combine(root, "target-layers")).FullName;
        basePath = Path.Combine(images, "base.raw");
        var bytes = new byte[DiskBytes];
        new Random(11).NextBytes(bytes);
        File.WriteAllBytes(basePath, bytes);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static byte[] HaltKernel() => TestImages.BzImage([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp $-3

    /// <summary>Two layers of earlier snapshots in the source's layer directory over the base, each with writes of its own; the top is the machine's disk.</summary>
    private string EarlierLayers()
    {
        var backing = BackingPolicy.Within([images, sourceLayers]);
        string first = Path.Combine(sourceLayers, "earlier-1.cow"), second = Path.Combine(sourceLayers, "earlier-2.cow");
        BlockImage.CreateOverlay(first, basePath, BlockFormat.Raw, backing);
        using (var image = BlockImage.Open(first, BlockFormat.EmuCow, backing))
        {
            image.Write(Enumerable.Repeat((byte)0x11, 70_000).ToArray(), 100_000);
        }

        BlockImage.CreateOverlay(second, first, BlockFormat.EmuCow, backing);
        using (var image = BlockImage.Open(second, BlockFormat.EmuCow, backing))
        {
            image.Write(Enumerable.Repeat((byte)0x22, 5_000).ToArray(), 150_000);
            image.Write(Enumerable.Repeat((byte)0x33, 4096).ToArray(), DiskBytes - 4096);
        }

        return second;
    }

    private VirtualMachine Source(string disk)
    {
        var vm = PcMachine.Build(new PcConfig
        {
            Kernel = HaltKernel(),
            MemoryBytes = 32UL << 20,
            Disks = [new DiskConfig(disk, Format: BlockFormat.EmuCow) { Backing = BackingPolicy.Within([images, sourceLayers]) }],
        });
        vm.Start();
        return vm;
    }

    private byte[] Flattened(string path, params string[] allowed)
    {
        string output = Path.Combine(root, $"flat-{Guid.NewGuid():n}.raw");
        BlockImage.Flatten(path, BlockFormat.EmuCow, BackingPolicy.Within(allowed), output);
        var bytes = File.ReadAllBytes(output);
        File.Delete(output);
        return bytes;
    }

    /// <summary>Receives on a pipe; the sender learns the target's acceptance, or its refusal, as the gRPC call's early headers would tell it.</summary>
    private (Task<VirtualMachine> Receiving, MigrationOptions Options, Pipe Pipe) Link(IReadOnlyList<string> allowedOnTarget)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var receiving = LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), new SnapshotOptions { LayerDirectory = targetLayers, MachineId = "target", AllowedDirectories = allowedOnTarget }, _ => { },
            accepted: () =>
            {
                accepted.TrySetResult();
                return Task.CompletedTask;
            });
        _ = receiving.ContinueWith(t =>
        {
            if (t.IsFaulted)
            {
                accepted.TrySetException(t.Exception!.InnerException!);
                pipe.Reader.Complete(t.Exception.InnerException);
            }
        }, TaskScheduler.Default);
        var options = new MigrationOptions
        {
            Snapshot = new SnapshotOptions { LayerDirectory = sourceLayers, MachineId = "source" },
            TargetAccepted = _ => accepted.Task,
        };
        return (receiving, options, pipe);
    }

    [Fact]
    public async Task The_layers_move_into_the_targets_layer_directory_and_its_disk_reads_as_the_sources()
    {
        string disk = EarlierLayers();
        await using var source = Source(disk);
        var (receiving, options, pipe) = Link([images]);
        await using (var toTarget = pipe.Writer.AsStream())
        {
            await LiveMigration.SendAsync(source, toTarget, options);
        }

        await using var target = await receiving;
        var layers = target.Disks[0].Layers;
        Assert.Equal(4, layers.Count); // the base, the two earlier layers (the second frozen at the stop), the target's own top
        Assert.Equal(basePath, layers[0]);
        Assert.All(layers.Skip(1), l => Assert.Equal(targetLayers, Path.GetDirectoryName(l)));

        // The frozen layer on each side, read through its chain: the target's reaches nothing of the source's directory.
        string sourceFrozen = source.Disks[0].Layers[^2];
        Assert.Equal(Flattened(sourceFrozen, images, sourceLayers), Flattened(layers[^2], images, targetLayers));
        target.Start();
        Assert.Equal(MachineState.Running, target.State);
    }

    [Fact]
    public async Task A_target_that_may_not_open_the_base_image_refuses_before_the_source_pauses()
    {
        string disk = EarlierLayers();
        await using var source = Source(disk);
        var (receiving, options, pipe) = Link([]); // the images directory is not the target's to open
        await Assert.ThrowsAsync<BackingFileRefusedException>(async () =>
        {
            await using var toTarget = pipe.Writer.AsStream();
            await LiveMigration.SendAsync(source, toTarget, options);
        });
        await Assert.ThrowsAsync<BackingFileRefusedException>(() => receiving);

        Assert.Equal(MachineState.Running, source.State);
        Assert.False(source.Memory.IsLoggingDirty);
        Assert.Equal([basePath, Path.Combine(sourceLayers, "earlier-1.cow"), disk], source.Disks[0].Layers); // never frozen: no snapshot was taken
        Assert.Empty(Directory.GetFiles(targetLayers));
    }

    [Theory]
    [InlineData("missing", "cannot be read on this node")]
    [InlineData("size", "bytes on this node and")]
    [InlineData("contents", "differs from the source's in its first MiB")]
    public async Task A_base_image_that_is_not_the_sources_is_refused_with_why(string how, string why)
    {
        byte[] bytes = File.ReadAllBytes(basePath);
        string path = how == "missing" ? Path.Combine(images, "elsewhere.raw") : basePath;
        long size = how == "size" ? bytes.Length + 4096 : bytes.Length;
        byte[] hash = SHA256.HashData(bytes.AsSpan(0, 1 << 20));
        if (how == "contents")
        {
            hash[0] ^= 1;
        }

        byte[] name = Encoding.UTF8.GetBytes(path);
        var header = new byte[16];
        "EMUMIG02"u8.CopyTo(header);
        BitConverter.TryWriteBytes(header.AsSpan(8), 32UL << 20);
        byte[] stream = [.. header, (byte)'B', 1, 0, 0, 0, .. BitConverter.GetBytes((ushort)name.Length), .. name, .. BitConverter.GetBytes(size), .. hash];
        bool accepted = false;
        var e = await Assert.ThrowsAsync<MigrationDiskException>(() => LiveMigration.ReceiveAsync(new MemoryStream(stream),
            new SnapshotOptions { LayerDirectory = targetLayers, MachineId = "t", AllowedDirectories = [images] }, _ => { }, accepted: () =>
            {
                accepted = true;
                return Task.CompletedTask;
            }));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.False(accepted);
    }
}
