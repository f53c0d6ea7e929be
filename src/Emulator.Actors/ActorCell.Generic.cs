using System.Threading.Channels;

namespace Emulator.Actors;

/// <summary>
/// Mailbox and processing of one actor.
///
/// Processing is guarded by one word, <see cref="_processing"/> (0 free, 1 held). Whoever holds it
/// is the only code touching the actor instance: a thread-pool batch (<see cref="Execute"/>), an
/// inline Call on the caller's thread (<see cref="TryInvokeInline"/>), or, for the whole life of
/// the instance, the dedicated thread. A sender enqueues and then tries to take the word; the
/// holder releases it and then looks at the mailbox again, so a message is never left behind
/// without a scheduled run.
/// </summary>
internal sealed class ActorCell<TMessage> : ActorCell, IThreadPoolWorkItem
{
    private readonly Props<TMessage> _props;
    private readonly ChannelReader<Envelope<TMessage>> _reader;
    private readonly ChannelWriter<Envelope<TMessage>> _writer;
    private readonly TaskCompletionSource _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Owned by the processing holder.
    private readonly HashSet<ActorCell> _watchers = [];
    private readonly Dictionary<ActorCell, (bool HasMessage, TMessage? Message)> _watching = [];
    private readonly Queue<long> _restartTimes = new();
    private Actor<TMessage>? _instance;
    private bool _instanceLive;
    private IPendingReply? _currentReply;
    private long _currentToken;
    private Task<bool>? _pendingWait;

    private int _processing;
    private int _ownerThread;
    private volatile int _status;
    private volatile bool _stopRequested;
    private volatile bool _dedicated;

    private long _processed;
    private long _inlineCalls;
    private int _restarts;
    private long _failures;

