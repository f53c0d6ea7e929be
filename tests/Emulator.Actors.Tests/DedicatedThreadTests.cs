using System.Collections.Concurrent;
using System.Diagnostics;

namespace Emulator.Actors.Tests;

public sealed class DedicatedThreadTests
{
    private static readonly TimeSpan Timeout = TestWait.Timeout;

    public abstract record VcpuMessage;

    public sealed record Interrupt(int Vector) : VcpuMessage;

    public sealed record Halt : VcpuMessage;

    public sealed record Crash : VcpuMessage;

    public sealed record WhereAmI(ReplyTo<int> ReplyTo) : VcpuMessage;

    /// <summary>Shared with the test: the actor's loop writes, the test reads.</summary>
    public sealed class VcpuCounters
    {
        public long LoopIterations;
        public long Slices;
        public int Instances;
        public ConcurrentQueue<int> Vectors { get; } = new();
        public ConcurrentQueue<int> Threads { get; } = new();
        public volatile bool Halted;
    }

    /// <summary>Like a vCPU: runs guest code in slices, drains its mailbox between them, sleeps when halted.</summary>
    private sealed class VcpuActor(VcpuCounters counters, bool startHalted) : Actor<VcpuMessage>
    {
        private bool _halted = startHalted;

        protected override void PreStart()
        {
            Interlocked.Increment(ref counters.Instances);
            counters.Threads.Enqueue(Environment.CurrentManagedThreadId);
        }

        protected override void Run()
        {
            counters.Threads.Enqueue(Environment.CurrentManagedThreadId);
            while (!IsStopping)
            {
                Interlocked.Increment(ref counters.LoopIterations);
                while (TryReceive(out var message))
                {
                    Receive(message);
                }
                counters.Halted = _halted;
                if (_halted)
                {
                    WaitForMessage(System.Threading.Timeout.InfiniteTimeSpan); // HLT: sleep until an interrupt
                    continue;
                }
                RunSlice();
            }
        }

        private void RunSlice()
        {
            Interlocked.Increment(ref counters.Slices);
            Thread.SpinWait(200); // stands for a slice of guest code
        }

        protected override void Receive(VcpuMessage message)
        {
            switch (message)
            {
                case Interrupt interrupt:
                    counters.Vectors.Enqueue(interrupt.Vector);
                    _halted = false;
                    break;
                case Halt:
                    _halted = true;
                    break;
                case Crash:
                    throw new InvalidOperationException("triple fault");
                case WhereAmI where:
                    where.ReplyTo.Reply(Environment.CurrentManagedThreadId);
                    break;
            }
        }
    }

    private static Props<VcpuMessage> VcpuProps(VcpuCounters counters, bool startHalted = false) =>
        Props.Create(() => new VcpuActor(counters, startHalted)).WithDedicatedThread();

    [Fact]
    public async Task Runs_slices_on_its_own_thread_and_drains_the_mailbox_between_them()
    {
        using var system = ActorSystem.Create("vcpu");
        var counters = new VcpuCounters();
        var vcpu = system.Spawn(VcpuProps(counters), "cpu0");

        Assert.True(TestWait.Until(() => Interlocked.Read(ref counters.Slices) > 100));
        int thread = await vcpu.Ask<int>(r => new WhereAmI(r), Timeout);
        vcpu.Tell(new Interrupt(0x20));
        vcpu.Tell(new Interrupt(0x21));

        Assert.True(TestWait.Until(() => counters.Vectors.Count == 2));
        Assert.Equal([0x20, 0x21], counters.Vectors);
        Assert.All(counters.Threads, t => Assert.Equal(thread, t));
        Assert.NotEqual(Environment.CurrentManagedThreadId, thread);
        Assert.True(vcpu.GetMetrics().DedicatedThread);
    }

