using System.Buffers.Binary;
using Emulator.Devices.Bus;
using Emulator.Devices.State;
using Emulator.Devices.Virtio;
using Emulator.Devices.Virtio9p;
using Emulator.X86.Memory;
using Xunit;

namespace Emulator.Devices.Tests;

/// <summary>
/// The virtio-9p device alone, with a backend the test controls: framing checks, replies that do
/// not fit, a reset with a reply outstanding, and the saved fid table's checks.
/// </summary>
public sealed class Virtio9pTests : IDisposable
{
    private const ulong Features = VirtioBlkTestKit.Version1 | (1UL << Virtio9pRegisters.FeatureMountTag);
    private readonly GuestMemory ram = new(1 << 20);
    private readonly HeldBackend backend = new();
    private readonly Devices.Virtio9p.Virtio9p device;
    private readonly VirtioMmioTransport transport;
    private readonly VirtioTestDriver driver;

    public Virtio9pTests()
    {
        device = new Devices.Virtio9p.Virtio9p(backend, "tag");
        transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), NullInterruptLine.Instance);
        driver = new VirtioTestDriver(transport, ram);
        driver.Initialize(Features);
    }

    public void Dispose() => ram.Dispose();

    private (ushort Head, ulong Output) Submit(byte[] request, uint room)
    {
        ulong input = driver.AllocBytes(request), output = driver.Alloc((int)room);
        return (driver.AddAndNotify((input, (uint)request.Length, false), (output, room, true)), output);
    }

    [Fact]
    public void AMessageReachesTheBackendAndItsReplyTheGuest()
    {
        var request = new P9Writer(P9Type.Tclunk, 5).U32(1).Finish();
        var (head, output) = Submit(request, 64);
        Assert.Equal(request, backend.Requests.Single().Request);
        Assert.Equal(64, backend.Requests.Single().Capacity);
        Assert.Equal(1, device.InFlight);
        Assert.False(driver.TryGetUsed(out _, out _));

        backend.Answer(0, new P9Writer(P9Type.Tclunk + 1, 5).Finish());
        Assert.True(driver.TryGetUsed(out uint id, out uint length));
        Assert.Equal((head, 7u), ((ushort)id, length));
        Assert.Equal(P9Type.Tclunk + 1, ram.Span(output + 4, 1)[0]);
        Assert.Equal(0, device.InFlight);
    }

    [Theory]
    [InlineData(3u, 64u)] // shorter than a header
    [InlineData(4096u, 64u)] // a size beyond the readable bytes
    [InlineData(11u, 8u)] // no room for an Rlerror
    public void ChainsThatCannotBeFramedAreReturnedEmpty(uint size, uint room)
    {
        var request = new P9Writer(P9Type.Tclunk, 5).U32(1).Finish();
        BinaryPrimitives.WriteUInt32LittleEndian(request, size);
        var (head, _) = Submit(size < 7 ? request[..(int)size] : request, room);
        Assert.Empty(backend.Requests);
        Assert.True(driver.TryGetUsed(out uint id, out uint length));
        Assert.Equal((head, 0u), ((ushort)id, length));
        Assert.Equal(1, device.MalformedChains);
    }

    [Fact]
    public void AReplyLargerThanTheGuestsBuffersBecomesEio()
    {
        var (_, output) = Submit(new P9Writer(P9Type.Tread, 9).U32(1).U64(0).U32(100).Finish(), 16);
        backend.Answer(0, new P9Writer(P9Type.Tread + 1, 9).U32(100).Bytes(new byte[100]).Finish());
        Assert.True(driver.TryGetUsed(out _, out uint length));
        Assert.Equal(11u, length);
        Assert.Equal(P9Type.Rlerror, ram.Span(output + 4, 1)[0]);
        Assert.Equal(P9Errno.EIO, BinaryPrimitives.ReadUInt32LittleEndian(ram.Span(output + 7, 4)));
    }

    [Fact]
    public void AReplyToARequestFromBeforeAResetIsDropped()
    {
        Submit(new P9Writer(P9Type.Tclunk, 5).U32(1).Finish(), 64);
        driver.Initialize(Features); // status 0, then the driver sets the device up again
        backend.Answer(0, new P9Writer(P9Type.Tclunk + 1, 5).Finish());
        Assert.False(driver.TryGetUsed(out _, out _));
        Assert.Equal(0, device.InFlight);
    }

    [Theory]
    [InlineData("""[{"Fid":1,"Path":"a/../b","OpenFlags":-1}]""")]
    [InlineData("""[{"Fid":1,"Path":"/etc","OpenFlags":-1}]""")]
    [InlineData("""[{"Fid":1,"Path":"a","OpenFlags":-1},{"Fid":1,"Path":"b","OpenFlags":-1}]""")]
    [InlineData("""[{"Fid":1,"Path":"a","OpenFlags":-2}]""")]
    [InlineData("not json")]
    public void ASavedFidTableThatIsNotPlainPathsIsRefused(string fids)
    {
        backend.Session = new P9Session(8192, [new P9SavedFid(1, "a", -1)]);
        var saved = VirtioMmioTransport.SavedState.Save(transport);
        string json = System.Text.Encoding.UTF8.GetString(saved);
        string good = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("""[{"Fid":1,"Path":"a","OpenFlags":-1}]"""));
        Assert.Contains(good, json);
        var bad = System.Text.Encoding.UTF8.GetBytes(json.Replace(good, Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(fids)), StringComparison.Ordinal));
        Assert.Throws<DeviceStateException>(() => VirtioMmioTransport.SavedState.Restore(transport, bad));
        Assert.Null(backend.Restored);

        VirtioMmioTransport.SavedState.Restore(transport, saved);
        Assert.Equal(backend.Session.Fids, backend.Restored!.Fids);
        Assert.Equal(8192u, backend.Restored.Msize);
    }

    [Fact]
    public void EachMessageIsASpanWithItsTypeAndErrno()
    {
        string machine = "trace-9p-" + Guid.NewGuid().ToString("N");
        var spans = new List<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == DeviceTrace.SourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if ((string?)a.GetTagItem(DeviceTrace.MachineIdTag) == machine)
                {
                    lock (spans)
                    {
                        spans.Add(a);
                    }
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var held = new HeldBackend();
        var traced = new Devices.Virtio9p.Virtio9p(held, "tag") { Trace = new DeviceTrace("virtio-9p0", () => machine) };
        var t = new VirtioMmioTransport(traced, new GuestRamAccess(ram), NullInterruptLine.Instance);
        var d = new VirtioTestDriver(t, ram);
        d.Initialize(Features);
        var request = new P9Writer(P9Type.Tgetattr, 3).U32(7).U64(0x7ff).Finish();
        ulong input = d.AllocBytes(request), output = d.Alloc(64);
        d.AddAndNotify((input, (uint)request.Length, false), (output, 64, true));
        held.Answer(0, new P9Writer(P9Type.Rlerror, 3).U32(P9Errno.EBADF).Finish());

        var span = Assert.Single(spans);
        Assert.Equal("virtio-9p T24", span.DisplayName);
        Assert.Equal(24, span.GetTagItem("p9.type"));
        Assert.Equal((long)P9Errno.EBADF, span.GetTagItem("p9.errno"));
        Assert.Equal("virtio-9p0", span.GetTagItem(DeviceTrace.DeviceTag));
    }

    /// <summary>A backend that holds each request until the test answers it.</summary>
    private sealed class HeldBackend : IP9Backend
    {
        public List<(byte[] Request, int Capacity, Action<byte[]> Completed)> Requests { get; } = [];

        public P9Session Session { get; set; } = new(0, []);

        public P9Session? Restored { get; private set; }

        public void Submit(byte[] request, int replyCapacity, Action<byte[]> completed) => Requests.Add((request, replyCapacity, completed));

        public void Answer(int index, byte[] reply) => Requests[index].Completed(reply);

        public P9Session Save() => Session;

        public void Restore(P9Session session) => Restored = session;
    }
}
