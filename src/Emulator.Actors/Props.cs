namespace Emulator.Actors;

public static class Props
{
    /// <summary>Props for an actor made by <paramref name="factory"/>; the factory must return a new instance on every call (a restart calls it again).</summary>
    public static Props<TMessage> Create<TMessage>(Func<Actor<TMessage>> factory) => new(factory);
}

/// <summary>The recipe to spawn (and restart) one kind of actor, with its dispatch and supervision options.</summary>
public sealed record Props<TMessage>
{
    internal Props(Func<Actor<TMessage>> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Factory = factory;
    }

    public Func<Actor<TMessage>> Factory { get; }

    /// <summary>How the parent handles this actor's failures; null uses the parent's <see cref="ChildStrategy"/>.</summary>
    public SupervisorStrategy? Supervision { get; init; }

    /// <summary>How this actor handles the failures of its children (unless a child's Props says otherwise).</summary>
    public SupervisorStrategy ChildStrategy { get; init; } = SupervisorStrategy.Default;

    /// <summary>Run the actor on its own thread (see <see cref="Actor{TMessage}.Run"/>) instead of the thread pool.</summary>
    public bool DedicatedThread { get; init; }

    /// <summary>Messages a thread-pool actor processes before it yields its pool thread to others.</summary>
    public int Throughput { get; init; } = 32;

    public Props<TMessage> WithSupervision(SupervisorStrategy strategy) => this with { Supervision = strategy };

    public Props<TMessage> WithChildStrategy(SupervisorStrategy strategy) => this with { ChildStrategy = strategy };

    public Props<TMessage> WithDedicatedThread() => this with { DedicatedThread = true };

    public Props<TMessage> WithThroughput(int messages) =>
        messages > 0 ? this with { Throughput = messages } : throw new ArgumentOutOfRangeException(nameof(messages));
}
