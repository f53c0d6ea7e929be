namespace Emulator.Actors.Tests;

/// <summary>
/// How an actor kind is meant to be written: a closed message set, an explicit state machine,
/// and a typed refusal for a request the current state forbids (never queued forever).
/// </summary>
public sealed class StateMachineExampleTests
{
    public enum MachineState { Created, Running, Paused, Stopped }

    public abstract record Outcome;

    public sealed record Done(MachineState State) : Outcome;

    public sealed record Refused(MachineState State, string Reason) : Outcome;

    public abstract record MachineCommand(ReplyTo<Outcome> ReplyTo);

    public sealed record Start(ReplyTo<Outcome> ReplyTo) : MachineCommand(ReplyTo);

    public sealed record Pause(ReplyTo<Outcome> ReplyTo) : MachineCommand(ReplyTo);

    public sealed record Resume(ReplyTo<Outcome> ReplyTo) : MachineCommand(ReplyTo);

    public sealed record Shutdown(ReplyTo<Outcome> ReplyTo) : MachineCommand(ReplyTo);

    private sealed class MachineActor : Actor<MachineCommand>
    {
        private MachineState _state = MachineState.Created;

        protected override void Receive(MachineCommand command)
        {
            MachineState? next = (_state, command) switch
            {
                (MachineState.Created, Start) => MachineState.Running,
                (MachineState.Running, Pause) => MachineState.Paused,
                (MachineState.Paused, Resume) => MachineState.Running,
                (MachineState.Created or MachineState.Running or MachineState.Paused, Shutdown) => MachineState.Stopped,
                _ => null,
            };
            if (next is not { } state)
            {
                command.ReplyTo.Reply(new Refused(_state, $"{command.GetType().Name} is not allowed when {_state}"));
                return;
            }
            _state = state;
            command.ReplyTo.Reply(new Done(state));
        }
    }

    [Fact]
    public async Task Transitions_follow_the_table_and_forbidden_requests_get_a_refusal()
    {
        using var system = ActorSystem.Create("machine");
        var machine = system.Spawn(Props.Create(() => new MachineActor()), "vm0");
        var timeout = TestWait.Timeout;

        Assert.Equal(new Refused(MachineState.Created, "Pause is not allowed when Created"), await machine.Ask<Outcome>(r => new Pause(r), timeout));
        Assert.Equal(new Done(MachineState.Running), await machine.Ask<Outcome>(r => new Start(r), timeout));
        Assert.Equal(new Done(MachineState.Paused), await machine.Ask<Outcome>(r => new Pause(r), timeout));
        Assert.Equal(new Done(MachineState.Running), machine.Call<Outcome>(r => new Resume(r), timeout));
        Assert.Equal(new Done(MachineState.Stopped), machine.Call<Outcome>(r => new Shutdown(r), timeout));
        Assert.IsType<Refused>(machine.Call<Outcome>(r => new Start(r), timeout));
    }
}
