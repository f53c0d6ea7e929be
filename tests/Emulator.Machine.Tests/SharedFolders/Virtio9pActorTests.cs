using System.Buffers.Binary;
using System.Text;
using Emulator.Actors;
using Emulator.Devices.Bus;
using Emulator.Devices.Tests;
using Emulator.Devices.Virtio;
using Emulator.Devices.Virtio9p;
using Emulator.Machine.Runtime;
using Emulator.Machine.SharedFolders;
using Emulator.X86.Memory;
using Xunit;

namespace Emulator.Machine.Tests.SharedFolders;

/// <summary>
/// virtio-9p behind its actors, driven through its registers and a virtqueue in guest RAM as the
/// Linux driver does: the device in a DeviceActor, the server in a SharedFolderActor. A snapshot
/// of the device (queue state through the transport, fids by path) restores into a new device
/// and server: open fids read on, a fid whose file vanished meanwhile answers ESTALE.
/// </summary>
public sealed class Virtio9pActorTests : IAsyncDisposable
{
    private const ulong Features = VirtioBlkTestKit.Version1 | VirtioBlkTestKit.IndirectDesc | VirtioBlkTestKit.EventIdx | (1UL << Virtio9pRegisters.FeatureMountTag);
    private readonly string share = Path.Combine(Path.GetTempPath(), $"emu-9p-actor-{Guid.NewGuid():N}");
    private readonly ActorSystem system = ActorSystem.Create("9p-test");
    private readonly GuestMemory ram = new(1 << 20);
    private readonly SwitchableRegisters registers = new();
    private ushort nextTag = 1;
    private int instances;

    public Virtio9pActorTests()
    {
        Directory.CreateDirectory(share);
        File.WriteAllText(Path.Combine(share, "kept.txt"), "still here after the restore");
        File.WriteAllText(Path.Combine(share, "gone.txt"), "deleted while saved");
    }

    public async ValueTask DisposeAsync()
    {
        await system.TerminateAsync().WaitAsync(TimeSpan.FromSeconds(5));
        ram.Dispose();
        Directory.Delete(share, recursive: true);
    }

