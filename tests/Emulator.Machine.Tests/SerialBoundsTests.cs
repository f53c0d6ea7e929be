using Emulator.Devices.Bus;
using Emulator.Devices.Serial;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.X86;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// The console's buffers are bounded whoever does not read: guest output waiting for a client
/// drops its oldest bytes and counts them; input waiting for a guest that does not read its UART
/// is capped, dropped and counted by <see cref="SerialLine.Send"/>, held back by
/// <see cref="SerialLine.SendAsync"/> until the guest reads.
/// </summary>
public sealed class SerialBoundsTests
{
    private const ulong Code = 0x10000;

    /// <summary>A machine with COM1 on a <see cref="SerialLine"/>, running <paramref name="program"/> (not started).</summary>
    private static (VirtualMachine Vm, SerialLine Line) Machine(Action<Assembler> program)
    {
        var line = new SerialLine();
        var vm = new VirtualMachine("serial", 16 << 20, 1, [new DeviceSpec("uart0", _ => new Serial16550(NullInterruptLine.Instance, line.Output), IoRange.Port(PcMachine.Com1, 8))]);
        var a = new Assembler(64);
        program(a);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), Code);
        ms.ToArray().CopyTo(vm.Memory.Span(Code, (int)ms.Length));
        CpuSetup.EnterFlat(vm.Cpus[0], 64, Code, 0x80000);
        line.Connect(vm);
        return (vm, line);
    }

    [Fact]
    public async Task OutputForAReaderThatNeverReadsStaysUnderTheBoundAndCountsWhatItDrops()
    {
        var (vm, line) = Machine(a =>
        {
            var loop = a.CreateLabel();
            a.mov(dx, PcMachine.Com1);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.@out(dx, al);
            a.inc(eax);
            a.jmp(loop);
        });
        await using var _ = vm;
        using var __ = line;
        var buffer = new ConsoleOutputBuffer(64 * 1024);
        long produced = 0;
        using var counting = line.Listen(bytes => Interlocked.Add(ref produced, bytes.Length));
        using var listening = line.Listen(bytes => buffer.Write(bytes.Span));
        vm.Start();
        Assert.True(await Poll.Eventually(() => buffer.Dropped > 4 * buffer.Capacity), $"the guest wrote only {Interlocked.Read(ref produced)} bytes");
        vm.Stop(new MachineExit(MachineExitReason.Stopped, "test"));
        await vm.Exited.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(buffer.Capacity, buffer.Buffered);
        Assert.Equal(Interlocked.Read(ref produced), buffer.Dropped + buffer.Buffered);

        // What is left is the newest output, in order, and the first read says how much came before it.
        var chunk = await buffer.ReadAsync(int.MaxValue, CancellationToken.None);
        Assert.Equal(buffer.Capacity, chunk.Data.Length);
        Assert.Equal(buffer.Dropped, chunk.DroppedBefore);
        for (int i = 1; i < chunk.Data.Length; i++)
        {
            Assert.Equal((byte)(chunk.Data[i - 1] + 1), chunk.Data[i]);
        }

        Assert.Equal(0, buffer.Buffered);
    }

    [Fact]
    public async Task InputForAGuestThatDoesNotReadIsBounded()
    {
        var (vm, line) = Machine(a => a.hlt());
        await using var _ = vm;
        using var __ = line;

        // Never started: the guest reads nothing; the UART's 16-byte FIFO takes the first bytes.
        line.Send(new byte[1 << 20]);
        Assert.True(line.PendingInput <= SerialLine.InputCapacity);
        Assert.Equal((1 << 20) - SerialLine.InputCapacity, line.InputDropped);

        using var cancel = new CancellationTokenSource();
        var waiting = line.SendAsync(new byte[200 * 1024], cancel.Token);
        Assert.False(waiting.IsCompleted, "input beyond the bound was accepted for a guest that reads nothing");
        Assert.True(line.PendingInput <= SerialLine.InputCapacity);
        Assert.Equal((1 << 20) - SerialLine.InputCapacity, line.InputDropped);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task InputHeldBackForAGuestGoesInAsItReads()
    {
        const ulong Received = 0x200000;
        var (vm, line) = Machine(a =>
        {
            var loop = a.CreateLabel();
            var empty = a.CreateLabel();
            a.Label(ref loop);
            a.mov(dx, PcMachine.Com1 + 5); // LSR: bit 0, data ready
            a.@in(al, dx);
            a.test(al, 1);
            a.jz(empty);
            a.mov(dx, PcMachine.Com1);
            a.@in(al, dx);
            a.inc(__qword_ptr[Received]);
            a.Label(ref empty);
            a.jmp(loop);
        });
        await using var _ = vm;
        using var __ = line;
        const int Sent = 3 * SerialLine.InputCapacity;
        var sending = line.SendAsync(new byte[Sent]);
        Assert.False(sending.IsCompleted);
        vm.Start();
        await sending.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(await Poll.Eventually(() => BitConverter.ToUInt64(vm.Memory.Span(Received, 8)) == Sent), "the guest did not get every byte");
        Assert.Equal(0, line.InputDropped);
    }
}