    [Fact]
    public void A_halted_actor_sleeps_without_spinning_and_wakes_on_a_message()
    {
        using var system = ActorSystem.Create("halt");
        var counters = new VcpuCounters();
        var vcpu = system.Spawn(VcpuProps(counters), "cpu0");
        Assert.True(TestWait.Until(() => Interlocked.Read(ref counters.Slices) > 10));

        vcpu.Tell(new Halt());
        Assert.True(TestWait.Until(() => counters.Halted));
        Thread.Sleep(20); // let it reach the wait
        long iterationsBefore = Interlocked.Read(ref counters.LoopIterations);
        long slicesBefore = Interlocked.Read(ref counters.Slices);
        Thread.Sleep(200);
        long idleIterations = Interlocked.Read(ref counters.LoopIterations) - iterationsBefore;

        Assert.True(idleIterations <= 1, $"{idleIterations} loop iterations while halted");
        Assert.Equal(slicesBefore, Interlocked.Read(ref counters.Slices));

        vcpu.Tell(new Interrupt(0x30));
        Assert.True(TestWait.Until(() => Interlocked.Read(ref counters.Slices) > slicesBefore + 10));
        Assert.Equal([0x30], counters.Vectors);
    }

    [Fact]
    public async Task Stop_wakes_a_halted_actor_and_ends_its_thread()
    {
        using var system = ActorSystem.Create("stophalted");
        var counters = new VcpuCounters();
        var vcpu = system.Spawn(VcpuProps(counters, startHalted: true), "cpu0");
        Assert.True(TestWait.Until(() => counters.Halted));

        system.Stop(vcpu);

        await vcpu.WhenTerminated.WaitAsync(Timeout);
        vcpu.Tell(new Interrupt(1));
        Assert.Equal(1, system.DeadLetters.Count);
    }

    [Fact]
    public async Task A_failing_dedicated_actor_is_restarted_and_runs_again()
    {
        using var system = ActorSystem.Create("vcpucrash");
        var counters = new VcpuCounters();
        var vcpu = system.Spawn(VcpuProps(counters, startHalted: true), "cpu0");

        vcpu.Tell(new Crash());

        Assert.True(TestWait.Until(() => counters.Instances == 2));
        Assert.Equal(1, vcpu.GetMetrics().Restarts);
        vcpu.Tell(new Interrupt(7));
        Assert.True(TestWait.Until(() => Interlocked.Read(ref counters.Slices) > 0));
        int thread = await vcpu.Ask<int>(r => new WhereAmI(r), Timeout);
        Assert.All(counters.Threads, t => Assert.Equal(thread, t));
    }

    [Fact]
    public async Task The_default_Run_loop_handles_messages_and_a_Call_to_it_goes_through_the_mailbox()
    {
        using var system = ActorSystem.Create("dedicateddefault");
        var probe = new Probe();
        var counter = system.Spawn(Props.Create(() => new CounterActor(probe)).WithDedicatedThread());
        counter.Tell(new Add(2));

        Assert.Equal(2, counter.Call<int>(r => new GetCount(r), Timeout));
        Assert.Equal(2, await counter.Ask<int>(r => new GetCount(r), Timeout));
        Assert.Equal(0, counter.GetMetrics().InlineCalls);
        system.Stop(counter);
        await counter.WhenTerminated.WaitAsync(Timeout);
        Assert.Equal(["PreStart 1", "PostStop 1"], probe.Events);
    }

    /// <summary>One <c>WaitForMessage(deadline)</c> as the actor saw it: what it returned and how long it slept.</summary>
    public sealed record TimedWait(bool Woken, TimeSpan Slept);

