using Emulator.Actors;
using Emulator.Devices.Bus;
using Emulator.Devices.Tests;
using Emulator.Devices.Virtio;
using Emulator.Machine.Block;
using Emulator.Machine.Runtime;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Machine.Tests;

/// <summary>
/// virtio-blk behind its actors, on a real temporary image file: the device in a DeviceActor, the
/// image in a BlockBackendActor, registers accessed the way a vCPU does (Call into the device's
/// actor), completions posted back into the device's actor.
/// </summary>
public sealed class BlockBackendTests : IAsyncDisposable
{
    private const int Sectors = 128;
    private const ulong Features = Version1 | IndirectDesc | EventIdx | (1UL << FeatureFlush) | (1UL << FeatureDiscard) | (1UL << FeatureWriteZeroes);

    private readonly string path = Path.Combine(Path.GetTempPath(), $"emu-blk-{Guid.NewGuid():N}.img");
    private readonly ActorSystem system = ActorSystem.Create("blk-test");
    private readonly GuestMemory ram = new(1 << 20);
    private ActorRef<BlockBackendMessage>? backend;

    public BlockBackendTests()
    {
        File.WriteAllBytes(path, Pattern(Sectors * SectorSize, 11));
    }

    public async ValueTask DisposeAsync()
    {
        await system.TerminateAsync().WaitAsync(TimeSpan.FromSeconds(5));
        ram.Dispose();
        File.SetAttributes(path, FileAttributes.Normal);
        File.Delete(path);
    }

