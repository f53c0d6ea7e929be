namespace Emulator.Actors;

/// <summary>What a parent does with a child whose handler threw.</summary>
public enum Directive
{
    /// <summary>Replace the child's instance with a new one from its Props; the mailbox is kept.</summary>
    Restart,

    /// <summary>Stop the child; its pending messages go to dead letters.</summary>
    Stop,

    /// <summary>Stop the child and fail the parent with the same exception, for the grandparent to decide.</summary>
    Escalate,
}

/// <summary>
/// How a parent handles its children's failures (one-for-one: only the failing child is affected).
/// A restart beyond <see cref="MaxRestarts"/> within <see cref="Window"/> turns into a stop, so a
/// child that fails on every message cannot restart forever.
/// </summary>
public sealed class SupervisorStrategy
{
    private readonly Func<ActorRef, Exception, Directive> _decider;

    public SupervisorStrategy(Func<ActorRef, Exception, Directive> decider, int maxRestarts = 10, TimeSpan? window = null)
    {
        ArgumentNullException.ThrowIfNull(decider);
        _decider = decider;
        MaxRestarts = maxRestarts;
        Window = window ?? TimeSpan.FromMinutes(1);
    }

    public SupervisorStrategy(Func<Exception, Directive> decider, int maxRestarts = 10, TimeSpan? window = null)
        : this((_, reason) => decider(reason), maxRestarts, window)
    {
        ArgumentNullException.ThrowIfNull(decider);
    }

    /// <summary>Restarts allowed within <see cref="Window"/>; negative means unlimited.</summary>
    public int MaxRestarts { get; }

    public TimeSpan Window { get; }

    /// <summary>Restart on any exception, at most 10 times a minute.</summary>
    public static SupervisorStrategy Default { get; } = new(_ => Directive.Restart);

    public static SupervisorStrategy Stopping { get; } = new(_ => Directive.Stop);

    public static SupervisorStrategy Escalating { get; } = new(_ => Directive.Escalate);

    public static SupervisorStrategy Restarting(int maxRestarts, TimeSpan window) => new(_ => Directive.Restart, maxRestarts, window);

    public Directive Decide(ActorRef child, Exception reason) => _decider(child, reason);
}
