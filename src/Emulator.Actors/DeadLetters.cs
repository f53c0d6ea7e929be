using System.Threading.Channels;

namespace Emulator.Actors;

public enum DeadLetterReason
{
    /// <summary>Sent after the recipient had terminated.</summary>
    RecipientTerminated,

    /// <summary>Was in (or reached) the recipient's mailbox while it was stopping.</summary>
    DroppedAtStop,
}

public sealed record DeadLetter(string RecipientPath, object Message, DeadLetterReason Reason);

/// <summary>
/// Where undeliverable messages go. Publishing never throws at the sender: a throwing event
/// handler is ignored, and a slow subscription drops its oldest entries.
/// </summary>
public sealed class DeadLetterSink
{
    private readonly object _gate = new();
    private Channel<DeadLetter>[] _subscribers = [];
    private long _count;

    /// <summary>Raised on the thread that dead-lettered the message.</summary>
    public event Action<DeadLetter>? Published;

    public long Count => Interlocked.Read(ref _count);

    /// <summary>A stream of dead letters from now on, keeping at most <paramref name="capacity"/> unread ones.</summary>
    public DeadLetterSubscription Subscribe(int capacity = 1024)
    {
        var channel = Channel.CreateBounded<DeadLetter>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_gate)
        {
            _subscribers = [.. _subscribers, channel];
        }
        return new DeadLetterSubscription(this, channel);
    }

    internal void Unsubscribe(Channel<DeadLetter> channel)
    {
        lock (_gate)
        {
            _subscribers = Array.FindAll(_subscribers, c => c != channel);
        }
        channel.Writer.TryComplete();
    }

    internal void Publish(DeadLetter letter)
    {
        Interlocked.Increment(ref _count);
        foreach (var channel in Volatile.Read(ref _subscribers))
        {
            channel.Writer.TryWrite(letter);
        }
        var handlers = Published;
        if (handlers is null)
        {
            return;
        }
        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((Action<DeadLetter>)handler)(letter);
            }
            catch (Exception)
            {
                // A broken observer must not turn a dead letter into an exception at the sender.
            }
        }
    }
}

public sealed class DeadLetterSubscription : IDisposable
{
    private readonly DeadLetterSink _sink;
    private readonly Channel<DeadLetter> _channel;

    internal DeadLetterSubscription(DeadLetterSink sink, Channel<DeadLetter> channel)
    {
        _sink = sink;
        _channel = channel;
    }

    public ChannelReader<DeadLetter> Reader => _channel.Reader;

    public void Dispose() => _sink.Unsubscribe(_channel);
}
