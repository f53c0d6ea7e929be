using Emulator.Devices.Bus;
using Emulator.Machine.Runtime;
using Emulator.X86;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

public sealed class LifecycleTests
{
    private const ulong Code = 0x10000, Counter = 0x200000, Marker = 0x200100;

    /// <summary>A port device whose writes throw: a buggy device model.</summary>
    private sealed class FaultyDevice : IIoDevice
    {
        public string Name => "faulty";

        public ulong Read(ulong offset, int size) => 0x5a;

        public void Write(ulong offset, int size, ulong value) => throw new InvalidOperationException("device bug");
    }

    private static VirtualMachine NewMachine(Action<Assembler> program, params DeviceSpec[] devices)
    {
        var m = new VirtualMachine("test", 16 << 20, 1, devices);
        var a = new Assembler(64);
        program(a);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), Code);
        ms.ToArray().CopyTo(m.Memory.Span(Code, (int)ms.Length));
        CpuSetup.EnterFlat(m.Cpus[0], 64, Code, 0x80000);
        return m;
    }

    /// <summary>The guest adds one to the counter at <see cref="Counter"/>, forever.</summary>
    private static void CountForever(Assembler a)
    {
        var loop = a.CreateLabel();
        a.Label(ref loop);
        a.inc(__qword_ptr[Counter]);
        a.jmp(loop);
    }

    private static ulong Read64(VirtualMachine m, ulong pa) => BitConverter.ToUInt64(m.Memory.Span(pa, 8));

    [Fact]
    public async Task PauseStopsGuestTimeAndExecutionAndResumeContinues()
    {
        await using var m = NewMachine(CountForever);
        Assert.Equal(MachineState.Running, m.Start());
        Assert.True(await Poll.Eventually(() => Read64(m, Counter) > 0), "the guest never ran");
        Assert.Equal(MachineState.Paused, m.Pause());
        ulong counter = Read64(m, Counter);
        ulong tsc = m.Clock.Tsc;
        ulong retired = m.Cpus[0].S.InstructionCount;
        await Task.Delay(200); // however long the pause lasts, nothing may move in it
        Assert.Equal(counter, Read64(m, Counter));
        Assert.Equal(tsc, m.Clock.Tsc);
        Assert.Equal(retired, m.Cpus[0].S.InstructionCount);

        Assert.Equal(MachineState.Running, m.Resume());
        Assert.True(await Poll.Eventually(() => Read64(m, Counter) > counter), "the guest does not run again after resume");
        Assert.True(m.Clock.Tsc > tsc);
        m.Stop(new MachineExit(MachineExitReason.Stopped, "test"));
        Assert.Equal(MachineExitReason.Stopped, (await m.Exited.WaitAsync(TimeSpan.FromSeconds(10))).Reason);
    }

    /// <summary>
    /// A vCPU that cannot take the pause (its thread held in an action here) makes the pause fail,
    /// naming it, and the machine runs on: a snapshot must never see a "paused" machine with a
    /// vCPU still running. Once the vCPU is free, the pause succeeds.
    /// </summary>
    [Fact]
    public async Task APauseAVcpuDoesNotTakeFailsAndTheMachineRunsOn()
    {
        await using var m = NewMachine(CountForever);
        m.PauseTimeout = TimeSpan.FromMilliseconds(300);
        Assert.Equal(MachineState.Running, m.Start());
        Assert.True(await Poll.Eventually(() => Read64(m, Counter) > 0), "the guest never ran");
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        var held = Task.Run(() => m.OnVcpuThread(0, _ =>
        {
            holding.Set();
            release.Wait();
        }));
        Assert.True(holding.Wait(TimeSpan.FromMinutes(1)), "the vCPU thread never ran the action");

        var e = Assert.Throws<MachinePauseTimeoutException>(() => m.Pause());
        Assert.Equal([0], e.Vcpus);
        Assert.Contains("keeps running", e.Message);
        Assert.Equal(MachineState.Running, m.State);

        release.Set();
        await held;
        ulong counter = Read64(m, Counter);
        Assert.True(await Poll.Eventually(() => Read64(m, Counter) > counter), "the guest does not run after the failed pause");
        m.PauseTimeout = TimeSpan.FromSeconds(10);
        Assert.Equal(MachineState.Paused, m.Pause());
        m.Stop(new MachineExit(MachineExitReason.Stopped, "test"));
        Assert.Equal(MachineExitReason.Stopped, (await m.Exited.WaitAsync(TimeSpan.FromSeconds(10))).Reason);
    }

    [Fact]
    public async Task RequestsTheStateForbidsAreRefused()
    {
        await using var m = NewMachine(a => a.hlt());
        var e = Assert.Throws<MachineStateException>(() => m.Resume());
        Assert.Equal(MachineState.Created, e.State);
        m.Start();
        Assert.Throws<MachineStateException>(() => m.Start());
        m.Stop(new MachineExit(MachineExitReason.Stopped, "test"));
        await m.Exited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Throws<MachineStateException>(() => m.Pause());
        Assert.Equal(MachineState.Stopped, m.State);
    }

    [Fact]
    public async Task AThrowingDeviceIsSupervisedAndTheGuestGoesOn()
    {
        await using var m = NewMachine(
            a =>
            {
                a.mov(al, 1);
                a.@out(0x99, al); // the device throws
                a.@in(al, 0x99); // and still answers afterwards
                a.mov(__byte_ptr[Marker], al);
                a.hlt();
            },
            new DeviceSpec("faulty", _ => new FaultyDevice(), IoRange.Port(0x99, 1)));
        m.Start();
        await Poll.Eventually(() => m.Memory.Span(Marker, 1)[0] != 0);

        Assert.Equal(0x5a, m.Memory.Span(Marker, 1)[0]);
        Assert.True(m.DeviceFailures >= 1);
        Assert.Equal(MachineState.Running, m.State);
    }

    [Fact]
    public async Task ATripleFaultStopsTheMachineWithAClearError()
    {
        await using var m = NewMachine(a =>
        {
            a.xor(ecx, ecx);
            a.div(ecx); // #DE with no IDT: #GP, then a double fault, then a triple fault
        });
        m.Start();
        var exit = await m.Exited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(MachineExitReason.Failed, exit.Reason);
        Assert.Contains("triple fault", exit.Detail);
        Assert.NotEqual(0, exit.ExitCode);
    }
}
