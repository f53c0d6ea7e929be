namespace Emulator.Actors;

/// <summary>
/// The runtime side of one actor, independent of its message type: identity, place in the tree
/// and children. <see cref="ActorCell{TMessage}"/> adds the mailbox and the processing.
/// </summary>
internal abstract class ActorCell
{
    private readonly object _childGate = new();
    private readonly Dictionary<string, ActorCell> _childrenByName = new(StringComparer.Ordinal);
    private readonly HashSet<ActorCell> _liveChildren = [];
    private long _autoName;

    protected ActorCell(ActorSystem system, ActorCell? parent, string name)
    {
        System = system;
        Parent = parent;
        Name = name;
        Path = parent is null ? "/" + name : parent.Path + "/" + name;
    }

    public ActorSystem System { get; }

    public ActorCell? Parent { get; }

    public string Name { get; }

    public string Path { get; }

    public abstract ActorRef Ref { get; }

    public abstract ActorStatus Status { get; }

    /// <summary>The strategy this actor applies to its children.</summary>
    public abstract SupervisorStrategy ChildStrategy { get; }

    public abstract Task TerminatedTask { get; }

    /// <summary>True once a stop was requested: no new children are accepted.</summary>
    protected abstract bool StopRequested { get; }

    public abstract void SendSystem(SystemMessage message);

    public abstract void RequestStop();

    public abstract ActorMetrics GetMetrics();

    public ActorRef<TChild> SpawnChild<TChild>(Props<TChild> props, string? name)
    {
        ArgumentNullException.ThrowIfNull(props);
        if (name is not null && (name.Length == 0 || name.Contains('/') || name.StartsWith('$')))
        {
            throw new ArgumentException("An actor name is non-empty, has no '/' and does not start with '$'.", nameof(name));
        }
        ActorCell<TChild> child;
        lock (_childGate)
        {
            if (StopRequested || Status is ActorStatus.Stopping or ActorStatus.Terminated)
            {
                throw new InvalidOperationException($"{Path} is stopping and accepts no new children.");
            }
            name ??= "$" + (++_autoName).ToString(global::System.Globalization.CultureInfo.InvariantCulture);
            if (_childrenByName.ContainsKey(name))
            {
                throw new InvalidOperationException($"{Path} already has a child named '{name}'.");
            }
            child = new ActorCell<TChild>(System, this, name, props);
            _childrenByName.Add(name, child);
            _liveChildren.Add(child);
        }
        child.Launch();
        return child.Self;
    }

    public IReadOnlyList<ActorRef> ChildrenSnapshot()
    {
        lock (_childGate)
        {
            return [.. _childrenByName.Values.Select(c => c.Ref)];
        }
    }

    public void CollectMetrics(List<ActorMetrics> into)
    {
        into.Add(GetMetrics());
        ActorCell[] children;
        lock (_childGate)
        {
            children = [.. _liveChildren];
        }
        foreach (var child in children)
        {
            child.CollectMetrics(into);
        }
    }

    /// <summary>Asks every child to stop; their names are free at once, they leave the live set when they report termination.</summary>
    protected void StopAllChildren()
    {
        ActorCell[] children;
        lock (_childGate)
        {
            children = [.. _liveChildren];
            _childrenByName.Clear();
        }
        foreach (var child in children)
        {
            child.RequestStop();
        }
    }

    /// <summary>Forgets a terminated child; returns how many children are still alive.</summary>
    protected int RemoveChild(ActorCell child)
    {
        lock (_childGate)
        {
            _liveChildren.Remove(child);
            if (_childrenByName.TryGetValue(child.Name, out var named) && named == child)
            {
                _childrenByName.Remove(child.Name);
            }
            return _liveChildren.Count;
        }
    }

    protected int LiveChildCount
    {
        get
        {
            lock (_childGate)
            {
                return _liveChildren.Count;
            }
        }
    }

    public bool IsChild(ActorCell cell)
    {
        lock (_childGate)
        {
            return _liveChildren.Contains(cell);
        }
    }
}
