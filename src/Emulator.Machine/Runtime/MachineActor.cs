using Emulator.Actors;
using Emulator.Devices.Bus;

namespace Emulator.Machine.Runtime;

/// <summary>The messages the machine actor takes.</summary>
public abstract record MachineMessage
{
    private MachineMessage()
    {
    }

    public sealed record Start(ReplyTo<MachineState> Reply) : MachineMessage;

    public sealed record Pause(ReplyTo<MachineState> Reply) : MachineMessage;

    /// <summary>Created to Paused without running anything (a machine restored from a snapshot waits for Resume).</summary>
    public sealed record StartPaused(ReplyTo<MachineState> Reply) : MachineMessage;

    public sealed record Resume(ReplyTo<MachineState> Reply) : MachineMessage;

    public sealed record Stop(MachineExit Exit) : MachineMessage;

    public sealed record GetState(ReplyTo<MachineState> Reply) : MachineMessage;
}

/// <summary>
/// Owns a machine's lifecycle and supervises its vCPU and device actors (its children). A
/// request its state forbids is answered with a <see cref="MachineStateException"/>, never
/// queued. Pausing stops every vCPU at an instruction boundary and then the machine clock, so
/// no guest time passes while paused.
/// </summary>
/// <param name="pauseTimeout">How long a pause waits for the vCPUs to stop (read at each pause).</param>
public sealed class MachineActor(MachineClock clock, MachineTimerService timers, IReadOnlyList<ActorRef<VcpuMessage>> vcpus, Action<MachineExit> ended, Func<TimeSpan> pauseTimeout)
    : Actor<MachineMessage>
{
    private readonly List<ActorRef<VcpuMessage>> started = [];
    private MachineState state = MachineState.Created;

    protected override void Receive(MachineMessage message)
    {
        switch (message)
        {
            case MachineMessage.GetState g:
                g.Reply.Reply(state);
                break;
            case MachineMessage.Start s when state == MachineState.Created:
                clock.Resume();
                timers.Kick();
                state = MachineState.Running;
                // Every vCPU runs; application processors wait inside for INIT/SIPI from the BSP.
                foreach (var v in vcpus)
                {
                    started.Add(v);
                    v.Tell(new VcpuMessage.Run());
                }


                s.Reply.Reply(state);
                break;
            case MachineMessage.StartPaused s when state == MachineState.Created:
                started.AddRange(vcpus);
                state = MachineState.Paused;
                s.Reply.Reply(state);
                break;
            case MachineMessage.Pause p when state == MachineState.Running:
                if (PauseAll() is { Count: > 0 } late)
                {
                    // A vCPU still running would change the machine under a snapshot taken now:
                    // the pause fails, and the vCPUs that did stop run again.
                    foreach (var v in started)
                    {
                        v.Tell(new VcpuMessage.Run());
                    }

                    p.Reply.Fail(new MachinePauseTimeoutException(late, pauseTimeout()));
                    break;
                }

                clock.Pause();
                state = MachineState.Paused;
                p.Reply.Reply(state);
                break;
            case MachineMessage.Resume r when state == MachineState.Paused:
                clock.Resume();
                timers.Kick();
                state = MachineState.Running;
                foreach (var v in started)
                {
                    v.Tell(new VcpuMessage.Run());
                }

                r.Reply.Reply(state);
                break;
            case MachineMessage.Stop s when state != MachineState.Stopped:
                // A vCPU that does not stop in time is stopped with the actor system after this.
                PauseAll();
                clock.Pause();
                state = MachineState.Stopped;
                ended(s.Exit);
                break;
            case MachineMessage.Stop:
                break;
            case MachineMessage.Start s:
                s.Reply.Fail(new MachineStateException("start", state));
                break;
            case MachineMessage.StartPaused s:
                s.Reply.Fail(new MachineStateException("start paused", state));
                break;
            case MachineMessage.Pause p:
                p.Reply.Fail(new MachineStateException("pause", state));
                break;
            case MachineMessage.Resume r:
                r.Reply.Fail(new MachineStateException("resume", state));
                break;
        }
    }

    /// <summary>Asks every vCPU to stop, all at once, and returns the indices of those that did not in time.</summary>
    private List<int> PauseAll()
    {
        var timeout = pauseTimeout();
        var asks = vcpus.Select(v => v.Ask<bool>(r => new VcpuMessage.Pause(r), timeout)).ToArray();
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        var late = new List<int>();
        for (int i = 0; i < asks.Length; i++)
        {
            var left = timeout - deadline.Elapsed;
            bool stopped;
            try
            {
                stopped = asks[i].Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero) && asks[i].Result;
            }
            catch (AggregateException)
            {
                stopped = false;
            }

            if (!stopped)
            {
                late.Add(i);
            }
        }

        return late;
    }
}
