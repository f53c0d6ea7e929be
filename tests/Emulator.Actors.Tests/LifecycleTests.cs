using System.Collections.Concurrent;

namespace Emulator.Actors.Tests;

public sealed class LifecycleTests
{
    private static readonly TimeSpan Timeout = TestWait.Timeout;

    [Fact]
    public async Task Stop_finishes_the_current_message_and_dead_letters_the_pending_ones()
    {
        using var system = ActorSystem.Create("stop");
        using var subscription = system.DeadLetters.Subscribe();
        var probe = new Probe();
        var counter = system.Spawn(Props.Create(() => new CounterActor(probe)), "counter");
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        counter.Tell(new Hold(entered, release));
        Assert.True(entered.Wait(Timeout));
        counter.Tell(new Add(1));
        counter.Tell(new Add(2));
        counter.Tell(new Add(3));

        system.Stop(counter);
        Assert.Equal(ActorStatus.Running, counter.Status); // still inside Hold
        release.Set();

        await counter.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(["PreStart 1", "PostStop 1"], probe.Events);
        Assert.Equal(3, system.DeadLetters.Count);
        var letters = new List<DeadLetter>();
        while (subscription.Reader.TryRead(out var letter))
        {
            letters.Add(letter);
        }
        Assert.Equal([new Add(1), new Add(2), new Add(3)], letters.Select(l => l.Message));
        Assert.All(letters, l => Assert.Equal("/stop/counter", l.RecipientPath));
        Assert.All(letters, l => Assert.Equal(DeadLetterReason.DroppedAtStop, l.Reason));
    }

    [Fact]
    public async Task Tell_to_a_stopped_actor_goes_to_dead_letters_without_throwing()
    {
        using var system = ActorSystem.Create("deadletters");
        var seen = new ConcurrentQueue<DeadLetter>();
        system.DeadLetters.Published += seen.Enqueue;
        system.DeadLetters.Published += _ => throw new InvalidOperationException("a broken observer");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        system.Stop(counter);
        await counter.WhenTerminated.WaitAsync(Timeout);

        for (int i = 0; i < 10; i++)
        {
            counter.Tell(new Add(i));
        }

        Assert.Equal(10, system.DeadLetters.Count);
        Assert.Equal(10, seen.Count);
        Assert.All(seen, l => Assert.Equal(DeadLetterReason.RecipientTerminated, l.Reason));
    }

    [Fact]
    public async Task Watch_delivers_Terminated_when_the_watched_actor_stops()
    {
        using var system = ActorSystem.Create("watch");
        var watcherProbe = new Probe();
        var watcher = system.Spawn(Props.Create(() => new CounterActor(watcherProbe)), "watcher");
        var target = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "target");
        watcher.Tell(new WatchIt(target));
        watcher.Count(); // the watch is set up

        system.Stop(target);

        await target.WhenTerminated.WaitAsync(Timeout);
        Assert.True(TestWait.Until(() => watcherProbe.Events.Contains("Terminated target")));
    }

    [Fact]
    public async Task Watching_an_actor_that_is_already_dead_delivers_Terminated_at_once()
    {
        using var system = ActorSystem.Create("watchdead");
        var watcherProbe = new Probe();
        var watcher = system.Spawn(Props.Create(() => new CounterActor(watcherProbe)), "watcher");
        var target = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "target");
        system.Stop(target);
        await target.WhenTerminated.WaitAsync(Timeout);

        watcher.Tell(new WatchIt(target));

        Assert.True(TestWait.Until(() => watcherProbe.Events.Contains("Terminated target")));
    }

    [Fact]
    public async Task WatchWith_delivers_the_given_message_and_a_crash_restart_does_not_count_as_termination()
    {
        using var system = ActorSystem.Create("watchwith");
        var watcherProbe = new Probe();
        var watcher = system.Spawn(Props.Create(() => new CounterActor(watcherProbe)), "watcher");
        var target = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "target");
        watcher.Tell(new WatchWithGone(target));
        watcher.Count();

        target.Tell(new Crash("restart, not death"));
        Assert.Equal(0, target.Count());
        Assert.DoesNotContain("ChildGone target", watcherProbe.Events);
        system.Stop(target);

        await target.WhenTerminated.WaitAsync(Timeout);
        Assert.True(TestWait.Until(() => watcherProbe.Events.Contains("ChildGone target")));
        Assert.DoesNotContain("Terminated target", watcherProbe.Events);
    }

    [Fact]
    public async Task Children_stop_before_their_parent_and_the_parent_PostStop_runs_last()
    {
        using var system = ActorSystem.Create("tree");
        var probe = new Probe(); // shared: parent is instance 1, children 2 and 3
        var parent = system.Spawn(Props.Create(() => new CounterActor(probe)), "parent");
        var a = await parent.Ask<ActorRef<CounterMessage>>(r => new SpawnChild("a", probe, r), Timeout);
        var b = await parent.Ask<ActorRef<CounterMessage>>(r => new SpawnChild("b", probe, r), Timeout);

        await system.TerminateAsync().WaitAsync(Timeout);

        Assert.True(a.IsTerminated && b.IsTerminated && parent.IsTerminated && system.Guardian.IsTerminated);
        var events = probe.Events;
        Assert.Equal("PostStop 1", events[^1]);
        Assert.Contains("PostStop 2", events);
        Assert.Contains("PostStop 3", events);
        Assert.Throws<InvalidOperationException>(() => system.Spawn(Props.Create(() => new CounterActor(probe))));
    }

    [Fact]
    public void Metrics_show_depth_processed_and_restarts_from_outside()
    {
        using var system = ActorSystem.Create("metrics");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "counter");
        counter.Count();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        counter.Tell(new Hold(entered, release));
        Assert.True(entered.Wait(Timeout));
        for (int i = 0; i < 5; i++)
        {
            counter.Tell(new Add(1));
        }

        var blocked = counter.GetMetrics();
        Assert.Equal(5, blocked.MailboxDepth);
        Assert.Equal(5, counter.MailboxDepth);
        Assert.Equal(2, blocked.MessagesProcessed); // the first GetCount and Hold (counted when taken)
        release.Set();
        counter.Tell(new Crash("count me"));

        Assert.Equal(0, counter.Count()); // the crash restarted it after the five Adds
        var after = counter.GetMetrics();
        Assert.Equal(0, after.MailboxDepth);
        Assert.Equal(1 + 1 + 5 + 1 + 1, after.MessagesProcessed);
        Assert.Equal(1, after.Restarts);
        Assert.Equal(1, after.Failures);
        Assert.Equal(ActorStatus.Running, after.Status);
        var all = system.GetMetrics();
        Assert.Equal(["/metrics", "/metrics/counter"], all.Select(m => m.Path));
    }
}
