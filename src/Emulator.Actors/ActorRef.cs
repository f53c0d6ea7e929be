namespace Emulator.Actors;

/// <summary>An actor's handle, whatever its message type: identity, liveness and metrics.</summary>
public abstract class ActorRef
{
    private protected ActorRef()
    {
    }

    internal abstract ActorCell Cell { get; }

    public string Path => Cell.Path;

    public string Name => Cell.Name;

    public ActorStatus Status => Cell.Status;

    public bool IsTerminated => Cell.Status == ActorStatus.Terminated;

    /// <summary>Completes when the actor has terminated (after its PostStop and its children's).</summary>
    public Task WhenTerminated => Cell.TerminatedTask;

    public ActorMetrics GetMetrics() => Cell.GetMetrics();

    public override string ToString() => Path;
}

/// <summary>A typed handle: the only way to send an actor messages. Every method may be called from any thread.</summary>
public sealed class ActorRef<TMessage> : ActorRef
{
    private readonly ActorCell<TMessage> _cell;

    internal ActorRef(ActorCell<TMessage> cell)
    {
        _cell = cell;
    }

    internal override ActorCell Cell => _cell;

    public int MailboxDepth => _cell.MailboxDepth;

    public long MessagesProcessed => _cell.MessagesProcessed;

    /// <summary>Fire and forget. Never throws: if the actor has stopped the message goes to dead letters.</summary>
    public void Tell(TMessage message)
    {
        if (message is null)
        {
            throw new ArgumentNullException(nameof(message));
        }
        _cell.Post(new Envelope<TMessage>(message));
    }

    /// <summary>
    /// Request/response through the mailbox. <paramref name="request"/> builds the message around the
    /// reply handle. The task fails with <see cref="AskTimeoutException"/> after <paramref name="timeout"/>,
    /// is cancelled by <paramref name="cancellationToken"/>, fails with <see cref="ActorStoppedException"/>
    /// if the request is dead-lettered and with <see cref="ActorFailedException"/> if the handler throws.
    /// </summary>
    public Task<TReply> Ask<TReply>(Func<ReplyTo<TReply>, TMessage> request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateTimeout(timeout);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TReply>(cancellationToken);
        }
        var reply = new AskReply<TReply>(_cell.System, _cell.Path, timeout);
        TMessage message;
        try
        {
            message = request(new ReplyTo<TReply>(reply, 0));
        }
        catch (Exception ex)
        {
            reply.TryFail(0, ex);
            reply.Arm(CancellationToken.None);
            return reply.Task;
        }
        reply.Arm(cancellationToken);
        _cell.Post(new Envelope<TMessage>(message, reply, 0));
        return reply.Task;
    }

    /// <summary>
    /// Synchronous request/response for hot paths (a vCPU's MMIO or port access to a device). If the
    /// actor is idle, the handler runs on the calling thread, still one message at a time, and the reply
    /// is returned without allocating a task; otherwise the request is queued and the caller blocks for
    /// the reply. Errors as for <see cref="Ask{TReply}"/>, thrown. Do not call it from the target's own
    /// handler, nor in a cycle of actors calling each other (they would wait on each other until the timeout).
    /// </summary>
    public TReply Call<TReply>(Func<ReplyTo<TReply>, TMessage> request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Call<Func<ReplyTo<TReply>, TMessage>, TReply>(request, static (build, replyTo) => build(replyTo), timeout, cancellationToken);
    }

    /// <summary>As <see cref="Call{TReply}"/>, with the request built from <paramref name="state"/> by a static lambda so no closure is allocated.</summary>
    public TReply Call<TState, TReply>(TState state, Func<TState, ReplyTo<TReply>, TMessage> request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateTimeout(timeout);
        var reply = SyncReply<TReply>.Rent();
        long token = reply.Generation;
        var message = request(state, new ReplyTo<TReply>(reply, token));
        if (!_cell.TryInvokeInline(message, reply, token))
        {
            Enqueue(message, reply, token);
        }
        return reply.Wait(_cell.Path, timeout, cancellationToken);
    }

    /// <summary>
    /// Runs the request inline only if the actor is idle; returns false, having sent nothing, if it is
    /// busy (the caller may then Ask instead). If the handler keeps the reply for later, this waits for it.
    /// </summary>
    public bool TryCallInline<TState, TReply>(TState state, Func<TState, ReplyTo<TReply>, TMessage> request, TimeSpan timeout, out TReply result)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateTimeout(timeout);
        var reply = SyncReply<TReply>.Rent();
        long token = reply.Generation;
        var message = request(state, new ReplyTo<TReply>(reply, token));
        if (!_cell.TryInvokeInline(message, reply, token))
        {
            reply.Abandon(token);
            result = default!;
            return false;
        }
        result = reply.Wait(_cell.Path, timeout, CancellationToken.None);
        return true;
    }

    private void Enqueue<TReply>(TMessage message, SyncReply<TReply> reply, long token)
    {
        if (_cell.IsProcessingOnCurrentThread)
        {
            reply.Abandon(token);
            throw new InvalidOperationException($"{_cell.Path} cannot Call itself: it would wait for its own reply.");
        }
        _cell.Post(new Envelope<TMessage>(message, reply, token));
    }

    private static void ValidateTimeout(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "A timeout is positive or infinite.");
        }
    }
}
