using Emulator.Actors;
using Emulator.Devices.Bus;
using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86;
using Emulator.X86.Memory;

namespace Emulator.Machine.Runtime;

/// <summary>One register window of a device: a port or MMIO range and the view of the device that serves it.</summary>
public sealed record IoRange(bool IsPort, ulong Base, ulong Length, Func<object, IIoDevice>? View = null)
{
    public static IoRange Port(ulong start, ulong length, Func<object, IIoDevice>? view = null) => new(true, start, length, view);

    public static IoRange Memory(ulong start, ulong length, Func<object, IIoDevice>? view = null) => new(false, start, length, view);
}

/// <summary>
/// A device to put in a machine: how to make it (given the machine's services) and its register
/// windows. One actor serves all of a device's windows (the PIC's master, slave and ELCR ports).
/// </summary>
public sealed record DeviceSpec(string Name, Func<MachineServices, object> Create, params IoRange[] Ranges)
{
    /// <summary>How the device is saved in snapshots; null: it has no state worth saving.</summary>
    public DevicePersistence? Persistence { get; init; }

    /// <summary>
    /// What a machine reset does to the device, run inside its actor; null: it goes back to its
    /// state as built (through <see cref="Persistence"/>). For state that outlives a reset (the
    /// battery-backed CMOS).
    /// </summary>
    public Action<object>? Reset { get; init; }
}

/// <summary>
/// What a device gets from the machine: the clock, timers that post into its actor, a way to run
/// code inside its actor, guest RAM for devices that do DMA, and actors of its own (a block backend).
/// </summary>
public sealed class MachineServices(
    MachineClock clock,
    ITimerService timers,
    Func<Action, bool> post,
    GuestMemory memory,
    Action<ulong, int> deviceWroteRam,
    ActorSystem system,
    Func<ActorRef<DeviceMessage>> self,
    Func<string> machineId,
    Action<Action> onStop,
    Action<string, Exception>? fail = null)
{
    public MachineClock Clock => clock;

    /// <summary>Guest RAM, for DMA.</summary>
    public GuestMemory Memory => memory;

    /// <summary>Call after writing guest RAM directly, so translated code there is dropped.</summary>
    public Action<ulong, int> DeviceWroteRam => deviceWroteRam;

    /// <summary>The device's own actor (valid once the device is created).</summary>
    public ActorRef<DeviceMessage> Self => self();

    /// <summary>Starts an actor the device needs (a block backend), supervised by the machine's actor system.</summary>
    public ActorRef<T> Spawn<T>(Props<T> props, string name) => system.Spawn(props, name);

    /// <summary>Timers whose expiries run inside the device's actor.</summary>
    public ITimerService Timers => timers;

    /// <summary>Runs an action inside the device's actor (for inputs that come from other devices' threads).</summary>
    public bool Post(Action action) => post(action);

    /// <summary>The machine's id for trace attributes, read when used (a service renames the machine after building it).</summary>
    public Func<string> MachineId => machineId;

    /// <summary>
    /// Runs <paramref name="action"/> inside the device's actor when the machine stops, and again
    /// directly when it is disposed (after its actors have ended), so it must be idempotent: ending
    /// an open trace span, for one.
    /// </summary>
    public void OnStop(Action action) => onStop(action);

    /// <summary>
    /// Stops the machine because of a fault the guest cannot be told about (a bug in the device's
    /// backend, on a thread of its own): see <see cref="VirtualMachine.Fail"/>. <paramref name="what"/> names the part.
    /// </summary>
    public void Fail(string what, Exception cause) => fail?.Invoke(what, cause);
}

/// <summary>
/// A machine built of actors: guest RAM, a machine clock and timer service, one device actor per
/// device, one vCPU actor per vCPU, and the machine actor over them that owns the lifecycle.
/// The PC wiring (which devices, where, which kernel) is done by its builder.
/// </summary>
public sealed partial class VirtualMachine : IAsyncDisposable
{
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(15);
    private readonly ActorSystem system;
    private readonly ActorRef<MachineMessage> actor;
    private readonly TaskCompletionSource<MachineExit> exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ActorRef<VcpuMessage>> vcpus = [];
    private readonly Dictionary<string, (object Device, ActorRef<DeviceMessage> Actor, DevicePersistence? Persistence)> devices = [];
    private readonly List<(string Device, Action Action)> stopHooks = [];
    private readonly List<bool> waitForSipi = [];
    private long faults;

    /// <param name="tier1">Tier 1 (hot blocks compiled to WebAssembly) as chosen, or null for the interpreter alone.</param>
    public VirtualMachine(string name, ulong memoryBytes, int cpuCount, IEnumerable<DeviceSpec> deviceSpecs, Func<int, IVcpuSignalSource?>? signals = null, Tier1Options? tier1 = null)
    {
        if (cpuCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(cpuCount), "a machine needs at least one vCPU");
        }

