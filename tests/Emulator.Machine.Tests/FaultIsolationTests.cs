using Emulator.Devices.Bus;
using Emulator.Machine.Block;
using Emulator.Machine.Runtime;
using Emulator.X86;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// A fault in one machine's device, timer or disk backend stops that machine, with a reason that
/// names the part and the exception, and keeps its state; a second machine in the same process
/// runs on. Before, an exception on the timer thread or an I/O thread ended the process (the test
/// host with it), and one in a device's event only restarted the device, leaving the guest waiting.
/// </summary>
public sealed class FaultIsolationTests : IDisposable
{
    private const ulong Code = 0x10000, Counter = 0x200000;
    private const byte PokePort = 0x99;
    private readonly string imagePath = Path.Combine(Path.GetTempPath(), $"emu-fault-{Guid.NewGuid():N}.img");

    public FaultIsolationTests() => File.WriteAllBytes(imagePath, new byte[64 * 1024]);

    public void Dispose() => File.Delete(imagePath);

    /// <summary>A port device that submits one disk read per write and hands the completion to <paramref name="completed"/>.</summary>
    private sealed class DiskPoker(IBlockBackend disk, Action<BlockCompletion> completed) : IIoDevice
    {
        public string Name => "poker";

        public ulong Read(ulong offset, int size) => 0;

        public void Write(ulong offset, int size, ulong value) => disk.Submit(new BlockRequest(BlockOperation.Read, 0, 512), completed);
    }

    /// <summary>A device with a timer that fires 1 ms of guest time after start and throws.</summary>
    private sealed class BadTicker : IIoDevice
    {
        public BadTicker(ITimerService timers) => timers.Create("tick", _ => throw new InvalidOperationException("tick bug")).Arm(1_000_000);

        public string Name => "ticker";

        public ulong Read(ulong offset, int size) => 0;

        public void Write(ulong offset, int size, ulong value)
        {
        }
    }

    /// <summary>A machine whose guest writes the poke port once, then counts at <see cref="Counter"/> for ever.</summary>
    private static VirtualMachine Counting(string name, params DeviceSpec[] devices)
    {
        var m = new VirtualMachine(name, 16 << 20, 1, devices);
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        a.mov(al, 1);
        a.@out(PokePort, al);
        a.Label(ref loop);
        a.inc(__qword_ptr[Counter]);
        a.jmp(loop);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), Code);
        ms.ToArray().CopyTo(m.Memory.Span(Code, (int)ms.Length));
        CpuSetup.EnterFlat(m.Cpus[0], 64, Code, 0x80000);
        return m;
    }

    private static ulong Read64(VirtualMachine m, ulong pa) => BitConverter.ToUInt64(m.Memory.Span(pa, 8));

    /// <summary>
    /// Starts a healthy machine beside <paramref name="faulty"/>, waits for the faulty one to stop,
    /// checks its exit, and checks the healthy one still runs guest code afterwards.
    /// </summary>
    private static async Task<MachineExit> FailsAloneAsync(VirtualMachine faulty)
    {
        await using var healthy = Counting("healthy");
        healthy.Start();
        faulty.Start();

        var exit = await faulty.Exited.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(MachineExitReason.Failed, exit.Reason);
        Assert.NotEqual(0, exit.ExitCode);
        Assert.NotNull(exit.Cause);
        Assert.Equal(MachineState.Stopped, faulty.State);
        Assert.Equal(1, faulty.Faults);
        _ = Read64(faulty, Counter); // the stopped machine's RAM is still there to inspect

        ulong before = Read64(healthy, Counter);
        Assert.True(await Poll.Eventually(() => Read64(healthy, Counter) > before), "the healthy machine stopped running");
        Assert.Equal(MachineState.Running, healthy.State);
        Assert.Equal(0, healthy.Faults);
        return exit;
    }

    [Fact]
    public async Task ADeviceWhoseTimerExpiryThrowsStopsOnlyItsMachine()
    {
        await using var faulty = Counting("faulty", new DeviceSpec("ticker", s => new BadTicker(s.Timers), IoRange.Port(0x70, 1)));
        var exit = await FailsAloneAsync(faulty);
        Assert.Contains("device 'ticker'", exit.Detail);
        Assert.Contains("tick bug", exit.Detail);
        Assert.IsType<InvalidOperationException>(exit.Cause);
    }

    [Fact]
    public async Task ATimerCallbackThatThrowsOnTheTimerThreadStopsOnlyItsMachine()
    {
        await using var faulty = Counting("faulty");
        faulty.Timers.Create("raw", _ => throw new InvalidOperationException("raw timer bug")).Arm(1_000_000);
        var exit = await FailsAloneAsync(faulty);
        Assert.Contains("timer 'raw'", exit.Detail);
        Assert.Contains("raw timer bug", exit.Detail);
        Assert.Equal(1, faulty.Timers.Faults);
    }

    [Fact]
    public async Task ADiskCompletionThatThrowsInTheDeviceStopsOnlyItsMachine()
    {
        await using var faulty = Counting("faulty", new DeviceSpec("poker", s =>
        {
            var image = BlockImage.OpenRaw(imagePath);
            var backend = s.Spawn(BlockBackendActor.Props(image), "disk0");
            return new DiskPoker(new BlockBackendClient(backend, image, () => s.Self), _ => throw new InvalidOperationException("completion bug"));
        }, IoRange.Port(PokePort, 1)));
        var exit = await FailsAloneAsync(faulty);
        Assert.Contains("device 'poker'", exit.Detail);
        Assert.Contains("completion bug", exit.Detail);
    }

    [Fact]
    public async Task ADiskBackendFaultOnAnIoThreadStopsOnlyItsMachineAndFailsTheRequest()
    {
        BlockCompletion? seen = null;
        await using var faulty = Counting("faulty", new DeviceSpec("poker", s =>
        {
            var image = BlockImage.OpenRaw(imagePath);
            var backend = s.Spawn(
                BlockBackendActor.Props(image, _ => throw new InvalidOperationException("backend bug"), e => s.Fail("disk backend", e)),
                "disk0");
            return new DiskPoker(new BlockBackendClient(backend, image, () => s.Self), c => seen = c);
        }, IoRange.Port(PokePort, 1)));
        var exit = await FailsAloneAsync(faulty);
        Assert.Contains("poker: disk backend", exit.Detail);
        Assert.Contains("backend bug", exit.Detail);

        // The request itself was answered (an I/O error), so nothing in the device waits for ever.
        Assert.True(await Poll.Eventually(() => seen is not null), "the failed request got no completion");
        Assert.Equal(BlockStatus.IoError, seen!.Status);
    }
}
