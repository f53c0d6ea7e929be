namespace Emulator.Actors;

/// <summary>Death-watch notification: <paramref name="Actor"/> has stopped (see <see cref="ActorContext{TMessage}.Watch"/>).</summary>
public sealed record Terminated(ActorRef Actor);

/// <summary>A failure of an actor and what its supervisor decided.</summary>
public sealed record ActorFailure(ActorRef Actor, Exception Reason, Directive Directive);

public enum ActorStatus
{
    Starting,
    Running,
    Stopping,
    Terminated,
}

/// <summary>Per-actor figures, read from outside without stopping the actor.</summary>
public readonly record struct ActorMetrics(
    string Path,
    ActorStatus Status,
    int MailboxDepth,
    long MessagesProcessed,
    long InlineCalls,
    int Restarts,
    long Failures,
    bool DedicatedThread);
