using System.Collections.Concurrent;

namespace Emulator.Actors.Tests;

public sealed class TellAskTests
{
    private abstract record LogMessage;

    private sealed record Entry(int Sender, int Sequence) : LogMessage;

    private sealed record Dump(ReplyTo<List<(int Sender, int Sequence)>> ReplyTo) : LogMessage;

    private sealed class LogActor : Actor<LogMessage>
    {
        private readonly List<(int, int)> _entries = [];

        protected override void Receive(LogMessage message)
        {
            switch (message)
            {
                case Entry entry:
                    _entries.Add((entry.Sender, entry.Sequence));
                    break;
                case Dump dump:
                    dump.ReplyTo.Reply([.. _entries]);
                    break;
            }
        }
    }

    [Fact]
    public async Task Messages_from_one_sender_arrive_in_send_order()
    {
        using var system = ActorSystem.Create("order");
        var log = system.Spawn(Props.Create(() => new LogActor()));
        const int senders = 4, perSender = 5_000;

        var threads = Enumerable.Range(0, senders).Select(s => new Thread(() =>
        {
            for (int i = 0; i < perSender; i++)
            {
                log.Tell(new Entry(s, i));
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        var entries = await log.Ask<List<(int Sender, int Sequence)>>(r => new Dump(r), TestWait.Timeout);
        Assert.Equal(senders * perSender, entries.Count);
        for (int s = 0; s < senders; s++)
        {
            var sequence = entries.Where(e => e.Sender == s).Select(e => e.Sequence).ToList();
            Assert.Equal(Enumerable.Range(0, perSender), sequence);
        }
    }

    [Fact]
    public async Task Tell_then_Ask_sees_the_effect_of_every_earlier_Tell()
    {
        using var system = ActorSystem.Create("tellask");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        for (int i = 1; i <= 100; i++)
        {
            counter.Tell(new Add(i));
        }

        int count = await counter.Ask<int>(r => new GetCount(r), TestWait.Timeout);

        Assert.Equal(5050, count);
    }

    [Fact]
    public async Task Ask_times_out_with_AskTimeoutException_and_leaves_nothing_pending()
    {
        using var system = ActorSystem.Create("timeout");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));

        var ex = await Assert.ThrowsAsync<AskTimeoutException>(
            () => counter.Ask<int>(r => new NeverReply(r), TimeSpan.FromMilliseconds(50)));

        Assert.Equal(counter.Path, ex.Path);
        Assert.IsAssignableFrom<TimeoutException>(ex);
        Assert.Equal(0, system.PendingAsks);
    }

    [Fact]
    public async Task Ask_cancelled_by_its_token_completes_as_cancelled()
    {
        using var system = ActorSystem.Create("cancel");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        using var cts = new CancellationTokenSource();

        var ask = counter.Ask<int>(r => new NeverReply(r), TimeSpan.FromSeconds(30), cts.Token);
        cts.Cancel();

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ask);
        Assert.Equal(cts.Token, ex.CancellationToken);
        Assert.Equal(0, system.PendingAsks);
    }

    [Fact]
    public async Task Many_asks_of_every_outcome_leave_no_pending_reply()
    {
        using var system = ActorSystem.Create("noleak");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        using var cts = new CancellationTokenSource();
        var answered = new List<Task<int>>();
        var asks = new List<Task>();
        for (int i = 0; i < 200; i++)
        {
            answered.Add(counter.Ask<int>(r => new GetCount(r), TestWait.Timeout, cts.Token));
            asks.Add(counter.Ask<int>(r => new NeverReply(r), TimeSpan.FromMilliseconds(20)));
            asks.Add(counter.Ask<int>(r => new NeverReply(r), TimeSpan.FromSeconds(30), cts.Token));
        }
        await Task.WhenAll(answered).WaitAsync(TestWait.Timeout);
        cts.Cancel();
        asks.AddRange(answered);

        await Task.WhenAll(asks.Select(a => a.ContinueWith(_ => { }, TaskScheduler.Default)));

        Assert.Equal(200, asks.Count(a => a.IsCompletedSuccessfully));
        Assert.Equal(200, asks.Count(a => a.Exception?.InnerException is AskTimeoutException));
        Assert.Equal(200, asks.Count(a => a.IsCanceled));
        Assert.Equal(0, system.PendingAsks);
    }

    [Fact]
    public async Task Ask_to_a_stopped_actor_fails_with_ActorStoppedException()
    {
        using var system = ActorSystem.Create("askdead");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        system.Stop(counter);
        await counter.WhenTerminated.WaitAsync(TestWait.Timeout);

        await Assert.ThrowsAsync<ActorStoppedException>(() => counter.Ask<int>(r => new GetCount(r), TestWait.Timeout));
        Assert.Equal(0, system.PendingAsks);
    }

    [Fact]
    public async Task Ask_whose_handler_throws_fails_with_ActorFailedException()
    {
        using var system = ActorSystem.Create("askfail");
        var counter = system.Spawn(Props.Create<CounterMessage>(() => new ThrowingReplier()));

        var ex = await Assert.ThrowsAsync<ActorFailedException>(() => counter.Ask<int>(r => new GetCount(r), TestWait.Timeout));

        Assert.IsType<DivideByZeroException>(ex.InnerException);
    }

    private sealed class ThrowingReplier : Actor<CounterMessage>
    {
        protected override void Receive(CounterMessage message) => throw new DivideByZeroException();
    }

    [Fact]
    public async Task Only_the_first_reply_counts()
    {
        using var system = ActorSystem.Create("firstreply");
        var replier = system.Spawn(Props.Create<CounterMessage>(() => new DoubleReplier()));

        Assert.Equal(1, await replier.Ask<int>(r => new GetCount(r), TestWait.Timeout));
        Assert.Equal(1, replier.Call<int>(r => new GetCount(r), TestWait.Timeout));
        Assert.False(default(ReplyTo<int>).Reply(3));
    }

    private sealed class DoubleReplier : Actor<CounterMessage>
    {
        protected override void Receive(CounterMessage message)
        {
            if (message is GetCount get)
            {
                Assert.True(get.ReplyTo.Reply(1));
                Assert.False(get.ReplyTo.Reply(2));
                Assert.False(get.ReplyTo.Fail(new InvalidOperationException()));
            }
        }
    }

    [Fact]
    public async Task A_reply_adapter_delivers_the_reply_as_a_message_to_the_asking_actor()
    {
        using var system = ActorSystem.Create("adapter");
        var counter = system.Spawn(Props.Create(() => new CounterActor(new Probe())));
        counter.Tell(new Add(7));
        var replies = new ConcurrentQueue<int>();
        var asker = system.Spawn(Props.Create(() => new AskerActor(counter, replies)));

        asker.Tell(new AskerActor.Start());

        Assert.True(TestWait.Until(() => !replies.IsEmpty));
        Assert.Equal(7, replies.Single());
        await Task.CompletedTask;
    }

    private sealed class AskerActor(ActorRef<CounterMessage> counter, ConcurrentQueue<int> replies) : Actor<AskerActor.Message>
    {
        public abstract record Message;

        public sealed record Start : Message;

        public sealed record GotCount(int Count) : Message;

        protected override void Receive(Message message)
        {
            switch (message)
            {
                case Start:
                    counter.Tell(new GetCount(ReplyTo<int>.To(Self, count => new GotCount(count))));
                    break;
                case GotCount got:
                    replies.Enqueue(got.Count);
                    break;
            }
        }
    }
}
