using Emulator.Actors;
using Emulator.Devices.State;
using Emulator.X86.State;

namespace Emulator.Machine.Runtime;

/// <summary>Capturing and restoring a machine's state (CPU, devices, clock) for snapshots.</summary>
public sealed partial class VirtualMachine
{
    private const int QuiesceRounds = 500;

    /// <summary>
    /// Waits until the devices have nothing left to do: every timer expiry the stopped clock had
    /// reached run, every queued message handled (timer expiries, interrupt lines, disk
    /// completions, cascades between devices), no disk request in flight. Call while the machine
    /// is paused: vCPUs stopped, so nothing new starts but host input.
    /// A round sends every device actor a barrier and checks, inside each actor, that it is not busy;
    /// the devices are quiet when a round finds them idle and nothing but the barriers was handled.
    /// </summary>
    public async Task QuiesceAsync(CancellationToken cancel = default)
    {
        var all = devices.Values.ToList();
        for (int round = 0; round < QuiesceRounds; round++)
        {
            // Checked first: an expiry that runs during the round posts to a device, which the
            // count below then sees; one checked after the count could slip between the two.
            bool dueBefore = Timers.HasDueExpiry;
            long before = all.Sum(d => d.Actor.MessagesProcessed);
            var busy = await Task.WhenAll(all.Select(d => d.Actor.Ask<bool>(
                r => new DeviceMessage.Event(() => r.Reply(d.Persistence?.Busy?.Invoke(d.Device) == true)), ControlTimeout, cancel))).ConfigureAwait(false);
            long after = all.Sum(d => d.Actor.MessagesProcessed);
            if (!dueBefore && !busy.Any(b => b) && after - before == all.Count)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(round < 10 ? 1 : 10), cancel).ConfigureAwait(false);
        }

        throw new TimeoutException($"{Name}: the devices did not become idle (disk requests still in flight?)");
    }

    /// <summary>
    /// The machine's state: clock, every vCPU (read on its own thread, between blocks), every device
    /// with a <see cref="DevicePersistence"/> (read inside its actor). The machine must be paused and
    /// quiesced (<see cref="QuiesceAsync"/>), so the parts are consistent with each other and with RAM.
    /// </summary>
    public async Task<MachineSavedState> CaptureAsync(CancellationToken cancel = default)
    {
        if (State != MachineState.Paused)
        {
            throw new MachineStateException("snapshot", State);
        }

        var cpus = new CpuSavedState[Cpus.Count];
        for (int i = 0; i < Cpus.Count; i++)
        {
            int index = i;
            OnVcpuThread(i, cpu => cpus[index] = cpu.SaveState());
        }

        var saved = new List<DeviceSavedState>();
        foreach (var (name, (device, actor, persistence)) in devices.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            if (persistence is null)
            {
                continue;
            }

            // Saved inside the actor, into a payload of its own: the device goes on changing after
            // a running machine resumes, while the snapshot file is still being written.
            byte[] payload = await actor.Ask<byte[]>(r => new DeviceMessage.Event(() =>
            {
                try
                {
                    r.Reply(persistence.State.Save(device));
                }
                catch (Exception e)
                {
                    r.Fail(e);
                }
            }), ControlTimeout, cancel).ConfigureAwait(false);
            saved.Add(new DeviceSavedState(name, persistence.State.Version, payload));
        }

        return new MachineSavedState(Clock.NowNanoseconds, cpus, saved);
    }

    /// <summary>The names of every device of this machine, saved or not.</summary>
    public IReadOnlyCollection<string> DeviceNames => devices.Keys;

    /// <summary>The state description of each saved device of this machine (to read a snapshot's sections).</summary>
    public IReadOnlyDictionary<string, DevicePersistence> Persistence =>
        devices.Where(d => d.Value.Persistence is not null).ToDictionary(d => d.Key, d => d.Value.Persistence!);

    /// <summary>
    /// Puts a captured state into this machine, which must be newly built and not started. Every
    /// device's saved state is checked first, against its description and the live device (a
    /// refusal is a <see cref="DeviceStateException"/> and changes nothing); then the clock (device
    /// timers re-arm from it), each device inside its actor, and the vCPUs. Every saved device must
    /// exist here and every device here must be in the state (but one that <see cref="DevicePersistence.MayBeAbsent"/>), or nothing runs.
    /// </summary>
    public async Task RestoreAsync(MachineSavedState state, CancellationToken cancel = default)
    {
        if (State != MachineState.Created)
        {
            throw new MachineStateException("restore", State);
        }

        if (state.Cpus.Count != Cpus.Count)
        {
            throw new ArgumentException($"the state has {state.Cpus.Count} vCPUs, the machine {Cpus.Count}", nameof(state));
        }

        var expected = Persistence.Where(p => !p.Value.MayBeAbsent).Select(p => p.Key).ToHashSet();
        var given = state.Devices.Select(d => d.Name).ToHashSet();
        if (!expected.IsSubsetOf(given) || !given.IsSubsetOf(Persistence.Keys))
        {
            throw new ArgumentException($"the saved devices ({string.Join(", ", given.Order())}) do not match this machine's ({string.Join(", ", expected.Order())})", nameof(state));
        }

        // Every device's state is read and checked (inside its actor) before any is applied, so a
        // state refused for the last device leaves the first ones as they were built.
        var pending = new List<(ActorRef<DeviceMessage> Actor, IPendingRestore Restore)>();
        foreach (var saved in state.Devices)
        {
            var (device, actor, persistence) = devices[saved.Name];
            var loaded = await actor.Ask<IPendingRestore>(r => new DeviceMessage.Event(() =>
            {
                try
                {
                    r.Reply(persistence!.State.Load(device, saved.Version, saved.Payload, saved.Name));
                }
                catch (Exception e)
                {
                    r.Fail(e);
                }
            }), ControlTimeout, cancel).ConfigureAwait(false);
            pending.Add((actor, loaded));
        }

        // The clock first: post-load hooks re-arm device timers from it.
        Clock.Restore(state.ClockNanoseconds);
        foreach (var (actor, restore) in pending)
        {
            await actor.Ask<bool>(r => new DeviceMessage.Event(() =>
            {
                try
                {
                    restore.Apply();
                    r.Reply(true);
                }
                catch (Exception e)
                {
                    r.Fail(e);
                }
            }), ControlTimeout, cancel).ConfigureAwait(false);
        }

        for (int i = 0; i < Cpus.Count; i++)
        {
            var cpuState = state.Cpus[i];
            OnVcpuThread(i, cpu => cpu.RestoreState(cpuState));
        }

        AfterRestore?.Invoke();
    }
}
