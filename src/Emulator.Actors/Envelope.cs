namespace Emulator.Actors;

/// <summary>One mailbox entry: a user message (with the reply the runtime fails if the message is lost) or a system message.</summary>
internal readonly struct Envelope<TMessage>
{
    public readonly TMessage? Message;
    public readonly SystemMessage? System;
    public readonly IPendingReply? Reply;
    public readonly long Token;

    public Envelope(TMessage message, IPendingReply? reply = null, long token = 0)
    {
        Message = message;
        System = null;
        Reply = reply;
        Token = token;
    }

    public Envelope(SystemMessage system)
    {
        Message = default;
        System = system;
        Reply = null;
        Token = 0;
    }
}

/// <summary>Runtime messages, handled by the runtime in the actor's own processing context.</summary>
internal abstract class SystemMessage;

/// <summary>Makes the actor look at its state (a stop request, its start).</summary>
internal sealed class Wake : SystemMessage
{
    public static readonly Wake Instance = new();
}

internal sealed class WatchRequest(ActorCell watcher) : SystemMessage
{
    public ActorCell Watcher { get; } = watcher;
}

internal sealed class UnwatchRequest(ActorCell watcher) : SystemMessage
{
    public ActorCell Watcher { get; } = watcher;
}

/// <summary>A watched actor has terminated.</summary>
internal sealed class DeathNotice(ActorCell actor) : SystemMessage
{
    public ActorCell Actor { get; } = actor;
}

internal sealed class ChildTerminated(ActorCell child) : SystemMessage
{
    public ActorCell Child { get; } = child;
}

/// <summary>A child's supervisor decided Escalate: the parent fails with the child's exception.</summary>
internal sealed class ChildEscalated(ActorCell child, Exception reason) : SystemMessage
{
    public ActorCell Child { get; } = child;

    public Exception Reason { get; } = reason;
}

/// <summary>Carries an escalated failure out of a dedicated actor's Run loop to its supervision.</summary>
internal sealed class EscalatedFailure(Exception reason) : Exception("A child escalated its failure.", reason)
{
    public Exception Reason { get; } = reason;
}
