using System.Runtime.CompilerServices;
using System.Collections.Concurrent;

namespace Emulator.Actors.Tests;

public sealed class InlineCallTests
{
    private static readonly TimeSpan Timeout = TestWait.Timeout;

    public abstract record DeviceMessage;

    public sealed record ReadRegister(ReplyTo<long> ReplyTo) : DeviceMessage;

    public sealed record WriteRegister(long Value, ReplyTo<long> ReplyTo) : DeviceMessage;

    public sealed record Increment : DeviceMessage;

    public sealed record ReadThread(ReplyTo<int> ReplyTo) : DeviceMessage;

    /// <summary>A device whose handler checks that it never runs twice at once.</summary>
    private sealed class DeviceActor(StrongBox<int> violations) : Actor<DeviceMessage>
    {
        private int _active;
        private long _register;

        protected override void Receive(DeviceMessage message)
        {
            if (Interlocked.Increment(ref _active) != 1)
            {
                Interlocked.Increment(ref violations.Value);
            }
            try
            {
                switch (message)
                {
                    case ReadRegister read:
                        read.ReplyTo.Reply(_register);
                        break;
                    case WriteRegister write:
                        long old = _register;
                        Thread.SpinWait(20); // widen the window for a concurrent entry
                        _register = old + write.Value;
                        write.ReplyTo.Reply(_register);
                        break;
                    case Increment:
                        long before = _register;
                        Thread.SpinWait(20);
                        _register = before + 1;
                        break;
                    case ReadThread thread:
                        thread.ReplyTo.Reply(Environment.CurrentManagedThreadId);
                        break;
                }
            }
            finally
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    private static ActorRef<DeviceMessage> SpawnDevice(ActorSystem system, StrongBox<int>? violations = null) =>
        system.Spawn(Props.Create(() => new DeviceActor(violations ?? new StrongBox<int>())), "device");

    [Fact]
    public void Call_on_an_idle_actor_runs_the_handler_on_the_calling_thread()
    {
        using var system = ActorSystem.Create("inline");
        var device = SpawnDevice(system);
        device.Call<long>(r => new ReadRegister(r), Timeout); // the first may meet the actor still starting
        long inlineBefore = device.GetMetrics().InlineCalls;

        int handlerThread = device.Call<int, int>(0, static (_, r) => new ReadThread(r), Timeout);

        Assert.Equal(Environment.CurrentManagedThreadId, handlerThread);
        Assert.Equal(inlineBefore + 1, device.GetMetrics().InlineCalls);
    }

    [Fact]
    public void Call_on_a_busy_actor_queues_the_request_and_waits_for_the_reply()
    {
        using var system = ActorSystem.Create("busy");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        counter.Count();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        counter.Tell(new Hold(entered, release));
        Assert.True(entered.Wait(Timeout));
        counter.Tell(new Add(4));
        long inlineBefore = counter.GetMetrics().InlineCalls;

        int result = 0;
        var caller = new Thread(() => result = counter.Call<int>(r => new GetCount(r), Timeout));
        caller.Start();
        Assert.True(TestWait.Until(() => counter.MailboxDepth == 2));
        Assert.True(caller.IsAlive);
        Assert.False(counter.TryCallInline(0, static (_, r) => new GetCount(r), Timeout, out int _));
        release.Set();

        Assert.True(caller.Join(Timeout));
        Assert.Equal(4, result);
        Assert.Equal(inlineBefore, counter.GetMetrics().InlineCalls);
        Assert.True(counter.TryCallInline(0, static (_, r) => new GetCount(r), Timeout, out int count));
        Assert.Equal(4, count);
    }

    [Fact]
    public void Concurrent_calls_and_tells_never_run_the_handler_twice_at_once()
    {
        using var system = ActorSystem.Create("contention");
        var violations = new StrongBox<int>();
        var device = SpawnDevice(system, violations);
        device.Call<long>(r => new ReadRegister(r), Timeout);
        const int threads = 6, callsPerThread = 600, tellsPerThread = 150;
        using var start = new ManualResetEventSlim();
        var errors = new ConcurrentQueue<Exception>();

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.Wait();
            try
            {
                for (int i = 0; i < callsPerThread; i++)
                {
                    device.Call<long, long>(1L, static (v, r) => new WriteRegister(v, r), Timeout);
                    if (i % (callsPerThread / tellsPerThread) == 0)
                    {
                        device.Tell(new Increment());
                    }
                }
            }
            catch (Exception ex)
            {
                errors.Enqueue(ex);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        start.Set();
        workers.ForEach(w => w.Join());

        Assert.Empty(errors);
        long total = device.Call<long>(r => new ReadRegister(r), Timeout);
        Assert.Equal(threads * (callsPerThread + tellsPerThread), total);
        Assert.Equal(0, violations.Value);
        var metrics = device.GetMetrics();
        Assert.True(metrics.InlineCalls > 0, "the fast path was never taken");
        Assert.Equal(threads * (callsPerThread + tellsPerThread) + 2, metrics.MessagesProcessed);
    }

    [Fact]
    public void Call_after_Tells_from_the_same_thread_sees_their_effects()
    {
        using var system = ActorSystem.Create("callorder");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        int expected = 0;
        for (int round = 0; round < 50; round++)
        {
            for (int i = 1; i <= 10; i++)
            {
                counter.Tell(new Add(i));
                expected += i;
            }
            Assert.Equal(expected, counter.Call<int>(r => new GetCount(r), Timeout));
        }
    }

    [Fact]
    public async Task An_actor_calling_itself_is_refused_instead_of_deadlocking()
    {
        using var system = ActorSystem.Create("selfcall");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));

        Assert.Equal(nameof(InvalidOperationException), counter.Call<string>(r => new CallSelf(r), Timeout));
        Assert.Equal("InvalidOperationException", await counter.Ask<string>(r => new CallSelf(r), Timeout));
    }

