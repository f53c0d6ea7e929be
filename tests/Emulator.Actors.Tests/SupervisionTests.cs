using System.Collections.Concurrent;

namespace Emulator.Actors.Tests;

public sealed class SupervisionTests
{
    private static readonly TimeSpan Timeout = TestWait.Timeout;

    [Fact]
    public void Restart_makes_a_new_instance_resets_state_and_keeps_the_mailbox()
    {
        using var system = ActorSystem.Create("restart");
        var probe = new Probe();
        var counter = system.Spawn(Props.Create(() => new CounterActor(probe)), "counter");
        counter.Tell(new Add(5));
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        counter.Tell(new Hold(entered, release));
        Assert.True(entered.Wait(Timeout));

        counter.Tell(new Crash("boom"));   // queued behind Hold
        counter.Tell(new Add(3));          // queued behind the crash: must survive the restart
        counter.Tell(new Add(4));
        release.Set();

        Assert.Equal(7, counter.Count()); // 5 was the old instance's state
        Assert.Equal(2, probe.Instances);
        Assert.Equal(1, counter.GetMetrics().Restarts);
        Assert.Equal(
            ["PreStart 1", "PreRestart 1 boom", "PostStop 1", "PostRestart 2 boom", "PreStart 2"],
            probe.Events);
        Assert.Equal(ActorStatus.Running, counter.Status);
    }

    [Fact]
    public async Task Stop_directive_stops_the_child_and_dead_letters_its_pending_messages()
    {
        using var system = ActorSystem.Create("stopdirective");
        var probe = new Probe();
        // The guardian restarts by default; this child's Props override that (per-child configuration).
        var counter = system.Spawn(Props.Create(() => new CounterActor(probe)).WithSupervision(SupervisorStrategy.Stopping));
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        counter.Tell(new Hold(entered, release));
        Assert.True(entered.Wait(Timeout));
        counter.Tell(new Crash("fatal"));
        counter.Tell(new Add(1));
        counter.Tell(new Add(2));
        release.Set();

        await counter.WhenTerminated.WaitAsync(Timeout);

        Assert.Equal(1, probe.Instances);
        Assert.Equal(["PreStart 1", "PostStop 1"], probe.Events);
        Assert.Equal(2, system.DeadLetters.Count);
    }

    [Fact]
    public async Task Decider_can_choose_per_child()
    {
        var strategy = new SupervisorStrategy((child, _) => child.Name == "fragile" ? Directive.Stop : Directive.Restart);
        using var system = ActorSystem.Create("perchild", new ActorSystemOptions { GuardianStrategy = strategy });
        var fragile = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "fragile");
        var sturdy = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "sturdy");

        fragile.Tell(new Crash("x"));
        sturdy.Tell(new Crash("x"));

        await fragile.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(0, sturdy.Count());
        Assert.Equal(1, sturdy.GetMetrics().Restarts);
    }

    [Fact]
    public async Task Restarts_beyond_the_limit_within_the_window_stop_the_actor()
    {
        using var system = ActorSystem.Create("limit");
        var failures = new ConcurrentQueue<ActorFailure>();
        system.ActorFailed += failures.Enqueue;
        var probe = new Probe();
        var props = Props.Create(() => new CounterActor(probe))
            .WithSupervision(SupervisorStrategy.Restarting(maxRestarts: 3, window: TimeSpan.FromMinutes(1)));
        var counter = system.Spawn(props);

        for (int i = 0; i < 5; i++)
        {
            counter.Tell(new Crash($"crash {i}"));
        }

        await counter.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(3, counter.GetMetrics().Restarts);
        Assert.Equal(4, probe.Instances);
        Assert.Equal(
            [Directive.Restart, Directive.Restart, Directive.Restart, Directive.Stop],
            failures.Select(f => f.Directive));
        Assert.Equal(1, system.DeadLetters.Count); // the fifth crash was still queued
    }

    [Fact]
    public async Task Escalate_stops_the_child_and_fails_the_parent_for_the_grandparent_to_restart()
    {
        using var system = ActorSystem.Create("escalate");
        var parentProbe = new Probe();
        var childProbe = new Probe();
        var parent = system.Spawn(
            Props.Create(() => new CounterActor(parentProbe)).WithChildStrategy(SupervisorStrategy.Escalating), "parent");
        parent.Tell(new Add(9));
        var child = await parent.Ask<ActorRef<CounterMessage>>(r => new SpawnChild("child", childProbe, r), Timeout);
        Assert.Equal("/escalate/parent/child", child.Path);

        child.Tell(new Crash("child broke"));

        await child.WhenTerminated.WaitAsync(Timeout);
        Assert.True(TestWait.Until(() => parent.GetMetrics().Restarts == 1));
        Assert.Equal(0, parent.Count()); // the parent was restarted: a new instance
        Assert.Equal(2, parentProbe.Instances);
        Assert.Contains("PreRestart 1 child broke", parentProbe.Events);
        Assert.Equal(1, childProbe.Instances);
    }

    [Fact]
    public async Task Escalation_to_the_guardian_stops_the_top_level_actor_and_the_system_goes_on()
    {
        using var system = ActorSystem.Create("toguardian");
        var failures = new ConcurrentQueue<ActorFailure>();
        system.ActorFailed += failures.Enqueue;
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())).WithSupervision(SupervisorStrategy.Escalating));

        counter.Tell(new Crash("up"));

        await counter.WhenTerminated.WaitAsync(Timeout);
        Assert.True(TestWait.Until(() => failures.Count == 2));
        Assert.All(failures, f => Assert.Same(counter, f.Actor));
        Assert.Equal(ActorStatus.Running, system.Guardian.Status);
        var other = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        other.Tell(new Add(1));
        Assert.Equal(1, other.Count());
    }

    [Fact]
    public async Task Restarting_a_parent_stops_its_children()
    {
        using var system = ActorSystem.Create("restartkids");
        var parent = system.Spawn(Props.Create(() => new CounterActor(new Probe())), "parent");
        var childProbe = new Probe();
        var child = await parent.Ask<ActorRef<CounterMessage>>(r => new SpawnChild("kid", childProbe, r), Timeout);

        parent.Tell(new Crash("parent broke"));

        await child.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(["PreStart 1", "PostStop 1"], childProbe.Events);
        // The name is free again for the new instance's children.
        var again = await parent.Ask<ActorRef<CounterMessage>>(r => new SpawnChild("kid", new Probe(), r), Timeout);
        Assert.NotSame(child, again);
    }

    [Fact]
    public async Task An_actor_whose_PreStart_throws_is_stopped()
    {
        using var system = ActorSystem.Create("prestart");
        var failures = new ConcurrentQueue<ActorFailure>();
        system.ActorFailed += failures.Enqueue;

        var broken = system.Spawn(Props.Create<CounterMessage>(() => new BrokenAtStart()));

        await broken.WhenTerminated.WaitAsync(Timeout);
        var failure = Assert.Single(failures);
        Assert.Equal(Directive.Stop, failure.Directive);
        Assert.IsType<InvalidDataException>(failure.Reason);
    }

    private sealed class BrokenAtStart : Actor<CounterMessage>
    {
        protected override void PreStart() => throw new InvalidDataException("no device");

        protected override void Receive(CounterMessage message)
        {
        }
    }
}
