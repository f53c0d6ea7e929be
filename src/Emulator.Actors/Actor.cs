namespace Emulator.Actors;

/// <summary>
/// Base of every actor. An actor kind declares its closed set of messages as the type argument
/// (typically an abstract record with one sealed record per message) and handles them one at a
/// time in <see cref="Receive"/>; nothing else touches its state.
/// </summary>
public abstract class Actor<TMessage>
{
    private ActorCell<TMessage>? _cell;

    /// <summary>The actor's view of the runtime; available from <see cref="PreStart"/> on (not in the constructor).</summary>
    protected ActorContext<TMessage> Context =>
        _cell?.Context ?? throw new InvalidOperationException("The context is available from PreStart on, not in the constructor.");

    protected ActorRef<TMessage> Self => Context.Self;

    /// <summary>True once the actor was asked to stop; a dedicated-thread Run loop returns when it sees it.</summary>
    protected bool IsStopping => _cell?.IsStopping ?? false;

    /// <summary>Handles one message. An exception here goes to the parent's supervisor strategy.</summary>
    protected abstract void Receive(TMessage message);

    /// <summary>Called before the first message (and, by default, after a restart).</summary>
    protected virtual void PreStart()
    {
    }

    /// <summary>Called once the actor and all its children have stopped.</summary>
    protected virtual void PostStop()
    {
    }

    /// <summary>Called on the failed instance before it is replaced; by default calls <see cref="PostStop"/>. Children are stopped after it.</summary>
    protected virtual void PreRestart(Exception reason) => PostStop();

    /// <summary>Called on the new instance after a restart; by default calls <see cref="PreStart"/>.</summary>
    protected virtual void PostRestart(Exception reason) => PreStart();

    /// <summary>A watched actor stopped (see <see cref="ActorContext{TMessage}.Watch"/>).</summary>
    protected virtual void OnTerminated(Terminated terminated)
    {
    }

    /// <summary>
    /// The loop of an actor with a dedicated thread (<see cref="Props{TMessage}.WithDedicatedThread"/>);
    /// unused on the thread pool. The default handles messages as they come. Override it to do work
    /// between messages, e.g. a vCPU: drain the mailbox with <see cref="TryReceive"/>, run a slice of
    /// guest code, and when halted sleep in <see cref="WaitForMessage"/>. Return when
    /// <see cref="IsStopping"/>; returning stops the actor, throwing goes to supervision (a restart
    /// calls Run again on a new instance, on the same thread).
    /// </summary>
    protected virtual void Run()
    {
        while (!IsStopping)
        {
            while (TryReceive(out var message))
            {
                Receive(message);
            }
            WaitForMessage(Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Takes the next message, if any, on a dedicated thread. Runtime messages (death watch) are
    /// handled inside. Returns false when the mailbox is empty or the actor is stopping. A reply
    /// the previous message carried is considered handled once this is called again.
    /// </summary>
    protected bool TryReceive(out TMessage message) => Cell.TryReceive(out message);

    /// <summary>
    /// Sleeps (without spinning) until the mailbox has something, the timeout passes or the actor
    /// is asked to stop. Returns true when there is something to receive.
    /// </summary>
    protected bool WaitForMessage(TimeSpan timeout) => Cell.WaitForMessage(timeout);

    private ActorCell<TMessage> Cell => _cell ?? throw new InvalidOperationException("The actor is not started.");

    internal void Attach(ActorCell<TMessage> cell)
    {
        if (_cell is not null)
        {
            throw new InvalidOperationException("A Props factory must return a new actor instance on every call.");
        }
        _cell = cell;
    }

    internal void InvokeReceive(TMessage message) => Receive(message);

    internal void InvokePreStart() => PreStart();

    internal void InvokePostStop() => PostStop();

    internal void InvokePreRestart(Exception reason) => PreRestart(reason);

    internal void InvokePostRestart(Exception reason) => PostRestart(reason);

    internal void InvokeOnTerminated(Terminated terminated) => OnTerminated(terminated);

    internal void InvokeRun() => Run();
}
