using Emulator.Actors;
using Emulator.X86;

namespace Emulator.Machine.Runtime;

/// <summary>
/// A machine reset (the guest's reboot, or ResetMachine): back to the power-on state in place.
/// The same machine object, disks, console and actors stay; what a reset changes is put back:
/// each device's state to what it was when the machine was built (its saved state, as a snapshot
/// restores it), every vCPU to RESET, RAM cleared and the firmware's work (tables, kernel) done
/// again, translated code dropped. See RATIONALE.md beside this file.
/// </summary>
public sealed partial class VirtualMachine
{
    private readonly SemaphoreSlim resetGate = new(1, 1);
    private readonly Dictionary<string, Action<object>> resetActions = [];
    private List<(string Name, int Version, byte[] Payload)>? powerOnDevices;
    private int resetPending;
    private long resets;

    /// <summary>
    /// The firmware's work, done again at each reset, in two steps: the outer call gets ready (reads
    /// the kernel; it may throw, and nothing has changed then), the inner one writes the boot
    /// structures and the kernel into (cleared) RAM and returns what to do to the BSP on its
    /// thread. Null: the machine cannot be reset (a bare machine).
    /// </summary>
    public Func<Func<Action<Cpu>>>? Firmware { get; set; }

    /// <summary>What a guest's reset request does (a PC: reset, or stop under -no-reboot); null: a triple fault stops the machine.</summary>
    public Action<string>? GuestResetRequested { get; set; }

    /// <summary>Raised after each reset, before the vCPUs run again, with the reason.</summary>
    public event Action<string>? WasReset;

    /// <summary>Resets done since the machine was built.</summary>
    public long Resets => Interlocked.Read(ref resets);

    /// <summary>
    /// Records the devices' state as built (the power-on state resets return to). Call once the
    /// machine is built and before it starts; each device's saved section is kept (what snapshots
    /// hold, through its state description), so later changes of the live devices do not reach it.
    /// </summary>
    public void RecordPowerOnState()
    {
        var saved = new List<(string, int, byte[])>();
        foreach (var (name, (device, actor, persistence)) in devices)
        {
            if (persistence is null || resetActions.ContainsKey(name))
            {
                continue;
            }

            byte[] payload = actor.Ask<byte[]>(r => new DeviceMessage.Event(() =>
            {
                try
                {
                    r.Reply(persistence.State.Save(device));
                }
                catch (Exception e)
                {
                    r.Fail(e);
                }
            }), ControlTimeout).GetAwaiter().GetResult();
            saved.Add((name, persistence.State.Version, payload));
        }

        powerOnDevices = saved;
    }

    /// <summary>
    /// A guest asked for a reset (keyboard controller, port 0xCF9, triple fault): reset in the
    /// background, once: further requests while one is pending are the same reboot (Linux tries
    /// several mechanisms in turn) and are dropped. A reset that fails stops the machine (Failed).
    /// </summary>
    public void RequestReset(string why)
    {
        if (Interlocked.Exchange(ref resetPending, 1) == 1)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await ResetAsync(why).ConfigureAwait(false);
            }
            catch (MachineStateException)
            {
                // Stopped meanwhile: nothing to reset.
            }
            catch (Exception e)
            {
                Fail("reset", e);
            }
            finally
            {
                Volatile.Write(ref resetPending, 0);
            }
        });
    }

    /// <summary>
    /// Resets a Running or Paused machine to its power-on state and boots it again; a Running one
    /// runs on, a Paused one stays paused (its vCPUs start at the boot state when resumed).
    /// Throws <see cref="MachineStateException"/> in another state.
    /// </summary>
    public async Task ResetAsync(string why, CancellationToken cancel = default)
    {
        await resetGate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var state = State;
            if (state is not (MachineState.Running or MachineState.Paused))
            {
                throw new MachineStateException("reset", state);
            }

            if (Firmware is null || powerOnDevices is null)
            {
                throw new MachineResetException($"{Name}: this machine has no firmware to boot again (a bare machine cannot be reset)");
            }

            Func<Action<Cpu>> load;
            try
            {
                load = Firmware();
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or Boot.BootImageException)
            {
                throw new MachineResetException($"{Name}: cannot boot again: {e.Message}", e);
            }

            bool wasRunning = state == MachineState.Running;
            if (wasRunning)
            {
                Pause();
            }

            // Device work under way (a disk request) finishes first, so nothing lands in RAM after it is cleared.
            await QuiesceAsync(cancel).ConfigureAwait(false);
            foreach (var (name, version, payload) in powerOnDevices)
            {
                var (device, actor, persistence) = devices[name];
                await actor.Ask<bool>(r => new DeviceMessage.Event(() =>
                {
                    try
                    {
                        persistence!.State.Load(device, version, payload, name).Apply();
                        r.Reply(true);
                    }
                    catch (Exception e)
                    {
                        r.Fail(e);
                    }
                }), ControlTimeout, cancel).ConfigureAwait(false);
            }

            foreach (var (name, reset) in resetActions)
            {
                var (device, actor, _) = devices[name];
                await actor.Ask<bool>(r => new DeviceMessage.Event(() =>
                {
                    try
                    {
                        reset(device);
                        r.Reply(true);
                    }
                    catch (Exception e)
                    {
                        r.Fail(e);
                    }
                }), ControlTimeout, cancel).ConfigureAwait(false);
            }

            ClearRam();
            Cache.Flush();
            var boot = load();
            for (int i = 0; i < vcpus.Count; i++)
            {
                bool bsp = i == 0;
                bool waitsForSipi = waitForSipi[i];
                await vcpus[i].Ask<bool>(r => new VcpuMessage.PowerOn(cpu =>
                {
                    if (bsp)
                    {
                        boot(cpu);
                    }

                    cpu.WaitingForSipi = waitsForSipi;
                }, r), ControlTimeout, cancel).ConfigureAwait(false);
            }

            AfterRestore?.Invoke();
            Interlocked.Increment(ref resets);
            WasReset?.Invoke(why);
            if (wasRunning)
            {
                Resume();
            }
        }
        finally
        {
            resetGate.Release();
        }
    }

    /// <summary>
    /// Keeps resets out until the result is disposed (a snapshot holds it, so a reset the guest
    /// asked for just before cannot change the machine while its state is read).
    /// </summary>
    public async Task<IDisposable> HoldResetsAsync(CancellationToken cancel = default)
    {
        await resetGate.WaitAsync(cancel).ConfigureAwait(false);
        return new Release(resetGate);
    }

    private sealed class Release(SemaphoreSlim gate) : IDisposable
    {
        private int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0)
            {
                gate.Release();
            }
        }
    }

    private void ClearRam()
    {
        for (ulong at = 0; at < Memory.Size;)
        {
            int chunk = (int)Math.Min(Memory.Size - at, 1UL << 30);
            Memory.Span(at, chunk).Clear();
            at += (ulong)chunk;
        }
    }
}
