namespace Emulator.Actors;

/// <summary>What an actor may do to the runtime; use it only from the actor's own handlers and hooks.</summary>
public sealed class ActorContext<TMessage>
{
    private readonly ActorCell<TMessage> _cell;

    internal ActorContext(ActorCell<TMessage> cell)
    {
        _cell = cell;
    }

    public ActorRef<TMessage> Self => _cell.Self;

    /// <summary>The supervisor; null only for a system's guardian.</summary>
    public ActorRef? Parent => _cell.Parent?.Ref;

    public ActorSystem System => _cell.System;

    public IReadOnlyList<ActorRef> Children => _cell.ChildrenSnapshot();

    /// <summary>Spawns a child supervised by this actor. A name is unique among the live children; null picks one.</summary>
    public ActorRef<TChild> Spawn<TChild>(Props<TChild> props, string? name = null) => _cell.SpawnChild(props, name);

    /// <summary>Stops this actor once the current message is done.</summary>
    public void Stop() => _cell.RequestStop();

    /// <summary>Stops this actor or one of its children.</summary>
    public void Stop(ActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (actor.Cell != _cell && !_cell.IsChild(actor.Cell))
        {
            throw new InvalidOperationException($"{Self.Path} can stop only itself and its children, not {actor.Path}.");
        }
        actor.Cell.RequestStop();
    }

    /// <summary>Death watch: <see cref="Actor{TMessage}.OnTerminated"/> runs when <paramref name="target"/> stops (at once if it already has).</summary>
    public void Watch(ActorRef target)
    {
        ArgumentNullException.ThrowIfNull(target);
        _cell.Watch(target.Cell, hasMessage: false, default);
    }

    /// <summary>Death watch delivering <paramref name="message"/> to this actor's mailbox when <paramref name="target"/> stops.</summary>
    public void WatchWith(ActorRef target, TMessage message)
    {
        ArgumentNullException.ThrowIfNull(target);
        _cell.Watch(target.Cell, hasMessage: true, message);
    }

    public void Unwatch(ActorRef target)
    {
        ArgumentNullException.ThrowIfNull(target);
        _cell.Unwatch(target.Cell);
    }
}