    /// <summary>A device, its transport and both actors, on the shared RAM; the registers the driver uses now lead to it.</summary>
    private (VirtioMmioTransport Transport, ActorRef<DeviceMessage> Actor, Virtio9p Device) Build()
    {
        int n = instances++;
        var backend = system.Spawn(SharedFolderActor.Props(new P9Server(share, readOnly: false)), $"share{n}");
        ActorRef<DeviceMessage>? deviceActor = null;
        var device = new Virtio9p(new SharedFolderClient(backend, () => deviceActor!), "host0");
        var transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), NullInterruptLine.Instance, $"virtio{n}");
        deviceActor = system.Spawn(Props.Create<DeviceMessage>(() => new DeviceActor()), $"virtio{n}");
        registers.Target = new ActorRegisters(deviceActor, transport);
        return (transport, deviceActor, device);
    }

    /// <summary>Sends one T-message in a chain (request readable, room for the reply writable) and returns the R-message.</summary>
    private static byte[] Send(VirtioTestDriver driver, byte[] request, int room = 8192)
    {
        ulong input = driver.AllocBytes(request), output = driver.Alloc(room);
        ushort head = driver.AddAndNotify((input, (uint)request.Length, false), (output, (uint)room, true));
        var (id, length) = driver.WaitUsed();
        Assert.Equal(head, (ushort)id);
        return driver.Ram.Span(output, (int)length).ToArray();
    }

    private byte[] Ok(VirtioTestDriver driver, byte type, Action<P9Writer> fields)
    {
        var w = new P9Writer(type, nextTag++);
        fields(w);
        var reply = Send(driver, w.Finish());
        Assert.True(reply[4] == type + 1, $"message {type} answered {reply[4]} (errno {(reply[4] == P9Type.Rlerror ? BinaryPrimitives.ReadUInt32LittleEndian(reply.AsSpan(7)) : 0)})");
        return reply;
    }

    private uint Errno(VirtioTestDriver driver, byte type, Action<P9Writer> fields)
    {
        var w = new P9Writer(type, nextTag++);
        fields(w);
        var reply = Send(driver, w.Finish());
        Assert.Equal(P9Type.Rlerror, reply[4]);
        return BinaryPrimitives.ReadUInt32LittleEndian(reply.AsSpan(7));
    }

    private static string ReadData(byte[] rread) => Encoding.UTF8.GetString(rread, 11, (int)BinaryPrimitives.ReadUInt32LittleEndian(rread.AsSpan(7)));

    [Fact]
    public void TheConfigurationSpaceHoldsTheTagAndMessagesTravelTheQueue()
    {
        var (_, _, device) = Build();
        var driver = new VirtioTestDriver(registers, ram);
        Assert.Equal(Virtio9pRegisters.DeviceType, driver.Reg(VirtioMmioRegisters.DeviceId));
        Assert.Equal(1ul, driver.DeviceFeatures() & 1);
        driver.Initialize(Features);
        Assert.Equal(5u, driver.Reg(VirtioMmioRegisters.Config) & 0xffff);
        Assert.Equal("host0", Encoding.ASCII.GetString([.. Enumerable.Range(0, 5).Select(i => (byte)registers.Read(VirtioMmioRegisters.Config + 2 + (ulong)i, 1))]));

        Ok(driver, P9Type.Tversion, w => w.U32(65536).Str(P9Type.Version));
        Ok(driver, P9Type.Tattach, w => w.U32(1).U32(P9Type.NoFid).Str("root").Str("").U32(0));
        Ok(driver, P9Type.Twalk, w => w.U32(1).U32(2).U16(1).Str("kept.txt"));
        Ok(driver, P9Type.Tlopen, w => w.U32(2).U32(0));
        Assert.Equal("still here after the restore", ReadData(Ok(driver, P9Type.Tread, w => w.U32(2).U64(0).U32(4096))));

        // A chain whose size field runs past its readable bytes cannot be answered: returned empty.
        var bad = new P9Writer(P9Type.Tclunk, 9).U32(2).Finish();
        BinaryPrimitives.WriteUInt32LittleEndian(bad, 4096);
        ulong input = driver.AllocBytes(bad), output = driver.Alloc(64);
        ushort head = driver.AddAndNotify((input, (uint)bad.Length, false), (output, 64, true));
        var used = driver.WaitUsed();
        Assert.Equal((head, 0u), ((ushort)used.Id, used.Len));
        Assert.Equal(1, device.MalformedChains);
        Assert.Equal("still here after the restore", ReadData(Ok(driver, P9Type.Tread, w => w.U32(2).U64(0).U32(4096))));
    }

    [Fact]
    public void ASnapshotCarriesTheQueuesAndTheFidsByPath()
    {
        var (transport, actor, device) = Build();
        var driver = new VirtioTestDriver(registers, ram);
        driver.Initialize(Features);
        Ok(driver, P9Type.Tversion, w => w.U32(65536).Str(P9Type.Version));
        Ok(driver, P9Type.Tattach, w => w.U32(1).U32(P9Type.NoFid).Str("root").Str("").U32(0));
        Ok(driver, P9Type.Twalk, w => w.U32(1).U32(2).U16(1).Str("kept.txt"));
        Ok(driver, P9Type.Tlopen, w => w.U32(2).U32(0));
        Ok(driver, P9Type.Twalk, w => w.U32(1).U32(3).U16(1).Str("gone.txt"));
        Assert.Equal(0, device.InFlight);

        byte[] saved = actor.Call<byte[]>(r => new DeviceMessage.Event(() => r.Reply(VirtioMmioTransport.SavedState.Save(transport))), TimeSpan.FromSeconds(30));
        File.Delete(Path.Combine(share, "gone.txt"));

        // A new device and server (the old ones stay idle), the saved state put in.
        var (transport2, actor2, device2) = Build();
        actor2.Call<bool>(r => new DeviceMessage.Event(() =>
        {
            VirtioMmioTransport.SavedState.Restore(transport2, saved);
            r.Reply(true);
        }), TimeSpan.FromSeconds(30));

        // The driver goes on where it was: same rings, same indices, same fids.
        Assert.Equal("here after the restore", ReadData(Ok(driver, P9Type.Tread, w => w.U32(2).U64(6).U32(4096))));
        Assert.Equal(P9Errno.ESTALE, Errno(driver, P9Type.Tgetattr, w => w.U32(3).U64(0x7ff)));
        Ok(driver, P9Type.Tclunk, w => w.U32(3));
        Ok(driver, P9Type.Twalk, w => w.U32(1).U32(4).U16(1).Str("kept.txt"));
        Assert.Equal(0, device2.MalformedChains);
    }

    private sealed class SwitchableRegisters : IIoDevice
    {
        public IIoDevice? Target { get; set; }

        public string Name => Target!.Name;

        public ulong Read(ulong offset, int size) => Target!.Read(offset, size);

        public void Write(ulong offset, int size, ulong value) => Target!.Write(offset, size, value);
    }

    private sealed class ActorRegisters(ActorRef<DeviceMessage> actor, IIoDevice target) : IIoDevice
    {
        public string Name => target.Name;

        public ulong Read(ulong offset, int size) =>
            actor.Call<ulong>(r => new DeviceMessage.Access(target, false, offset, size, 0, r), TimeSpan.FromSeconds(5));

        public void Write(ulong offset, int size, ulong value) =>
            actor.Call<ulong>(r => new DeviceMessage.Access(target, true, offset, size, value, r), TimeSpan.FromSeconds(5));
    }
}