    [Fact]
    public void A_timed_out_Call_throws_and_its_late_reply_does_not_reach_the_next_Call()
    {
        using var system = ActorSystem.Create("calltimeout");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        counter.Count();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        counter.Tell(new Hold(entered, release));
        Assert.True(entered.Wait(Timeout));

        var ex = Assert.Throws<AskTimeoutException>(() => counter.Call<int>(r => new GetCount(r), TimeSpan.FromMilliseconds(50)));
        Assert.Equal(counter.Path, ex.Path);
        counter.Tell(new Add(10)); // processed after the stale GetCount replied 0 into the abandoned slot
        release.Set();

        Assert.Equal(10, counter.Call<int>(r => new GetCount(r), Timeout));
    }

    [Fact]
    public void A_queued_Call_can_be_cancelled()
    {
        using var system = ActorSystem.Create("callcancel");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        Assert.ThrowsAny<OperationCanceledException>(() => counter.Call<int>(r => new NeverReply(r), TimeSpan.FromSeconds(30), cts.Token));
    }

    [Fact]
    public void A_Call_whose_handler_throws_throws_ActorFailedException_and_the_actor_restarts()
    {
        using var system = ActorSystem.Create("callfail");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        counter.Tell(new Add(3));
        counter.Count();

        var ex = Assert.Throws<ActorFailedException>(() => counter.Call<int>(_ => new Crash("bad port"), Timeout));

        Assert.Equal("bad port", ex.InnerException!.Message);
        Assert.Equal(0, counter.Call<int>(r => new GetCount(r), Timeout));
        Assert.Equal(1, counter.GetMetrics().Restarts);
    }

    [Fact]
    public async Task A_Call_to_a_stopped_actor_throws_ActorStoppedException()
    {
        using var system = ActorSystem.Create("calldead");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        system.Stop(counter);
        await counter.WhenTerminated.WaitAsync(Timeout);

        Assert.Throws<ActorStoppedException>(() => counter.Call<int>(r => new GetCount(r), Timeout));
        Assert.Equal(1, system.DeadLetters.Count);
    }
}