    private VirtioTestDriver Start(bool readOnly = false, BlockCacheMode cache = BlockCacheMode.Writeback, ulong features = Features)
    {
        var image = BlockImage.OpenRaw(path, readOnly, cache);
        backend = system.Spawn(BlockBackendActor.Props(image), "disk0");
        ActorRef<DeviceMessage>? deviceActor = null;
        var device = new Blk(new BlockBackendClient(backend, image, () => deviceActor!));
        var transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), NullInterruptLine.Instance, "virtio0");
        deviceActor = system.Spawn(Props.Create<DeviceMessage>(() => new DeviceActor()), "virtio0");
        var driver = new VirtioTestDriver(new ActorRegisters(deviceActor, transport), ram);
        driver.Initialize(features);
        return driver;
    }

    [Fact]
    public void WritesAndReadsRoundTripThroughTheImageFile()
    {
        var driver = Start();
        var data = Pattern(4 * SectorSize, 77);
        var w = driver.Submit(TypeOut, 10, dataOut: data);
        Assert.Equal((w.Head, 1u), driver.WaitUsed());
        Assert.Equal(StatusOk, driver.StatusOf(w));

        var r = driver.Submit(TypeIn, 10, dataInLength: 4 * SectorSize, indirect: true);
        Assert.Equal((r.Head, (uint)(4 * SectorSize + 1)), driver.WaitUsed());
        Assert.Equal(data, driver.DataOf(r));

        Assert.Equal(data, ReadFile(10 * SectorSize, data.Length));
    }

    [Fact]
    public void ManyRequestsInFlightAllComplete()
    {
        var driver = Start();
        var subs = new List<BlkSubmission>();
        for (int i = 0; i < 8; i++)
        {
            // Indirect: 8 requests of 3 buffers would not fit 16 direct descriptors.
            subs.Add(driver.Submit(TypeIn, (ulong)(i * 8), dataInLength: 8 * SectorSize, indirect: true, notify: false));
        }

        driver.Notify();
        var heads = new HashSet<uint>();
        for (int i = 0; i < 8; i++)
        {
            heads.Add(driver.WaitUsed().Id);
        }

        Assert.Equal(subs.Select(s => (uint)s.Head).ToHashSet(), heads);
        var image = Pattern(Sectors * SectorSize, 11);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(StatusOk, driver.StatusOf(subs[i]));
            Assert.Equal(image.AsSpan(i * 8 * SectorSize, 8 * SectorSize).ToArray(), driver.DataOf(subs[i]));
        }
    }

    [Fact]
    public void FlushCompletesOk()
    {
        var driver = Start();
        driver.Submit(TypeOut, 0, dataOut: Pattern(SectorSize, 1));
        driver.WaitUsed();
        var f = driver.Submit(TypeFlush, 0);
        Assert.Equal((f.Head, 1u), driver.WaitUsed());
        Assert.Equal(StatusOk, driver.StatusOf(f));
    }

    [Fact]
    public void WritethroughWritesComplete()
    {
        var driver = Start(cache: BlockCacheMode.Writethrough);
        var data = Pattern(SectorSize, 5);
        var w = driver.Submit(TypeOut, 3, dataOut: data);
        driver.WaitUsed();
        Assert.Equal(StatusOk, driver.StatusOf(w));
        Assert.Equal(data, ReadFile(3 * SectorSize, SectorSize));
    }

    [Fact]
    public void DiscardAndWriteZeroesReadBackZeroes()
    {
        var driver = Start();
        var d = driver.Submit(TypeDiscard, 0, dataOut: DiscardSegment(4, 2));
        driver.WaitUsed();
        var z = driver.Submit(TypeWriteZeroes, 0, dataOut: DiscardSegment(8, 3));
        driver.WaitUsed();
        Assert.Equal(StatusOk, driver.StatusOf(d));
        Assert.Equal(StatusOk, driver.StatusOf(z));
        var r = driver.Submit(TypeIn, 4, dataInLength: 7 * SectorSize);
        driver.WaitUsed();
        var got = driver.DataOf(r);
        Assert.Equal(new byte[2 * SectorSize], got[..(2 * SectorSize)]);
        Assert.Equal(Pattern(Sectors * SectorSize, 11).AsSpan(6 * SectorSize, 2 * SectorSize).ToArray(), got[(2 * SectorSize)..(4 * SectorSize)]);
        Assert.Equal(new byte[3 * SectorSize], got[(4 * SectorSize)..]);
        Assert.Equal(new byte[3 * SectorSize], ReadFile(8 * SectorSize, 3 * SectorSize));
    }

    [Fact]
    public void BeyondTheEndGetsIoErr()
    {
        var driver = Start();
        var r = driver.Submit(TypeIn, Sectors, dataInLength: SectorSize);
        Assert.Equal((r.Head, 1u), driver.WaitUsed());
        Assert.Equal(StatusIoErr, driver.StatusOf(r));
    }

    [Fact]
    public void ReadOnlyImageOffersRoAndRefusesWrites()
    {
        File.SetAttributes(path, FileAttributes.ReadOnly);
        var driver = Start(readOnly: true, features: Features | (1UL << FeatureRo));
        Assert.NotEqual(0UL, driver.DeviceFeatures() & (1UL << FeatureRo));
        var w = driver.Submit(TypeOut, 0, dataOut: Pattern(SectorSize, 9));
        driver.WaitUsed();
        Assert.Equal(StatusIoErr, driver.StatusOf(w));
        var r = driver.Submit(TypeIn, 0, dataInLength: SectorSize);
        driver.WaitUsed();
        Assert.Equal(StatusOk, driver.StatusOf(r));
        Assert.Equal(Pattern(SectorSize, 11), ReadFile(0, SectorSize));
    }

    [Fact]
    public async Task BackendRefusesWritesToReadOnlyImagesAndOutOfRangeRequests()
    {
        var image = BlockImage.OpenRaw(path, readOnly: true);
        var actor = system.Spawn(BlockBackendActor.Props(image), "direct");
        var write = await actor.Ask<BlockCompletion>(r => new BlockBackendMessage.Submit(new BlockRequest(BlockOperation.Write, 0, SectorSize, new byte[SectorSize]), r), TimeSpan.FromSeconds(5));
        Assert.Equal(BlockStatus.ReadOnly, write.Status);
        var read = await actor.Ask<BlockCompletion>(r => new BlockBackendMessage.Submit(new BlockRequest(BlockOperation.Read, (ulong)(Sectors * SectorSize) - 256, SectorSize), r), TimeSpan.FromSeconds(5));
        Assert.Equal(BlockStatus.OutOfRange, read.Status);
        var ok = await actor.Ask<BlockCompletion>(r => new BlockBackendMessage.Submit(new BlockRequest(BlockOperation.Read, SectorSize, 16), r), TimeSpan.FromSeconds(5));
        Assert.Equal(Pattern(Sectors * SectorSize, 11).AsSpan(SectorSize, 16).ToArray(), ok.Data);
        Assert.Equal(0, await actor.Ask<int>(r => new BlockBackendMessage.GetInFlight(r), TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void GetIdThroughTheActors()
    {
        var driver = Start();
        var r = driver.Submit(TypeGetId, 0, dataInLength: 20);
        Assert.Equal((r.Head, 21u), driver.WaitUsed());
        Assert.StartsWith("emu-virtio-blk", System.Text.Encoding.ASCII.GetString(driver.DataOf(r)));
    }

    [Fact]
    public void MissingImageIsAClearError()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"emu-no-such-{Guid.NewGuid():N}.img");
        var e = Assert.Throws<BlockImageException>(() => BlockImage.OpenRaw(missing));
        Assert.Equal(missing, e.Path);
        Assert.Contains(missing, e.Message);
        var dir = Assert.Throws<BlockImageException>(() => BlockImage.OpenRaw(Path.GetTempPath()));
        Assert.Contains("directory", dir.Message);
    }

    [Fact]
    public void AnImageInUseForWritingCannotBeOpenedTwice()
    {
        using var first = BlockImage.OpenRaw(path);
        var e = Assert.Throws<BlockImageException>(() => BlockImage.OpenRaw(path));
        Assert.Equal(path, e.Path);
    }

    /// <summary>Closes the image (stops its actor: the file is locked while open) and reads it.</summary>
    private byte[] ReadFile(long offset, int length)
    {
        if (backend is not null)
        {
            system.Stop(backend);
            Assert.True(backend.WhenTerminated.Wait(TimeSpan.FromSeconds(5)));
        }

        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var b = new byte[length];
        f.Position = offset;
        f.ReadExactly(b);
        return b;
    }

    /// <summary>Register accesses as a vCPU makes them: a synchronous Call into the device's actor.</summary>
    private sealed class ActorRegisters(ActorRef<DeviceMessage> actor, IIoDevice target) : IIoDevice
    {
        public string Name => target.Name;

        public ulong Read(ulong offset, int size) =>
            actor.Call<ulong>(r => new DeviceMessage.Access(target, false, offset, size, 0, r), TimeSpan.FromSeconds(5));

        public void Write(ulong offset, int size, ulong value) =>
            actor.Call<ulong>(r => new DeviceMessage.Access(target, true, offset, size, value, r), TimeSpan.FromSeconds(5));
    }
}
