namespace Emulator.Actors;

public sealed record ActorSystemOptions
{
    /// <summary>How the guardian handles failures of top-level actors.</summary>
    public SupervisorStrategy GuardianStrategy { get; init; } = SupervisorStrategy.Default;
}

/// <summary>
/// A tree of actors under one root guardian, with its dead-letter sink. A failing actor is handled
/// by its parent's strategy; an escalation that reaches the guardian stops that top-level actor and
/// is reported in <see cref="ActorFailed"/>. Nothing an actor throws reaches the process.
/// </summary>
public sealed class ActorSystem : IDisposable, IAsyncDisposable
{
    private readonly ActorCell<GuardianActor.Message> _guardian;
    private long _failureCount;
    private int _pendingAsks;

    private ActorSystem(string name, ActorSystemOptions options)
    {
        Name = name;
        var props = Props.Create(() => new GuardianActor()).WithChildStrategy(options.GuardianStrategy);
        _guardian = new ActorCell<GuardianActor.Message>(this, null, name, props);
        _guardian.Launch();
    }

    public static ActorSystem Create(string name, ActorSystemOptions? options = null)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/'))
        {
            throw new ArgumentException("A system name is non-empty and has no '/'.", nameof(name));
        }
        return new ActorSystem(name, options ?? new ActorSystemOptions());
    }

    public string Name { get; }

    /// <summary>The root actor; the parent of every actor spawned by <see cref="Spawn{TMessage}"/>.</summary>
    public ActorRef Guardian => _guardian.Self;

    public DeadLetterSink DeadLetters { get; } = new();

    /// <summary>Every failure and the directive its supervisor applied, raised on the failing actor's thread.</summary>
    public event Action<ActorFailure>? ActorFailed;

    public long FailureCount => Interlocked.Read(ref _failureCount);

    /// <summary>Asks waiting for a reply; back to zero once each has a reply, timed out or was cancelled.</summary>
    public int PendingAsks => Volatile.Read(ref _pendingAsks);

    public Task WhenTerminated => _guardian.TerminatedTask;

    /// <summary>Spawns a top-level actor, a child of the guardian.</summary>
    public ActorRef<TMessage> Spawn<TMessage>(Props<TMessage> props, string? name = null) => _guardian.SpawnChild(props, name);

    /// <summary>Stops an actor once its current message is done; its pending messages go to dead letters.</summary>
    public void Stop(ActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        actor.Cell.RequestStop();
    }

    /// <summary>Metrics of every live actor, the guardian first, parents before children.</summary>
    public IReadOnlyList<ActorMetrics> GetMetrics()
    {
        var metrics = new List<ActorMetrics>();
        _guardian.CollectMetrics(metrics);
        return metrics;
    }

    /// <summary>Stops every actor (children before parents) and completes when all have terminated.</summary>
    public Task TerminateAsync()
    {
        _guardian.RequestStop();
        return _guardian.TerminatedTask;
    }

    public void Dispose() => TerminateAsync().Wait(TimeSpan.FromSeconds(10));

    public ValueTask DisposeAsync() => new(TerminateAsync());

    internal void ReportFailure(ActorFailure failure)
    {
        Interlocked.Increment(ref _failureCount);
        var handlers = ActorFailed;
        if (handlers is null)
        {
            return;
        }
        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((Action<ActorFailure>)handler)(failure);
            }
            catch (Exception)
            {
                // Observers must not break supervision.
            }
        }
    }

    internal void AskStarted() => Interlocked.Increment(ref _pendingAsks);

    internal void AskFinished() => Interlocked.Decrement(ref _pendingAsks);

    /// <summary>The root: no behaviour of its own, it only supervises the top-level actors.</summary>
    internal sealed class GuardianActor : Actor<GuardianActor.Message>
    {
        internal abstract record Message;

        protected override void Receive(Message message)
        {
        }
    }
}
