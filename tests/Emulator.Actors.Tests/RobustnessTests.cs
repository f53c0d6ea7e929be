using System.Collections.Concurrent;

namespace Emulator.Actors.Tests;

/// <summary>Whatever an actor, a hook, a decider or an observer throws, the process and the rest of the system go on.</summary>
public sealed class RobustnessTests
{
    private static readonly TimeSpan Timeout = TestWait.Timeout;

    private sealed class Hostile(Probe probe, bool throwInPostStop, bool throwInOnTerminated) : Actor<CounterMessage>
    {
        protected override void PreStart() => probe.NewInstance();

        protected override void PostStop()
        {
            if (throwInPostStop)
            {
                throw new InvalidOperationException("PostStop broke");
            }
        }

        protected override void OnTerminated(Terminated terminated)
        {
            if (throwInOnTerminated)
            {
                throw new InvalidOperationException("OnTerminated broke");
            }
        }

        protected override void Receive(CounterMessage message)
        {
            switch (message)
            {
                case Crash crash:
                    throw new InvalidOperationException(crash.Why);
                case WatchIt watch:
                    Context.Watch(watch.Target);
                    break;
                case GetCount get:
                    get.ReplyTo.Reply(probe.Instances);
                    break;
            }
        }
    }

    [Fact]
    public async Task A_throwing_PostStop_is_reported_and_the_actor_still_terminates()
    {
        using var system = ActorSystem.Create("poststop");
        var failures = new ConcurrentQueue<ActorFailure>();
        system.ActorFailed += failures.Enqueue;
        system.ActorFailed += _ => throw new InvalidOperationException("a broken observer");
        var hostile = system.Spawn(Props.Create<CounterMessage>(() => new Hostile(new Probe(), true, false)));

        system.Stop(hostile);

        await hostile.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal("PostStop broke", Assert.Single(failures).Reason.Message);
    }

    [Fact]
    public async Task A_throwing_decider_counts_as_Stop()
    {
        var strategy = new SupervisorStrategy(_ => throw new NotSupportedException("decider broke"));
        using var system = ActorSystem.Create("decider", new ActorSystemOptions { GuardianStrategy = strategy });
        var hostile = system.Spawn(Props.Create<CounterMessage>(() => new Hostile(new Probe(), false, false)));

        hostile.Tell(new Crash("x"));

        await hostile.WhenTerminated.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_factory_that_throws_on_restart_stops_the_actor()
    {
        using var system = ActorSystem.Create("factory");
        int made = 0;
        var probe = new Probe();
        var hostile = system.Spawn(Props.Create<CounterMessage>(() =>
            Interlocked.Increment(ref made) == 1 ? new Hostile(probe, false, false) : throw new OutOfMemoryException("no more")));

        hostile.Tell(new Crash("x"));

        await hostile.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(2, made);
        Assert.Equal(1, hostile.GetMetrics().Restarts);
    }

    [Fact]
    public void A_throwing_OnTerminated_goes_to_supervision_like_a_handler()
    {
        using var system = ActorSystem.Create("onterminated");
        var probe = new Probe();
        var hostile = system.Spawn(Props.Create<CounterMessage>(() => new Hostile(probe, false, true)));
        var target = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        hostile.Tell(new WatchIt(target));

        system.Stop(target);

        Assert.True(TestWait.Until(() => hostile.GetMetrics().Restarts == 1));
        Assert.Equal(2, hostile.Call<int>(r => new GetCount(r), Timeout));
    }

    [Fact]
    public async Task Escalation_through_two_levels_lets_the_grandparent_stop_the_parent()
    {
        using var system = ActorSystem.Create("twolevels");
        var failures = new ConcurrentQueue<ActorFailure>();
        system.ActorFailed += failures.Enqueue;
        var grandparent = system.Spawn(
            Props.Create(() => new CounterActor(new Probe())).WithChildStrategy(SupervisorStrategy.Stopping), "gp");
        var parentProps = Props.Create(() => new CounterActor(new Probe())).WithChildStrategy(SupervisorStrategy.Escalating);
        var parent = await grandparent.Ask<ActorRef<CounterMessage>>(r => new SpawnWith("p", parentProps, r), Timeout);
        var childProps = Props.Create(() => new CounterActor(new Probe()));
        var child = await parent.Ask<ActorRef<CounterMessage>>(r => new SpawnWith("c", childProps, r), Timeout);
        Assert.Equal("/twolevels/gp/p/c", child.Path);

        child.Tell(new Crash("grandchild broke"));

        await child.WhenTerminated.WaitAsync(Timeout);
        await parent.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(ActorStatus.Running, grandparent.Status);
        Assert.Equal(0, grandparent.Count());
        Assert.Equal(
            [(child, Directive.Escalate), (parent, Directive.Stop)],
            failures.Select(f => ((ActorRef<CounterMessage>)f.Actor, f.Directive)));
        Assert.All(failures, f => Assert.Equal("grandchild broke", f.Reason.Message));
    }

    [Fact]
    public async Task Unwatch_cancels_the_Terminated_notification()
    {
        using var system = ActorSystem.Create("unwatch");
        var watcherProbe = new Probe();
        var watcher = system.Spawn(Props.Create(() => new CounterActor(watcherProbe)), "watcher");
        var target = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "target");
        watcher.Tell(new WatchIt(target));
        watcher.Tell(new UnwatchIt(target));
        watcher.Count();

        system.Stop(target);
        await target.WhenTerminated.WaitAsync(Timeout);
        watcher.Tell(new WatchIt(system.Spawn(Props.Create(() => new CounterActor(new Probe())), "other")));
        watcher.Count();

        Assert.DoesNotContain("Terminated target", watcherProbe.Events);
    }
}
