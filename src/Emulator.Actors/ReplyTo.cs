namespace Emulator.Actors;

/// <summary>
/// Where a request's reply goes; a request message carries one (as Akka.Typed's replyTo).
/// It is a small struct so that the synchronous fast path (<see cref="ActorRef{TMessage}.Call{TReply}"/>)
/// allocates nothing for it. Only the first Reply or Fail counts; a late or repeated one returns false.
/// </summary>
public readonly struct ReplyTo<T>
{
    private readonly ReplySink<T>? _sink;
    private readonly long _token;

    internal ReplyTo(ReplySink<T> sink, long token)
    {
        _sink = sink;
        _token = token;
    }

    /// <summary>True for default(ReplyTo): nobody waits for a reply.</summary>
    public bool IsEmpty => _sink is null;

    internal ReplySink<T>? Sink => _sink;

    internal long Token => _token;

    public bool Reply(T value) => _sink is not null && _sink.TryComplete(_token, value);

    public bool Fail(Exception reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return _sink is not null && _sink.TryFail(_token, reason);
    }

    /// <summary>
    /// A reply that is told to <paramref name="target"/> as a message (Akka's message adapter): how
    /// an actor asks another actor without blocking, e.g. a device asking its block backend.
    /// </summary>
    public static ReplyTo<T> To<TMessage>(ActorRef<TMessage> target, Func<T, TMessage> adapt, Func<Exception, TMessage>? adaptFailure = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(adapt);
        return new ReplyTo<T>(new AdapterReply<T, TMessage>(target, adapt, adaptFailure), 0);
    }
}

/// <summary>The runtime's view of a reply: it fails the reply when the request is dead-lettered or its handler throws.</summary>
internal interface IPendingReply
{
    bool TryFail(long token, Exception reason);
}

internal abstract class ReplySink<T> : IPendingReply
{
    public abstract bool TryComplete(long token, T value);

    public abstract bool TryFail(long token, Exception reason);
}

internal sealed class AdapterReply<T, TMessage>(ActorRef<TMessage> target, Func<T, TMessage> adapt, Func<Exception, TMessage>? adaptFailure)
    : ReplySink<T>
{
    private int _done;

    public override bool TryComplete(long token, T value)
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return false;
        }
        target.Tell(adapt(value));
        return true;
    }

    public override bool TryFail(long token, Exception reason)
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return false;
        }
        if (adaptFailure is not null)
        {
            target.Tell(adaptFailure(reason));
        }
        return true;
    }
}
