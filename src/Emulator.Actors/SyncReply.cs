namespace Emulator.Actors;

/// <summary>
/// The reply slot of a synchronous Call, reused per thread so the fast path allocates nothing.
/// One state word holds (generation &lt;&lt; 3 | status); a ReplyTo carries the generation it was made
/// for, so a stale reply (kept by a handler past its call) cannot complete a later call.
/// </summary>
internal sealed class SyncReply<T> : ReplySink<T>
{
    private const long Pending = 0;
    private const long Completing = 1;
    private const long Done = 2;
    private const long Failed = 3;
    private const long Abandoned = 4;
    private const int StatusBits = 3;
    private const long StatusMask = (1 << StatusBits) - 1;

    [ThreadStatic]
    private static SyncReply<T>? t_free;

    private long _word;
    private T? _value;
    private Exception? _error;
    private int _waiting;
    private ManualResetEventSlim? _signal;

    public long Generation => Volatile.Read(ref _word) >> StatusBits;

    public bool IsCompleted => (Volatile.Read(ref _word) & StatusMask) is Done or Failed;

    public static SyncReply<T> Rent()
    {
        var reply = t_free ?? new SyncReply<T>();
        t_free = null;
        // No completer can hold a Pending word of the new generation yet, so a plain write is enough.
        Volatile.Write(ref reply._word, ((reply._word >> StatusBits) + 1) << StatusBits);
        return reply;
    }

    public override bool TryComplete(long token, T value)
    {
        if (!Claim(token))
        {
            return false;
        }
        _value = value;
        Publish(token, Done);
        return true;
    }

    public override bool TryFail(long token, Exception reason)
    {
        if (!Claim(token))
        {
            return false;
        }
        _error = reason;
        Publish(token, Failed);
        return true;
    }

    /// <summary>Waits for the reply of the current generation, returns it and puts this slot back for reuse.</summary>
    public T Wait(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long generation = Generation;
        if (!IsCompleted)
        {
            WaitSlow(generation, path, timeout, cancellationToken);
        }
        return TakeResult();
    }

    /// <summary>Gives up a request that was never delivered (or must not be waited for) and puts this slot back.</summary>
    public void Abandon(long generation)
    {
        TryAbandon(generation);
        t_free ??= this;
    }

    private T TakeResult()
    {
        long status = Volatile.Read(ref _word) & StatusMask;
        var value = _value;
        var error = _error;
        _value = default;
        _error = null;
        t_free ??= this;
        if (status == Failed)
        {
            throw error!;
        }
        return value!;
    }

    private void WaitSlow(long generation, string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        _signal ??= new ManualResetEventSlim(false);
        // Dekker pairing with Publish: we set _waiting then read the word; the completer writes the
        // word then reads _waiting (both with full fences), so one of us sees the other.
        Interlocked.Exchange(ref _waiting, 1);
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        try
        {
            while (!IsCompleted)
            {
                long remaining = deadline == long.MaxValue ? -1 : Math.Max(0, deadline - Environment.TickCount64);
                bool signalled;
                try
                {
                    signalled = _signal.Wait(TimeSpan.FromMilliseconds(remaining), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    if (TryAbandon(generation))
                    {
                        t_free ??= this;
                        throw;
                    }
                    continue; // a reply is being written: take it
                }
                if (!signalled && TryAbandon(generation))
                {
                    t_free ??= this;
                    throw new AskTimeoutException(path, timeout);
                }
                _signal.Reset();
            }
        }
        finally
        {
            Volatile.Write(ref _waiting, 0);
            _signal.Reset();
        }
    }

    private bool Claim(long token)
    {
        long pending = (token << StatusBits) | Pending;
        return Interlocked.CompareExchange(ref _word, (token << StatusBits) | Completing, pending) == pending;
    }

    private void Publish(long token, long status)
    {
        Interlocked.Exchange(ref _word, (token << StatusBits) | status);
        if (Volatile.Read(ref _waiting) != 0)
        {
            _signal!.Set();
        }
    }

    private bool TryAbandon(long generation)
    {
        long pending = (generation << StatusBits) | Pending;
        return Interlocked.CompareExchange(ref _word, (generation << StatusBits) | Abandoned, pending) == pending;
    }
}