        Name = name;
        (Memory, Cache) = MachineCode.Create(memoryBytes, tier1);
        Clock = new MachineClock();
        Clock.Pause(); // guest time starts when the machine does
        Timers = new MachineTimerService(Clock) { Faulted = (timer, e) => Fail($"timer '{timer}' failed", e) };
        Bus = new IoBus();
        system = ActorSystem.Create(name);
        system.ActorFailed += f => DeviceFailures++;

        foreach (var spec in deviceSpecs)
        {
            AddDevice(spec);
        }

        Cpus = [];
        for (int i = 0; i < cpuCount; i++)
        {
            var cpu = new Cpu(Memory) { Index = i, CpuCount = cpuCount, Clock = Clock, Ports = Bus, Mmio = Bus };
            var engine = new ExecutionEngine(cpu, Cache) { DeliverEvents = true };
            Cpus.Add(cpu);
            Engines.Add(engine);
            var source = signals?.Invoke(i);
            // Application processors wait for INIT/SIPI from the BSP (when something can send them).
            cpu.WaitingForSipi = i > 0 && source is not null;
            waitForSipi.Add(cpu.WaitingForSipi);
            var vcpu = system.Spawn(
                Props.Create<VcpuMessage>(() => new VcpuActor(engine, OnVcpuStopped, source)).WithDedicatedThread(),
                $"vcpu{i}");
            vcpus.Add(vcpu);
        }

