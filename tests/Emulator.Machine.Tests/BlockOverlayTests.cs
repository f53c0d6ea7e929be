using System.Buffers.Binary;
using System.Diagnostics;
using Emulator.Actors;
using Emulator.Devices.Bus;
using Emulator.Machine.Block;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>
/// Copy-on-write overlay chains (<see cref="BlockImage"/> with .cow layers): the merged view
/// against an in-memory model, concurrency of copy-up, freezing, restoring a second overlay,
/// durability of the bitmap, refusal of damaged overlays, flattening, and a real ext4 file system.
/// </summary>
public sealed class BlockOverlayTests : IDisposable
{
    private const int Cluster = 64 * 1024;

    /// <summary>Not a whole number of clusters: the last cluster is partial.</summary>
    private const int DiskSize = 40 * Cluster + 3000;

    private readonly string dir = Directory.CreateTempSubdirectory("emu-cow-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string File_(string name) => Path.Combine(dir, name);

    /// <summary>Overlays here may name backing files in the test's own directory only.</summary>
    private BackingPolicy Layers => BackingPolicy.Within([dir]);

    private BlockImage Overlay(string path, bool readOnly = false) => BlockImage.Open(path, BlockFormat.EmuCow, Layers, readOnly);

    private string NewBase(int size = DiskSize, int seed = 1)
    {
        string path = File_("base.img");
        File.WriteAllBytes(path, Random(size, seed));
        return path;
    }

    /// <summary>
    /// An overlay takes each cluster it allocates from the quota: once the quota is used up a write
    /// that needs a new cluster fails as an I/O error (which the guest sees) and writes nothing,
    /// while writes into clusters it has and writes of other disks' raw bases go on.
    /// </summary>
    [Fact]
    public void AnOverlayStopsAllocatingWhenTheQuotaIsUsedUp()
    {
        string basePath = NewBase();
        var model = File.ReadAllBytes(basePath);
        using var image = BlockImage.OpenRaw(basePath);
        image.Freeze(File_("top.cow"));
        var quota = new DiskQuota(Directory.CreateDirectory(File_("empty")).FullName, 2 * Cluster);
        image.Quota = quota;

        var ones = new byte[100];
        ones.AsSpan().Fill(1);
        image.Write(ones, 0);
        image.Write(ones, 5 * Cluster + 10);
        Assert.Equal(2L * Cluster, quota.UsedBytes);
        var e = Assert.Throws<DiskQuotaExceededException>(() => image.Write(ones, 9 * Cluster));
        Assert.IsAssignableFrom<IOException>(e);

        // A cluster the overlay has takes nothing more; the refused write left no trace.
        image.Write(ones, 50);
        ones.CopyTo(model, 0);
        ones.CopyTo(model, 5 * Cluster + 10);
        ones.CopyTo(model, 50);
        Assert.Equal(model, ReadAll(image));
        Assert.Equal(2L * Cluster, quota.UsedBytes);
    }

    [Fact]
    public void RandomReadsWritesAndZeroesMatchTheModelAcrossFreezesAndReopens()
    {
        string basePath = NewBase();
        var model = File.ReadAllBytes(basePath);
        var rng = new Random(42);
        var image = BlockImage.OpenRaw(basePath);
        string top = basePath;
        for (int layers = 1; layers <= 4; layers++)
        {
            Assert.Equal(layers, image.Layers.Count);
            RandomOps(image, model, rng, 150);
            Assert.Equal(model, ReadAll(image));

            image.Dispose();
            image = layers == 1 ? BlockImage.OpenRaw(top) : Overlay(top);
            Assert.Equal(layers, image.Layers.Count);
            Assert.Equal(model, ReadAll(image));
            RandomOps(image, model, rng, 50);

            if (layers < 4)
            {
                string next = File_($"layer{layers}.cow");
                Assert.Equal(top, image.Freeze(next));
                top = next;
            }
        }

        Assert.Equal(top, image.Path);
        image.Dispose();
        BlockImage.Flatten(top, BlockFormat.EmuCow, Layers, File_("flat.img"));
        Assert.Equal(model, File.ReadAllBytes(File_("flat.img")));
        using var reopened = Overlay(top, readOnly: true);
        Assert.Equal(basePath, reopened.Layers[0]);
    }

    [Fact]
    public void ConcurrentWritersToDistinctAndSharedClustersAllLand()
    {
        string basePath = NewBase();
        var model = File.ReadAllBytes(basePath);
        using var image = BlockImage.OpenRaw(basePath);
        const int Writers = 4;
        for (int round = 0; round < 16; round++)
        {
            // Each round writes into a fresh top, so the shared clusters are copied up under contention.
            image.Freeze(File_($"round{round}.cow"));
            var pieces = new List<(int Thread, long Offset, byte[] Data)>();
            var rng = new Random(round);
            for (int t = 0; t < Writers; t++)
            {
                for (int c = 0; c < 4; c++)
                {
                    // Shared clusters 0..3: disjoint, unaligned byte ranges of the same cluster.
                    pieces.Add((t, (c * Cluster) + (t * 5000) + 7, Random(4000, rng.Next())));
                }

                // Own clusters, straddling cluster boundaries.
                pieces.Add((t, ((8 + (t * 6)) * Cluster) - 100, Random(Cluster + 300, rng.Next())));
                pieces.Add((t, ((11 + (t * 6)) * Cluster) + 1, Random(2 * Cluster, rng.Next())));
            }

            using var start = new Barrier(Writers);
            var threads = Enumerable.Range(0, Writers).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                foreach (var p in pieces.Where(p => p.Thread == t))
                {
                    image.Write(p.Data, p.Offset);
                }
            })).ToArray();
            foreach (var th in threads)
            {
                th.Start();
            }

