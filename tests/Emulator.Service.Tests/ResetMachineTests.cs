using System.Text;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Service.Tests;

/// <summary>ResetMachine (machine.proto): the guest boots again, watchers get a RESET event, and the documented refusals.</summary>
public sealed class ResetMachineTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task ResetMachine_boots_a_running_machine_again_with_a_reset_event_and_refuses_other_states()
    {
        await using var server = await TestServer.StartAsync();
        string kernel = Path.Combine(Path.GetDirectoryName(server.Kernel)!, "booted.elf");
        // The guest waits for a byte at its UART before it prints, so nothing is printed before the
        // console is attached (output is not kept for a console attached later).
        var k = new TestKernel();
        var wait = k.A.CreateLabel();
        k.A.Label(ref wait);
        k.A.mov(dx, TestKernel.Com1 + 5);
        k.A.@in(al, dx);
        k.A.test(al, 1);
        k.A.jz(wait);
        k.A.mov(dx, TestKernel.Com1);
        k.A.@in(al, dx);
        k.Print("booted\n");
        k.Halt();
        await File.WriteAllBytesAsync(kernel, k.Build());

        using GrpcChannel channel = server.Channel();
        var machines = TestServer.Machines(channel);
        var request = server.Tiny("reset-me");
        request.Kernel = kernel;
        await machines.CreateMachineAsync(request);
        var target = new MachineRef { Id = "reset-me" };

        var created = await Assert.ThrowsAsync<RpcException>(() => machines.ResetMachineAsync(target).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, created.StatusCode);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => machines.ResetMachineAsync(new MachineRef { Id = "nobody" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        using var cancel = new CancellationTokenSource(Limit);
        using var watch = machines.WatchMachine(target, cancellationToken: cancel.Token);
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(Service.V1.MachineState.Created, watch.ResponseStream.Current.State);

        await machines.StartMachineAsync(target);
        using var console = machines.AttachConsole(cancellationToken: cancel.Token);
        await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "reset-me", Data = ByteString.CopyFromUtf8("x") });
        var output = new StringBuilder();
        async Task ReadUntil(string text)
        {
            while (!output.ToString().Contains(text, StringComparison.Ordinal))
            {
                Assert.True(await console.ResponseStream.MoveNext(cancel.Token), $"the console ended; output so far: {output}");
                output.Append(console.ResponseStream.Current.Data.ToStringUtf8());
            }
        }

        await ReadUntil("booted\n");
        var reset = await machines.ResetMachineAsync(target);
        Assert.Equal(Service.V1.MachineState.Running, reset.State);
        await console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8("y") });
        await ReadUntil("booted\nbooted\n");

        // Events: RUNNING (started), then the reset, with the state unchanged.
        var events = new List<MachineEvent>();
        while (events.Count < 2)
        {
            Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
            events.Add(watch.ResponseStream.Current);
        }

        Assert.Equal(MachineEventKind.State, events[0].Kind);
        Assert.Equal(Service.V1.MachineState.Running, events[0].State);
        Assert.Equal(MachineEventKind.Reset, events[1].Kind);
        Assert.Equal(Service.V1.MachineState.Running, events[1].State);
        Assert.Contains("control plane", events[1].Detail);

        await machines.StopMachineAsync(target);
        var stopped = await Assert.ThrowsAsync<RpcException>(() => machines.ResetMachineAsync(target).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, stopped.StatusCode);
        await machines.DeleteMachineAsync(target);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_guest_that_reboots_itself_is_reset_with_a_reset_event_or_with_no_reboot_stopped(bool noReboot)
    {
        await using var server = await TestServer.StartAsync();
        string kernel = Path.Combine(Path.GetDirectoryName(server.Kernel)!, "reboots.elf");
        await File.WriteAllBytesAsync(kernel, TestKernels.BootCounter(ResetMechanism.KeyboardController));
        using GrpcChannel channel = server.Channel();
        var machines = TestServer.Machines(channel);
        var request = server.Tiny("reboots");
        request.Kernel = kernel;
        request.NoReboot = noReboot;
        await machines.CreateMachineAsync(request);
        var target = new MachineRef { Id = "reboots" };

        using var cancel = new CancellationTokenSource(Limit);
        using var watch = machines.WatchMachine(target, cancellationToken: cancel.Token);
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token)); // CREATED
        await machines.StartMachineAsync(target);
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(Service.V1.MachineState.Running, watch.ResponseStream.Current.State);
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        var e = watch.ResponseStream.Current;
        if (noReboot)
        {
            Assert.Equal(MachineEventKind.State, e.Kind);
            Assert.Equal(Service.V1.MachineState.Stopped, e.State);
            Assert.Contains("-no-reboot", e.Detail);
        }
        else
        {
            Assert.Equal(MachineEventKind.Reset, e.Kind);
            Assert.Equal(Service.V1.MachineState.Running, e.State);
            Assert.Contains("keyboard controller", e.Detail);
            await machines.StopMachineAsync(target);
        }

        await machines.DeleteMachineAsync(target);
    }
}