    public ActorCell(ActorSystem system, ActorCell? parent, string name, Props<TMessage> props)
        : base(system, parent, name)
    {
        _props = props;
        var mailbox = Channel.CreateUnbounded<Envelope<TMessage>>(new UnboundedChannelOptions
        {
            SingleReader = false, // the reader changes hands with the processing word
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
        _reader = mailbox.Reader;
        _writer = mailbox.Writer;
        Self = new ActorRef<TMessage>(this);
        Context = new ActorContext<TMessage>(this);
    }

    public ActorRef<TMessage> Self { get; }

    public ActorContext<TMessage> Context { get; }

    public override ActorRef Ref => Self;

    public override ActorStatus Status => (ActorStatus)_status;

    public override SupervisorStrategy ChildStrategy => _props.ChildStrategy;

    public override Task TerminatedTask => _terminated.Task;

    protected override bool StopRequested => _stopRequested;

    public bool IsStopping => _stopRequested;

    public int MailboxDepth => _reader.Count;

    public long MessagesProcessed => Volatile.Read(ref _processed);

    /// <summary>True when the calling thread is the one processing this actor (a Call to it would deadlock).</summary>
    public bool IsProcessingOnCurrentThread => Volatile.Read(ref _ownerThread) == Environment.CurrentManagedThreadId;

    public override ActorMetrics GetMetrics() => new(
        Path,
        Status,
        _reader.Count,
        Volatile.Read(ref _processed),
        Volatile.Read(ref _inlineCalls),
        Volatile.Read(ref _restarts),
        Interlocked.Read(ref _failures),
        _props.DedicatedThread);

    public void Launch()
    {
        if (_props.DedicatedThread)
        {
            _dedicated = true;
            _processing = 1;
            var thread = new Thread(ThreadMain) { IsBackground = true, Name = "actor " + Path };
            thread.Start();
        }
        else
        {
            Post(new Envelope<TMessage>(Wake.Instance)); // runs PreStart on the pool
        }
    }

    public void Post(in Envelope<TMessage> envelope)
    {
        if (!_writer.TryWrite(envelope))
        {
            Undeliverable(envelope, DeadLetterReason.RecipientTerminated);
            return;
        }
        if (!_dedicated)
        {
            TrySchedule();
        }
    }

    public override void SendSystem(SystemMessage message) => Post(new Envelope<TMessage>(message));

    public override void RequestStop()
    {
        if (Status == ActorStatus.Terminated)
        {
            return;
        }
        _stopRequested = true;
        SendSystem(Wake.Instance);
    }

    // ---- thread-pool dispatch -------------------------------------------------------------

    private void TrySchedule()
    {
        if (Volatile.Read(ref _processing) == 0 && Interlocked.CompareExchange(ref _processing, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        Volatile.Write(ref _ownerThread, Environment.CurrentManagedThreadId);
        try
        {
            RunBatch();
        }
        catch (Exception ex)
        {
            // Only a runtime defect gets here (handler and hook exceptions are caught closer);
            // the process must survive it, so stop this actor.
            System.ReportFailure(new ActorFailure(Self, ex, Directive.Stop));
            TryBeginStop();
        }
        finally
        {
            ReleaseAndReschedule();
        }
    }

    private void RunBatch()
    {
        if (Status == ActorStatus.Starting)
        {
            Start();
        }
        for (int budget = _props.Throughput; budget > 0; budget--)
        {
            if (Status == ActorStatus.Terminated)
            {
                return;
            }
            if (_stopRequested && Status == ActorStatus.Running)
            {
                BeginStop();
                continue;
            }
            if (!_reader.TryRead(out var envelope))
            {
                return;
            }
            Process(in envelope);
        }
    }

    private void ReleaseAndReschedule()
    {
        Volatile.Write(ref _ownerThread, 0);
        Interlocked.Exchange(ref _processing, 0);
        if (Status != ActorStatus.Terminated
            && (_reader.Count > 0 || (_stopRequested && Status == ActorStatus.Running)))
        {
            TrySchedule();
        }
    }

    private void Process(in Envelope<TMessage> envelope)
    {
        if (envelope.System is { } system)
        {
            try
            {
                if (HandleSystem(system, out var deliver))
                {
                    Invoke(new Envelope<TMessage>(deliver));
                }
            }
            catch (Exception ex)
            {
                HandleFailure(ex is EscalatedFailure escalated ? escalated.Reason : ex, null, 0);
            }
            return;
        }
        if (Status != ActorStatus.Running)
        {
            DeadLetter(envelope, DeadLetterReason.DroppedAtStop);
            return;
        }
        Invoke(in envelope);
    }

    private void Invoke(in Envelope<TMessage> envelope)
    {
        _currentReply = envelope.Reply;
        _currentToken = envelope.Token;
        Volatile.Write(ref _processed, _processed + 1); // counted when taken, as TryReceive does
        try
        {
            _instance!.InvokeReceive(envelope.Message!);
        }
        catch (Exception ex)
        {
            HandleFailure(ex, envelope.Reply, envelope.Token);
        }
        finally
        {
            _currentReply = null;
        }
    }

    // ---- inline fast path -----------------------------------------------------------------

    /// <summary>
    /// Runs the handler on the calling thread if the actor is idle: the processing word was free
    /// and the mailbox is empty (so nothing queued earlier is overtaken). Returns false, having
    /// done nothing, otherwise.
    /// </summary>
    public bool TryInvokeInline(TMessage message, IPendingReply reply, long token)
    {
        if (Volatile.Read(ref _processing) != 0 || Interlocked.CompareExchange(ref _processing, 1, 0) != 0)
        {
            return false;
        }
        if (Status != ActorStatus.Running || _stopRequested || _reader.Count != 0)
        {
            ReleaseAndReschedule();
            return false;
        }
        Volatile.Write(ref _ownerThread, Environment.CurrentManagedThreadId);
        Volatile.Write(ref _inlineCalls, _inlineCalls + 1);
        try
        {
            Invoke(new Envelope<TMessage>(message, reply, token));
        }
        finally
        {
            ReleaseAndReschedule();
        }
        return true;
    }

    // ---- dedicated thread -----------------------------------------------------------------

    private void ThreadMain()
    {
        Volatile.Write(ref _ownerThread, Environment.CurrentManagedThreadId);
        try
        {
            Start();
            while (Status == ActorStatus.Running)
            {
                if (_stopRequested)
                {
                    BeginStop();
                    break;
                }
                try
                {
                    _instance!.InvokeRun();
                    BeginStop(); // Run returned: the actor is done
                }
                catch (Exception ex)
                {
                    var reply = _currentReply;
                    _currentReply = null;
                    HandleFailure(ex is EscalatedFailure escalated ? escalated.Reason : ex, reply, _currentToken);
                }
            }
        }
        catch (Exception ex)
        {
            System.ReportFailure(new ActorFailure(Self, ex, Directive.Stop));
            TryBeginStop();
        }
        finally
        {
            // What is left (waiting for children to stop, then termination) runs on the pool.
            _dedicated = false;
            ReleaseAndReschedule();
        }
    }

    public bool TryReceive(out TMessage message)
    {
        EnsureOnDedicatedThread();
        _currentReply = null; // the previous message is done
        while (!_stopRequested && Status == ActorStatus.Running && _reader.TryRead(out var envelope))
        {
            if (envelope.System is { } system)
            {
                if (HandleSystem(system, out message))
                {
                    Volatile.Write(ref _processed, _processed + 1);
                    return true;
                }
                continue;
            }
            _currentReply = envelope.Reply;
            _currentToken = envelope.Token;
            Volatile.Write(ref _processed, _processed + 1);
            message = envelope.Message!;
            return true;
        }
        message = default!;
        return false;
    }

    public bool WaitForMessage(TimeSpan timeout)
    {
        EnsureOnDedicatedThread();
        if (_stopRequested)
        {
            return false;
        }
        // A short spin first, as KVM's halt polling: a message that is already on its way (an
        // interrupt, a reply) is taken without the cost of a kernel sleep and wake-up. It stops
        // before the spinner would start yielding, so an idle actor sleeps within microseconds.
        var spinner = default(SpinWait);
        while (_reader.Count == 0 && !spinner.NextSpinWillYield && !_stopRequested)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        if (_reader.Count > 0)
        {
            return true;
        }
        // One wait stays registered with the channel across timed-out calls, so a halted vCPU that
        // wakes on a timer does not pile up waiters.
        var wait = _pendingWait ??= _reader.WaitToReadAsync().AsTask();
        if (!wait.IsCompleted && !wait.Wait(timeout))
        {
            return false;
        }
        _pendingWait = null;
        return !_stopRequested && _reader.Count > 0;
    }

    private void EnsureOnDedicatedThread()
    {
        if (!_dedicated || !IsProcessingOnCurrentThread)
        {
            throw new InvalidOperationException(
                "TryReceive and WaitForMessage are for an actor with a dedicated thread, called from its Run loop.");
        }
    }

    // ---- system messages, supervision, lifecycle ------------------------------------------

    /// <summary>Handles a runtime message; returns true with a user message when a watch was set up with one.</summary>
    private bool HandleSystem(SystemMessage system, out TMessage deliver)
    {
        deliver = default!;
        switch (system)
        {
            case WatchRequest watch:
                _watchers.Add(watch.Watcher);
                break;
            case UnwatchRequest unwatch:
                _watchers.Remove(unwatch.Watcher);
                break;
            case DeathNotice death:
                if (_watching.Remove(death.Actor, out var entry) && Status == ActorStatus.Running)
                {
                    if (entry.HasMessage)
                    {
                        deliver = entry.Message!;
                        return true;
                    }
                    _instance!.InvokeOnTerminated(new Terminated(death.Actor.Ref));
                }
                break;
            case ChildTerminated child:
                if (RemoveChild(child.Child) == 0 && Status == ActorStatus.Stopping)
                {
                    Finish();
                }
                break;
            case ChildEscalated escalated:
                if (Parent is null)
                {
                    // The guardian has nobody to escalate to: the child has stopped; record it.
                    System.ReportFailure(new ActorFailure(escalated.Child.Ref, escalated.Reason, Directive.Stop));
                }
                else if (Status == ActorStatus.Running)
                {
                    throw new EscalatedFailure(escalated.Reason);
                }
                break;
        }
        return false;
    }

    private void Start()
    {
        _status = (int)ActorStatus.Running;
        try
        {
            _instance = CreateInstance();
            _instance.InvokePreStart();
            _instanceLive = true;
        }
        catch (Exception ex)
        {
            // As Akka's ActorInitializationException: an actor that cannot start is stopped.
            Interlocked.Increment(ref _failures);
            System.ReportFailure(new ActorFailure(Self, ex, Directive.Stop));
            BeginStop();
        }
    }

    private Actor<TMessage> CreateInstance()
    {
        var instance = _props.Factory() ?? throw new InvalidOperationException($"The Props factory of {Path} returned null.");
        instance.Attach(this);
        return instance;
    }

    private void HandleFailure(Exception reason, IPendingReply? reply, long token)
    {
        reply?.TryFail(token, new ActorFailedException(Path, reason));
        Interlocked.Increment(ref _failures);
        var strategy = _props.Supervision ?? Parent?.ChildStrategy ?? SupervisorStrategy.Stopping;
        Directive directive;
        try
        {
            directive = strategy.Decide(Self, reason);
        }
        catch (Exception)
        {
            directive = Directive.Stop;
        }
        if (directive == Directive.Restart && !RestartAllowed(strategy))
        {
            directive = Directive.Stop;
        }
        System.ReportFailure(new ActorFailure(Self, reason, directive));
        switch (directive)
        {
            case Directive.Restart:
                Restart(reason);
                break;
            case Directive.Escalate:
                BeginStop();
                Parent?.SendSystem(new ChildEscalated(this, reason));
                break;
            default:
                BeginStop();
                break;
        }
    }

    private bool RestartAllowed(SupervisorStrategy strategy)
    {
        if (strategy.MaxRestarts < 0)
        {
            return true;
        }
        long now = Environment.TickCount64;
        long windowStart = now - (long)strategy.Window.TotalMilliseconds;
        while (_restartTimes.Count > 0 && _restartTimes.Peek() < windowStart)
        {
            _restartTimes.Dequeue();
        }
        if (_restartTimes.Count >= strategy.MaxRestarts)
        {
            return false;
        }
        _restartTimes.Enqueue(now);
        return true;
    }

    private void Restart(Exception reason)
    {
        if (_instanceLive)
        {
            _instanceLive = false;
            RunHook(static (actor, reason) => actor.InvokePreRestart(reason!), reason);
        }
        StopAllChildren();
        Interlocked.Increment(ref _restarts);
        try
        {
            _instance = CreateInstance();
            _instance.InvokePostRestart(reason);
            _instanceLive = true;
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _failures);
            System.ReportFailure(new ActorFailure(Self, ex, Directive.Stop));
            BeginStop();
        }
    }

    private void RunHook(Action<Actor<TMessage>, Exception?> hook, Exception? reason)
    {
        try
        {
            hook(_instance!, reason);
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _failures);
            System.ReportFailure(new ActorFailure(Self, ex, Directive.Stop));
        }
    }

    private void TryBeginStop()
    {
        try
        {
            BeginStop();
        }
        catch (Exception)
        {
            // Nothing more can be done for this actor; the process goes on.
        }
    }

    /// <summary>Stops the children, then (once they have all terminated) finishes the stop.</summary>
    private void BeginStop()
    {
        if (Status is ActorStatus.Stopping or ActorStatus.Terminated)
        {
            return;
        }
        _stopRequested = true;
        _status = (int)ActorStatus.Stopping;
        StopAllChildren();
        if (LiveChildCount == 0)
        {
            Finish();
        }
    }

    private void Finish()
    {
        if (_instanceLive)
        {
            _instanceLive = false;
            RunHook(static (actor, _) => actor.InvokePostStop(), null);
        }
        _writer.TryComplete();
        _status = (int)ActorStatus.Terminated;
        while (_reader.TryRead(out var envelope))
        {
            Undeliverable(envelope, DeadLetterReason.DroppedAtStop);
        }
        foreach (var target in _watching.Keys)
        {
            target.SendSystem(new UnwatchRequest(this));
        }
        _watching.Clear();
        foreach (var watcher in _watchers)
        {
            watcher.SendSystem(new DeathNotice(this));
        }
        _watchers.Clear();
        Parent?.SendSystem(new ChildTerminated(this));
        _terminated.TrySetResult();
    }

    private void Undeliverable(in Envelope<TMessage> envelope, DeadLetterReason reason)
    {
        if (envelope.System is { } system)
        {
            if (system is WatchRequest watch)
            {
                watch.Watcher.SendSystem(new DeathNotice(this)); // watching the dead: notify at once
            }
            return;
        }
        DeadLetter(envelope, reason);
    }

    private void DeadLetter(in Envelope<TMessage> envelope, DeadLetterReason reason)
    {
        envelope.Reply?.TryFail(envelope.Token, new ActorStoppedException(Path));
        System.DeadLetters.Publish(new DeadLetter(Path, envelope.Message!, reason));
    }

    // ---- death watch (called by the actor, in its processing context) ---------------------

    public void Watch(ActorCell target, bool hasMessage, TMessage? message)
    {
        if (target == this)
        {
            throw new InvalidOperationException("An actor cannot watch itself.");
        }
        _watching[target] = (hasMessage, message);
        target.SendSystem(new WatchRequest(this));
    }

    public void Unwatch(ActorCell target)
    {
        if (_watching.Remove(target))
        {
            target.SendSystem(new UnwatchRequest(this));
        }
    }
}
