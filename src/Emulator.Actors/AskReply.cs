namespace Emulator.Actors;

/// <summary>
/// The reply of one asynchronous Ask: a task completed by the reply, a failure, the timeout or the
/// caller's token, whichever comes first. Whoever completes it releases the timer and the token
/// registration, so nothing outlives the Ask (the system's PendingAsks returns to zero).
/// </summary>
internal sealed class AskReply<T> : ReplySink<T>
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ActorSystem _system;
    private readonly string _path;
    private readonly TimeSpan _timeout;
    private ITimer? _timer;
    private CancellationTokenRegistration _cancellation;
    private int _done;

    // Arm and completion each add one; the second one releases the timer and registration, so a
    // completion that races with arming (a tiny timeout) still cleans up.
    private int _phase;

    public AskReply(ActorSystem system, string path, TimeSpan timeout)
    {
        _system = system;
        _path = path;
        _timeout = timeout;
        system.AskStarted();
    }

    public Task<T> Task => _completion.Task;

    public void Arm(CancellationToken cancellationToken)
    {
        if (_timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            _timer = TimeProvider.System.CreateTimer(
                static state => ((AskReply<T>)state!).OnTimeout(), this, _timeout, System.Threading.Timeout.InfiniteTimeSpan);
        }
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(
                static (state, token) => ((AskReply<T>)state!).OnCancelled(token), this);
        }
        if (Interlocked.Increment(ref _phase) == 2)
        {
            Release();
        }
    }

    public override bool TryComplete(long token, T value)
    {
        if (!Claim())
        {
            return false;
        }
        Finish();
        _completion.SetResult(value);
        return true;
    }

    public override bool TryFail(long token, Exception reason)
    {
        if (!Claim())
        {
            return false;
        }
        Finish();
        _completion.SetException(reason);
        return true;
    }

    private void OnTimeout()
    {
        if (Claim())
        {
            Finish();
            _completion.SetException(new AskTimeoutException(_path, _timeout));
        }
    }

    private void OnCancelled(CancellationToken token)
    {
        if (Claim())
        {
            Finish();
            _completion.SetCanceled(token);
        }
    }

    private bool Claim() => Interlocked.Exchange(ref _done, 1) == 0;

    // Runs before the task completes, so whoever awaits the Ask already sees PendingAsks without it.
    private void Finish()
    {
        _system.AskFinished();
        if (Interlocked.Increment(ref _phase) == 2)
        {
            Release();
        }
    }

    private void Release()
    {
        _timer?.Dispose();
        _timer = null;
        _cancellation.Unregister();
    }
}