    /// <summary>
    /// A halted vCPU whose timer is due: between draining its mailbox it sleeps in
    /// <c>WaitForMessage(deadline)</c> and records each wait. <see cref="Waiting"/> is set just
    /// before a wait starts with an empty mailbox, so a test can send while the actor sleeps.
    /// </summary>
    private sealed class TimedHaltActor(TimeSpan deadline, ConcurrentQueue<TimedWait> waits, ConcurrentQueue<int> vectors, ManualResetEventSlim waiting)
        : Actor<VcpuMessage>
    {
        protected override void Run()
        {
            while (!IsStopping)
            {
                while (TryReceive(out var message))
                {
                    Receive(message);
                }

                waiting.Set();
                var slept = Stopwatch.StartNew();
                bool woken = WaitForMessage(deadline);
                slept.Stop();
                waiting.Reset();
                if (!IsStopping)
                {
                    waits.Enqueue(new TimedWait(woken, slept.Elapsed));
                }
            }
        }

        protected override void Receive(VcpuMessage message)
        {
            if (message is Interrupt interrupt)
            {
                vectors.Enqueue(interrupt.Vector);
            }
        }
    }

    /// <summary>
    /// With nothing sent, every wait ends by its deadline (it returns false) and none ends before
    /// it: the actor sleeps instead of spinning. A lower bound only; a loaded machine may sleep longer.
    /// </summary>
    [Fact]
    public void WaitForMessage_with_a_timeout_sleeps_until_the_deadline()
    {
        var deadline = TimeSpan.FromMilliseconds(50);
        // Timed waits in .NET count time with the coarse system tick (up to ~16 ms per step), so
        // one may end up to a tick before the deadline as a Stopwatch measures it.
        var tick = TimeSpan.FromMilliseconds(16);
        using var system = ActorSystem.Create("timedhalt");
        var waits = new ConcurrentQueue<TimedWait>();
        using var waiting = new ManualResetEventSlim();
        system.Spawn(Props.Create(() => new TimedHaltActor(deadline, waits, new ConcurrentQueue<int>(), waiting)).WithDedicatedThread());

        Assert.True(TestWait.Until(() => waits.Count >= 3));

        foreach (var wait in waits.Take(3))
        {
            Assert.False(wait.Woken, "no message was sent, so no wait may report one");
            Assert.True(wait.Slept >= deadline - tick, $"a wait with a {deadline.TotalMilliseconds} ms deadline returned after {wait.Slept.TotalMilliseconds:F1} ms");
        }
    }

    /// <summary>
    /// A message that arrives while the actor sleeps ends the wait (it returns true), long before a
    /// deadline that no test run reaches; the actor then receives the message.
    /// </summary>
    [Fact]
    public void WaitForMessage_with_a_timeout_returns_when_a_message_arrives()
    {
        using var system = ActorSystem.Create("timedwake");
        var waits = new ConcurrentQueue<TimedWait>();
        var vectors = new ConcurrentQueue<int>();
        using var waiting = new ManualResetEventSlim();
        var vcpu = system.Spawn(Props.Create(() => new TimedHaltActor(TimeSpan.FromHours(1), waits, vectors, waiting)).WithDedicatedThread());

        Assert.True(waiting.Wait(Timeout), "the actor never started to wait");
        vcpu.Tell(new Interrupt(0x40));

        Assert.True(TestWait.Until(() => !waits.IsEmpty), "the message did not end the wait");
        Assert.True(waits.TryPeek(out var first));
        Assert.True(first.Woken, "the wait reported a timeout, not the message");
        Assert.True(TestWait.Until(() => vectors.Contains(0x40)));
    }

    [Fact]
    public void TryReceive_is_refused_on_a_thread_pool_actor()
    {
        using var system = ActorSystem.Create("notdedicated");
        var errors = new ConcurrentQueue<Exception>();
        var actor = system.Spawn(Props.Create<int>(() => new PoolActor(errors)));

        actor.Tell(1);

        Assert.True(TestWait.Until(() => !errors.IsEmpty));
        Assert.IsType<InvalidOperationException>(errors.Single());
    }

    private sealed class PoolActor(ConcurrentQueue<Exception> errors) : Actor<int>
    {
        protected override void Receive(int message)
        {
            try
            {
                TryReceive(out _);
            }
            catch (Exception ex)
            {
                errors.Enqueue(ex);
            }
        }
    }
}