            foreach (var th in threads)
            {
                th.Join();
            }

            foreach (var p in pieces)
            {
                p.Data.CopyTo(model, p.Offset);
            }

            Assert.Equal(model, ReadAll(image));
        }
    }

    [Fact]
    public void FrozenLayersStayByteIdenticalAfterLaterWrites()
    {
        string basePath = NewBase();
        var model = File.ReadAllBytes(basePath);
        var rng = new Random(7);
        string mid = File_("mid.cow");
        using (var image = BlockImage.OpenRaw(basePath))
        {
            RandomOps(image, model, rng, 40);
            Assert.Equal(basePath, image.Freeze(mid));
            var baseBytes = File.ReadAllBytes(basePath);
            var baseTime = File.GetLastWriteTimeUtc(basePath);
            RandomOps(image, model, rng, 40);
            Assert.Equal(mid, image.Freeze(File_("top.cow")));
            var midBytes = File.ReadAllBytes(mid);
            var midTime = File.GetLastWriteTimeUtc(mid);

            RandomOps(image, model, rng, 80);
            image.WriteZeroes(0, DiskSize);
            image.Write(Random(DiskSize, 9), 0);
            image.FlushToDisk();

            Assert.Equal(baseBytes, File.ReadAllBytes(basePath));
            Assert.Equal(midBytes, File.ReadAllBytes(mid));
            Assert.Equal(baseTime, File.GetLastWriteTimeUtc(basePath));
            Assert.Equal(midTime, File.GetLastWriteTimeUtc(mid));
            Assert.Equal(Random(DiskSize, 9), ReadAll(image));
        }

        using var chain = Overlay(File_("top.cow"), readOnly: true);
        Assert.Equal([basePath, mid, File_("top.cow")], chain.Layers);
    }

    [Fact]
    public void ARestoredOverlayOnTheSameFrozenLayerIsIndependentOfTheFirst()
    {
        string basePath = NewBase();
        var frozenView = File.ReadAllBytes(basePath);
        using var running = BlockImage.OpenRaw(basePath);
        RandomOps(running, frozenView, new Random(3), 60);
        running.Freeze(File_("snap.cow"));
        string frozen = running.Freeze(File_("running.cow"));
        Assert.Equal(File_("snap.cow"), frozen);

        BlockImage.CreateOverlay(File_("restored.cow"), frozen, BlockFormat.EmuCow, Layers);
        using var restored = Overlay(File_("restored.cow"));
        Assert.Equal([basePath, frozen, File_("restored.cow")], restored.Layers);
        Assert.Equal(frozenView, ReadAll(restored));

        var runningModel = (byte[])frozenView.Clone();
        var restoredModel = (byte[])frozenView.Clone();
        RandomOps(running, runningModel, new Random(4), 80);
        RandomOps(restored, restoredModel, new Random(5), 80);
        Assert.Equal(runningModel, ReadAll(running));
        Assert.Equal(restoredModel, ReadAll(restored));
        Assert.NotEqual(runningModel, restoredModel);
    }

    [Fact]
    public void TheBitmapReachesTheFileOnFlushToDiskAndOnDispose()
    {
        string basePath = NewBase();
        var original = File.ReadAllBytes(basePath);
        string top = File_("top.cow");
        var data = Random(1000, 8);
        using (var image = BlockImage.OpenRaw(basePath))
        {
            image.Freeze(top);
            image.Write(data, (5 * Cluster) + 10);

            // A copy of the running overlay is what a host crash would leave on disk (cp takes no lock).
            CopyWithoutLock(top, File_("before-flush.cow"));
            Assert.Equal(0, File.ReadAllBytes(File_("before-flush.cow"))[4096]);
            using (var crashed = Overlay(File_("before-flush.cow"), readOnly: true))
            {
                Assert.Equal(original.AsSpan((5 * Cluster) + 10, 1000).ToArray(), ReadAt(crashed, (5 * Cluster) + 10, 1000));
            }

            image.FlushToDisk();
            CopyWithoutLock(top, File_("after-flush.cow"));
            Assert.Equal(1 << 5, File.ReadAllBytes(File_("after-flush.cow"))[4096]);
            using (var crashed = Overlay(File_("after-flush.cow"), readOnly: true))
            {
                Assert.Equal(data, ReadAt(crashed, (5 * Cluster) + 10, 1000));
            }

            image.Write(data, (9 * Cluster) + 20);
        }

        Assert.Equal((1 << 5) | 0, File.ReadAllBytes(top)[4096]);
        Assert.Equal(1 << 1, File.ReadAllBytes(top)[4097]);
        using var reopened = Overlay(top);
        Assert.Equal(data, ReadAt(reopened, (9 * Cluster) + 20, 1000));
        Assert.Equal(original.AsSpan(9 * Cluster, 20).ToArray(), ReadAt(reopened, 9 * Cluster, 20));
    }

    [Fact]
    public void DamagedOrForeignOverlaysAreRefusedWithTheReason()
    {
        string basePath = NewBase();
        string good = File_("good.cow");
        BlockImage.CreateOverlay(good, basePath, BlockFormat.Raw, Layers);
        var header = File.ReadAllBytes(good);

        string truncated = File_("truncated.cow");
        File.WriteAllBytes(truncated, header[..100]);
        AssertRefused(truncated, "truncated overlay header (100 bytes, expected 4096)");

        string magic = File_("magic.cow");
        var bad = (byte[])header.Clone();
        bad[0] = (byte)'X';
        File.WriteAllBytes(magic, bad);
        AssertRefused(magic, "not a copy-on-write overlay (bad magic)");

        string newer = File_("newer.cow");
        bad = (byte[])header.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(8), 3);
        File.WriteAllBytes(newer, bad);
        AssertRefused(newer, "overlay format version 3 is not supported (this emulator reads versions 1 to 2)");

        string corrupt = File_("corrupt.cow");
        bad = (byte[])header.Clone();
        bad[30] ^= 1;
        File.WriteAllBytes(corrupt, bad);
        AssertRefused(corrupt, "checksum mismatch");

        // Coarse file timestamps: let the clock move on before the base is written.
        Thread.Sleep(50);
        using (var f = new FileStream(basePath, FileMode.Open, FileAccess.Write))
        {
            f.WriteByte(0x55);
        }

        AssertRefused(good, $"backing file {basePath} changed since the overlay was made");
        Assert.Throws<BlockImageException>(() => BlockImage.Flatten(good, BlockFormat.EmuCow, Layers, File_("flat.img")));
    }

    [Fact]
    public void FlattenRefusesToOverwriteALayerOfTheChain()
    {
        string basePath = NewBase();
        BlockImage.CreateOverlay(File_("top.cow"), basePath, BlockFormat.Raw, Layers);
        var e = Assert.Throws<BlockImageException>(() => BlockImage.Flatten(File_("top.cow"), BlockFormat.EmuCow, Layers, basePath));
        Assert.Contains("is a layer of the chain", e.Message);
        Assert.Equal(DiskSize, new FileInfo(basePath).Length);
    }

    [Fact]
    public async Task TheBackendFreezesOnlyWhenNoRequestIsInFlight()
    {
        await using var system = new AsyncDisposableSystem();
        string basePath = NewBase(16 << 20, 2);
        var image = BlockImage.OpenRaw(basePath, cache: BlockCacheMode.Writethrough);
        var backend = system.System.Spawn(BlockBackendActor.Props(image), "disk");
        var client = new BlockBackendClient(backend, image, () => throw new InvalidOperationException("no device in this test"));
        var timeout = TimeSpan.FromSeconds(30);

        // Eight 2 MiB writethrough writes queued just before the freeze: their completions come back after it.
        var data = Enumerable.Range(0, 8).Select(i => Random(2 << 20, i)).ToArray();
        var writes = Enumerable.Range(0, 8).Select(i => backend.Ask<BlockCompletion>(
            r => new BlockBackendMessage.Submit(new BlockRequest(BlockOperation.Write, (ulong)i << 21, Data: data[i]), r), timeout)).ToArray();
        var busy = await Assert.ThrowsAsync<InvalidOperationException>(() => client.FreezeAsync(File_("busy.cow"), timeout));
        Assert.Contains("requests in flight", busy.Message);
        Assert.All(await Task.WhenAll(writes), c => Assert.Equal(BlockStatus.Ok, c.Status));
        Assert.False(File.Exists(File_("busy.cow")));

        Assert.Equal(basePath, await client.FreezeAsync(File_("top.cow"), timeout));
        var w = await backend.Ask<BlockCompletion>(r => new BlockBackendMessage.Submit(new BlockRequest(BlockOperation.Write, 512, Data: Random(512, 99)), r), timeout);
        Assert.Equal(BlockStatus.Ok, w.Status);
        var read = await backend.Ask<BlockCompletion>(r => new BlockBackendMessage.Submit(new BlockRequest(BlockOperation.Read, 0, 1024), r), timeout);
        Assert.Equal(Random(2 << 20, 0)[..512], read.Data![..512]);
        Assert.Equal(Random(512, 99), read.Data[512..]);

        var exists = await Assert.ThrowsAsync<BlockImageException>(() => client.FreezeAsync(File_("top.cow"), timeout));
        Assert.Contains("already exists", exists.Message);
        system.System.Stop(backend);
        await backend.WhenTerminated.WaitAsync(timeout);
        Assert.Equal(Random(2 << 20, 0), File.ReadAllBytes(basePath)[..(2 << 20)]);
    }

    [Ext4ToolsFact]
    public void AnExt4FileSystemWrittenThroughAnOverlayChecksCleanAndItsFrozenBaseIsUnchanged()
    {
        string basePath = File_("a.img");
        string other = File_("b.img");
        foreach (var p in new[] { basePath, other })
        {
            using (var f = File.Create(p))
            {
                f.SetLength(16 << 20);
            }

            Assert.Equal(0, Run("mkfs.ext4", "-q", "-F", p).ExitCode);
        }

        var baseBytes = File.ReadAllBytes(basePath);
        var otherBytes = File.ReadAllBytes(other);
        using (var image = BlockImage.OpenRaw(basePath))
        {
            image.Freeze(File_("top.cow"));

            // Copy the second file system in shuffled, unaligned chunks: every kind of partial cluster copy-up.
            var rng = new Random(11);
            var chunks = new List<(int Offset, int Length)>();
            for (int at = 0; at < otherBytes.Length;)
            {
                int n = Math.Min(rng.Next(1, 3 * Cluster), otherBytes.Length - at);
                chunks.Add((at, n));
                at += n;
            }

            foreach (var (offset, length) in chunks.OrderBy(_ => rng.Next()))
            {
                image.Write(otherBytes.AsSpan(offset, length), offset);
            }

            image.FlushToDisk();
        }

        string flat = File_("flat.img");
        BlockImage.Flatten(File_("top.cow"), BlockFormat.EmuCow, Layers, flat);
        var check = Run("e2fsck", "-fn", flat);
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Equal(otherBytes, File.ReadAllBytes(flat));
        check = Run("e2fsck", "-fn", basePath);
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Equal(baseBytes, File.ReadAllBytes(basePath));
    }

    private void AssertRefused(string path, string reason)
    {
        var e = Assert.Throws<BlockImageException>(() => Overlay(path));
        Assert.Equal(path, e.Path);
        Assert.Contains(path, e.Message);
        Assert.Contains(reason, e.Message);
    }

    /// <summary>Random reads (checked), writes and write-zeroes of random sizes, small and cluster-straddling, some at the very end.</summary>
    private static void RandomOps(BlockImage image, byte[] model, Random rng, int count)
    {
        for (int i = 0; i < count; i++)
        {
            int length = rng.Next(4) == 0 ? rng.Next(1, 4 * Cluster) : rng.Next(1, 4096);
            length = Math.Min(length, model.Length);
            long offset = rng.Next(8) == 0 ? model.Length - length : rng.NextInt64(0, model.Length - length + 1);
            switch (rng.Next(3))
            {
                case 0:
                    Assert.Equal(model.AsSpan((int)offset, length).ToArray(), ReadAt(image, offset, length));
                    break;
                case 1:
                    var data = Random(length, rng.Next());
                    image.Write(data, offset);
                    data.CopyTo(model, offset);
                    break;
                default:
                    image.WriteZeroes(offset, length);
                    model.AsSpan((int)offset, length).Clear();
                    break;
            }
        }
    }

    private static byte[] ReadAt(BlockImage image, long offset, int length)
    {
        var b = new byte[length];
        Assert.Equal(length, image.Read(b, offset));
        return b;
    }

    private static byte[] ReadAll(BlockImage image) => ReadAt(image, 0, (int)image.SizeBytes);

    private static byte[] Random(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static void CopyWithoutLock(string from, string to) => Assert.Equal(0, Run("cp", "--sparse=always", from, to).ExitCode);

    private static (int ExitCode, string Output) Run(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = new Process { StartInfo = start };
        var stderr = new System.Text.StringBuilder();
        p.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        p.Start();
        p.BeginErrorReadLine();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        lock (stderr)
        {
            return (p.ExitCode, stdout + stderr);
        }
    }

    private sealed class AsyncDisposableSystem : IAsyncDisposable
    {
        public ActorSystem System { get; } = ActorSystem.Create("cow-test");

        public async ValueTask DisposeAsync() => await System.TerminateAsync().WaitAsync(TimeSpan.FromSeconds(5));
    }
}

/// <summary>Needs mkfs.ext4 and e2fsck on PATH (package e2fsprogs): skipped without them, failed under CI.</summary>
public sealed class Ext4ToolsFactAttribute() : DependencyFactAttribute(MissingTools())
{
    private static string? MissingTools()
    {
        string[] dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return new[] { "mkfs.ext4", "e2fsck" }.All(t => dirs.Any(d => File.Exists(Path.Combine(d, t))))
            ? null
            : "mkfs.ext4 or e2fsck not on PATH (apt-get install e2fsprogs)";
    }
}
