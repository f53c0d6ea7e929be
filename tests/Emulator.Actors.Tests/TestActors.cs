using System.Collections.Concurrent;

namespace Emulator.Actors.Tests;

/// <summary>Records what happened to actors, across instances and threads.</summary>
public sealed class Probe
{
    private readonly ConcurrentQueue<string> _events = new();
    private int _instances;

    public IReadOnlyList<string> Events => [.. _events];

    public int Instances => Volatile.Read(ref _instances);

    public int NewInstance() => Interlocked.Increment(ref _instances);

    public void Record(string what) => _events.Enqueue(what);
}

public abstract record CounterMessage;

public sealed record Add(int Amount) : CounterMessage;

public sealed record GetCount(ReplyTo<int> ReplyTo) : CounterMessage;

public sealed record Crash(string Why) : CounterMessage;

/// <summary>Holds the handler until <paramref name="Release"/> is set, after setting <paramref name="Entered"/>.</summary>
public sealed record Hold(ManualResetEventSlim Entered, ManualResetEventSlim Release) : CounterMessage;

public sealed record NeverReply(ReplyTo<int> ReplyTo) : CounterMessage;

public sealed record WatchIt(ActorRef Target) : CounterMessage;

public sealed record SpawnChild(string Name, Probe ChildProbe, ReplyTo<ActorRef<CounterMessage>> ReplyTo) : CounterMessage;

public sealed record ChildGone(string Name) : CounterMessage;

public sealed record SpawnWith(string Name, Props<CounterMessage> Props, ReplyTo<ActorRef<CounterMessage>> ReplyTo) : CounterMessage;

public sealed record WatchWithGone(ActorRef Target) : CounterMessage;

public sealed record UnwatchIt(ActorRef Target) : CounterMessage;

public sealed record CallSelf(ReplyTo<string> ReplyTo) : CounterMessage;

/// <summary>A counter with lifecycle logging: its state is the count, reset by a restart.</summary>
public sealed class CounterActor(Probe probe) : Actor<CounterMessage>
{
    private readonly int _instance = probe.NewInstance();
    private int _count;

    protected override void PreStart() => probe.Record($"PreStart {_instance}");

    protected override void PostStop() => probe.Record($"PostStop {_instance}");

    protected override void PreRestart(Exception reason)
    {
        probe.Record($"PreRestart {_instance} {reason.Message}");
        base.PreRestart(reason);
    }

    protected override void PostRestart(Exception reason)
    {
        probe.Record($"PostRestart {_instance} {reason.Message}");
        base.PostRestart(reason);
    }

    protected override void OnTerminated(Terminated terminated) => probe.Record($"Terminated {terminated.Actor.Name}");

    protected override void Receive(CounterMessage message)
    {
        switch (message)
        {
            case Add add:
                _count += add.Amount;
                break;
            case GetCount get:
                get.ReplyTo.Reply(_count);
                break;
            case Crash crash:
                throw new InvalidOperationException(crash.Why);
            case Hold hold:
                hold.Entered.Set();
                hold.Release.Wait(TimeSpan.FromSeconds(5));
                break;
            case NeverReply:
                break;
            case WatchIt watch:
                Context.Watch(watch.Target);
                break;
            case SpawnChild spawn:
                var props = Props.Create(() => new CounterActor(spawn.ChildProbe));
                spawn.ReplyTo.Reply(Context.Spawn(props, spawn.Name));
                break;
            case UnwatchIt unwatch:
                Context.Unwatch(unwatch.Target);
                break;
            case WatchWithGone watch:
                Context.WatchWith(watch.Target, new ChildGone(watch.Target.Name));
                break;
            case CallSelf call:
                try
                {
                    Self.Call<int>(r => new GetCount(r), TimeSpan.FromSeconds(1));
                    call.ReplyTo.Reply("no exception");
                }
                catch (InvalidOperationException ex)
                {
                    call.ReplyTo.Reply(ex.GetType().Name);
                }
                break;
            case SpawnWith spawnWith:
                spawnWith.ReplyTo.Reply(Context.Spawn(spawnWith.Props, spawnWith.Name));
                break;
            case ChildGone gone:
                probe.Record($"ChildGone {gone.Name}");
                break;
        }
    }
}

internal static class TestWait
{
    /// <summary>
    /// How long a test waits for something that should happen at once before it gives up. It bounds
    /// only how long a failing test takes to fail; a passing one goes on as soon as the thing
    /// happens. Generous, so a loaded 2-core machine does not fail a test for being slow.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="condition"/> until it holds or the timeout passes.</summary>
    public static bool Until(Func<bool> condition, TimeSpan? timeout = null)
    {
        long deadline = Environment.TickCount64 + (long)(timeout ?? Timeout).TotalMilliseconds;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }
            Thread.Sleep(1);
        }
        return true;
    }

    public static int Count(this ActorRef<CounterMessage> counter) =>
        counter.Ask<int>(r => new GetCount(r), Timeout).GetAwaiter().GetResult();
}
