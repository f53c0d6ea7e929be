using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Service.V1;

namespace Emulator.Service.Machines;

/// <summary>One machine the service runs: its spec, the machine, its console line and its lifecycle events.</summary>
internal sealed class HostedMachine : IAsyncDisposable
{
    private readonly List<Action<MachineEvent>> watchers = [];

    public HostedMachine(string id, CreateMachineRequest spec, VirtualMachine vm, SerialLine console)
    {
        Id = id;
        Spec = spec;
        Vm = vm;
        Console = console;
        vm.Exited.ContinueWith(t => Publish(t.Result.Reason == MachineExitReason.Failed ? Service.V1.MachineState.Failed : Service.V1.MachineState.Stopped, t.Result.Detail));
        vm.WasReset += why => PublishReset(why);
    }

    public string Id { get; }

    public CreateMachineRequest Spec { get; }

    public VirtualMachine Vm { get; }

    public SerialLine Console { get; }

    /// <summary>Held by calls that change the machine's state (start, pause, resume, stop, snapshot), one at a time.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Only one AttachConsole may write at a time.</summary>
    public int ConsoleWriters;

    /// <summary>1 while a MigrateMachine moves the machine: a second one is refused, not queued behind it.</summary>
    public int Migrating;

    public Service.V1.MachineState State { get; private set; } = Service.V1.MachineState.Created;

    public string Detail { get; private set; } = "";

    public void Publish(Service.V1.MachineState state, string detail = "")
    {
        Action<MachineEvent>[] targets;
        lock (watchers)
        {
            State = state;
            Detail = detail;
            targets = [.. watchers];
        }

        var e = Event();
        foreach (var w in targets)
        {
            w(e);
        }
    }

    /// <summary>The machine was reset (the guest rebooted, or ResetMachine): a RESET event; the state is unchanged.</summary>
    public void PublishReset(string why)
    {
        Action<MachineEvent>[] targets;
        MachineEvent e;
        lock (watchers)
        {
            targets = [.. watchers];
            e = Event();
        }

        e.Kind = MachineEventKind.Reset;
        e.Detail = why;
        foreach (var w in targets)
        {
            w(e);
        }
    }

    public MachineEvent Event() => new()
    {
        MachineId = Id,
        State = State,
        TimeUnixNanos = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000),
        Detail = Detail,
    };

    public IDisposable Watch(Action<MachineEvent> watcher)
    {
        lock (watchers)
        {
            watchers.Add(watcher);
        }

        return new Disposer(() =>
        {
            lock (watchers)
            {
                watchers.Remove(watcher);
            }
        });
    }

    public Service.V1.Machine Describe(string node) => new()
    {
        Id = Id,
        State = State,
        Spec = new MachineSpec
        {
            Vcpus = Spec.Vcpus,
            MemoryMib = Spec.MemoryMib,
            Kernel = Spec.Kernel,
            Initrd = Spec.Initrd,
            CommandLine = Spec.CommandLine,
            Disks = { Spec.Disks },
        },
        Node = node,
        Detail = Detail,
    };

    public async ValueTask DisposeAsync()
    {
        Console.Dispose();
        await Vm.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Disposer(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