        actor = system.Spawn(Props.Create<MachineMessage>(() => new MachineActor(Clock, Timers, vcpus, e => exit.TrySetResult(e), () => PauseTimeout)), "machine");
        Bus.MachineId = name;
        Telemetry.EmulatorTelemetry.Track(this);
        exit.Task.ContinueWith(_ => stopHooks.ForEach(h => Post(h.Device, h.Action)), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public string Name { get; }

    public GuestMemory Memory { get; }

    public MachineClock Clock { get; }

    public MachineTimerService Timers { get; }

    public IoBus Bus { get; }

    public TranslationCache Cache { get; }

    public List<Cpu> Cpus { get; }

    public List<ExecutionEngine> Engines { get; } = [];

    /// <summary>Device handler exceptions the supervisors handled.</summary>
    public long DeviceFailures { get; private set; }

    /// <summary>Faults that stopped (or would have stopped) the machine: <see cref="Fail"/> calls.</summary>
    public long Faults => Interlocked.Read(ref faults);

    /// <summary>Completes when the machine stops, with why.</summary>
    public Task<MachineExit> Exited => exit.Task;

    public T Device<T>(string name) => (T)devices[name].Device;

    public ActorRef<DeviceMessage> DeviceActor(string name) => devices[name].Actor;

    public MachineState State => actor.Ask<MachineState>(r => new MachineMessage.GetState(r), ControlTimeout).GetAwaiter().GetResult();

    public MachineState Start() => Control(r => new MachineMessage.Start(r));

    public MachineState Pause() => Control(r => new MachineMessage.Pause(r));

    /// <summary>Created to Paused with nothing run: Resume starts it (restored machines).</summary>
    public MachineState StartPaused() => Control(r => new MachineMessage.StartPaused(r));

    public MachineState Resume() => Control(r => new MachineMessage.Resume(r));

    /// <summary>Stops the machine (any state but Stopped); <see cref="Exited"/> completes.</summary>
    public void Stop(MachineExit why) => actor.Tell(new MachineMessage.Stop(why));

    /// <summary>
    /// Stops the machine because a part of it failed where the guest cannot be told (a device's
    /// timer expiry or disk completion threw, a disk backend or the timer thread hit a bug): the
    /// exit is <see cref="MachineExitReason.Failed"/>, its detail names the part and the exception,
    /// and RAM, CPU and device state stay as they were for inspection until the machine is disposed.
    /// Callable from any thread; other machines of the process are not touched. A fault of a
    /// stopped machine is only counted.
    /// </summary>
    public void Fail(string what, Exception cause)
    {
        Interlocked.Increment(ref faults);
        Stop(new MachineExit(MachineExitReason.Failed, $"{what}: {cause.GetType().Name}: {cause.Message}") { Cause = cause });
    }

    /// <summary>Wakes a vCPU so it notices an interrupt (or a request) soon: it leaves its slice and re-checks.</summary>
    public void Kick(int cpu)
    {
        Interlocked.Exchange(ref Cpus[cpu].S.ExitRequest, 1);
        vcpus[cpu].Tell(new VcpuMessage.Wake());
    }

    /// <summary>Runs an action inside a device's actor (after what is already queued for it).</summary>
    public void Post(string device, Action action) => devices[device].Actor.Tell(new DeviceMessage.Event(action));

    /// <summary>How long a pause waits for every vCPU to stop before it fails with <see cref="MachinePauseTimeoutException"/> (tests shorten it).</summary>
    internal TimeSpan PauseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Runs an action on a vCPU's thread between slices and waits for it.</summary>
    public void OnVcpuThread(int cpu, Action<Cpu> action) =>
        vcpus[cpu].Ask<bool>(r => new VcpuMessage.OnThread(action, r), ControlTimeout).GetAwaiter().GetResult();

    private MachineState Control(Func<ReplyTo<MachineState>, MachineMessage> request)
    {
        try
        {
            return actor.Ask(request, ControlTimeout).GetAwaiter().GetResult();
        }
        catch (ActorFailedException e) when (e.InnerException is MachineStateException or MachinePauseTimeoutException)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    private void AddDevice(DeviceSpec spec)
    {
        ActorRef<DeviceMessage>? self = null;
        bool Post(Action a)
        {
            if (self is null)
            {
                return false;
            }

            self.Tell(new DeviceMessage.Event(a));
            return true;
        }

        var services = new MachineServices(
            Clock,
            new ActorTimers(Timers, Post),
            Post,
            Memory,
            (pa, size) => Cache.OnDeviceWrite(Memory, pa, size),
            system,
            () => self ?? throw new InvalidOperationException($"{spec.Name}: its actor does not exist yet"),
            () => Bus.MachineId,
            action => stopHooks.Add((spec.Name, action)),
            (what, e) => Fail($"{spec.Name}: {what}", e));
        var device = spec.Create(services);
        self = system.Spawn(
            Props.Create<DeviceMessage>(() => new DeviceActor(e => Fail($"device '{spec.Name}' failed handling an event (a timer expiry, a disk completion or an input)", e))),
            spec.Name);
        devices[spec.Name] = (device, self, spec.Persistence);
        if (spec.Reset is not null)
        {
            resetActions[spec.Name] = spec.Reset;
        }

        foreach (var range in spec.Ranges)
        {
            var target = range.View?.Invoke(device) ?? (IIoDevice)device;
            var mapping = new IoMapping(spec.Name, range.Base, range.Length, self, target);
            if (range.IsPort)
            {
                Bus.MapPorts(mapping);
            }
            else
            {
                Bus.MapMmio(mapping);
            }
        }
    }

    /// <summary>A triple fault is a reset request (a PC resets, SDM Vol. 3A 6.15 "Interrupt 8"); anything else stops the machine.</summary>
    private void OnVcpuStopped(VcpuStopped s)
    {
        if (s.Reason == StopReason.TripleFault && GuestResetRequested is { } reset)
        {
            reset($"vcpu{s.Index}: {s.Detail}");
            return;
        }

        Stop(new MachineExit(MachineExitReason.Failed, $"vcpu{s.Index}: {s.Detail}"));
    }

    /// <summary>The configuration a PC machine was built from (snapshots record it); null for bare machines.</summary>
    public Pc.PcConfig? Config { get; init; }

    /// <summary>Runs after a restore has put the saved state in (wiring state that is derived, not saved, is recomputed).</summary>
    public Action? AfterRestore { get; init; }

    /// <summary>The disks' backends, /dev/vda first (the devices create them when the machine is built).</summary>
    public List<Block.BlockBackendClient> Disks { get; } = [];

    /// <summary>Things the machine disposes of when it is disposed (disk images).</summary>
    public List<IDisposable> Owned { get; } = [];

    /// <summary>Mailbox metrics of every actor of this machine.</summary>
    public IReadOnlyList<ActorMetrics> ActorMetrics() => system.GetMetrics();

    public async ValueTask DisposeAsync()
    {
        Telemetry.EmulatorTelemetry.Untrack(this);
        await system.TerminateAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        Timers.Dispose();

        // The actors have ended, so nothing else touches the devices: run the stop hooks here in
        // case the machine was disposed without stopping or the posted ones were never delivered.
        stopHooks.ForEach(h => h.Action());
        foreach (var d in Owned)
        {
            d.Dispose();
        }

        foreach (var engine in Engines)
        {
            engine.Dispose();
        }

        foreach (var cpu in Cpus)
        {
            cpu.Dispose();
        }

        Cache.Dispose();
        Memory.Dispose();
    }

    /// <summary>A device's timers: expiries are posted into the device's actor.</summary>
    private sealed class ActorTimers(ITimerService inner, Func<Action, bool> post) : ITimerService
    {
        public IDeviceTimer Create(string name, Action<long> expired) =>
            inner.Create(name, deadline => post(() => expired(deadline)));
    }
}
