using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Service.V1;

namespace Emulator.Service.Machines;

/// <summary>
/// One machine the service runs: its spec, the machine, its console line and its lifecycle events.
/// A machine the catalogue brought back without running it has no VM yet (<see cref="HasVm"/>):
/// it is listed STOPPED or FAILED, and StartMachine builds its VM from the spec (<see cref="Attach"/>).
/// </summary>
internal sealed class HostedMachine : IAsyncDisposable
{
    private readonly List<Action<MachineEvent>> watchers = [];
    private VirtualMachine? vm;

    public HostedMachine(string id, CreateMachineRequest spec, VirtualMachine vm, SerialLine console)
    {
        Id = id;
        Spec = spec;
        Console = console;
        Attach(vm);
    }

    /// <summary>A machine without a VM (from the catalogue), shown in <paramref name="state"/> with <paramref name="detail"/>.</summary>
    public HostedMachine(string id, CreateMachineRequest spec, SerialLine console, Service.V1.MachineState state, string detail)
    {
        Id = id;
        Spec = spec;
        Console = console;
        State = state;
        Detail = detail;
    }

    public string Id { get; }

    public CreateMachineRequest Spec { get; }

    /// <summary>The machine; a machine without one (<see cref="HasVm"/>) refuses what needs it as a stopped machine would.</summary>
    public VirtualMachine Vm => vm ?? throw new MachineStateException("do that to", Emulator.Machine.Runtime.MachineState.Stopped);

    public bool HasVm => vm is not null;

    /// <summary>Called after every state change (<see cref="Publish"/>): the catalogue records it.</summary>
    public Action<HostedMachine>? Changed { get; set; }

    /// <summary>Gives the machine its VM (built now, or given at creation); once.</summary>
    public void Attach(VirtualMachine machine)
    {
        if (Interlocked.CompareExchange(ref vm, machine, null) is not null)
        {
            throw new InvalidOperationException($"machine '{Id}' has a VM already");
        }

        machine.Exited.ContinueWith(t => Publish(t.Result.Reason == MachineExitReason.Failed ? Service.V1.MachineState.Failed : Service.V1.MachineState.Stopped, t.Result.Detail));
        machine.WasReset += why => PublishReset(why);
    }

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

        Changed?.Invoke(this);
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
            RestartPolicy = Spec.RestartPolicy,
            Cpu = Spec.Cpu,
            NoReboot = Spec.NoReboot,
            NetworkInterfaces = { Spec.NetworkInterfaces },
            SharedFolders = { Spec.SharedFolders },
        },
        Node = node,
        Detail = Detail,
    };

    public async ValueTask DisposeAsync()
    {
        Console.Dispose();
        if (vm is not null)
        {
            await vm.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Disposer(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
