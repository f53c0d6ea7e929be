using System.Diagnostics;
using Emulator.Actors;

// Figures of the actor runtime's request paths, printed, not judged (Release build, run alone
// for meaningful numbers). Each figure is the median over batches of the per-operation time.
const int Batches = 41;
var timeout = TimeSpan.FromSeconds(5);

using var system = ActorSystem.Create("bench");
var device = system.Spawn(Props.Create(() => new DeviceActor()), "device");
var dedicatedDevice = system.Spawn(Props.Create(() => new DeviceActor()).WithDedicatedThread(), "dedicated-device");

Console.WriteLine($"actor runtime benchmark: {Environment.ProcessorCount} cores, .NET {Environment.Version}");

// 1. Synchronous Call, fast path: the device is idle, so the handler runs on this thread.
const int CallsPerBatch = 20_000;
Measure("Call, inline fast path (idle actor)", CallsPerBatch, () =>
{
    long sum = 0;
    for (int i = 0; i < CallsPerBatch; i++)
    {
        sum += device.Call<long, long>(0x3f8 + (i & 7), static (port, reply) => new PortRead(port, reply), timeout);
    }
    return sum;
});
long allocated = GC.GetAllocatedBytesForCurrentThread();
for (int i = 0; i < CallsPerBatch; i++)
{
    device.Call<long, long>(i, static (port, reply) => new PortRead(port, reply), timeout);
}
allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
Console.WriteLine($"  allocated per fast-path Call: {allocated / (double)CallsPerBatch:F1} bytes (the request record itself)");
Console.WriteLine($"  inline share: {device.GetMetrics().InlineCalls} of {device.GetMetrics().MessagesProcessed} messages ran inline");

// 2. Synchronous Call through the mailbox: the target has a dedicated thread, so it never runs inline.
const int MailboxCallsPerBatch = 2_000;
Measure("Call through the mailbox (dedicated-thread actor)", MailboxCallsPerBatch, () =>
{
    long sum = 0;
    for (int i = 0; i < MailboxCallsPerBatch; i++)
    {
        sum += dedicatedDevice.Call<long, long>(i, static (port, reply) => new PortRead(port, reply), timeout);
    }
    return sum;
});

// 3. Asynchronous Ask through the mailbox of a thread-pool actor.
const int AsksPerBatch = 2_000;
Measure("Ask through the mailbox (thread-pool actor)", AsksPerBatch, () =>
{
    return AskLoop(device, AsksPerBatch, timeout).GetAwaiter().GetResult();
});

// 4. Tell throughput: one producer, one thread-pool consumer.
const int Tells = 2_000_000;
var sink = system.Spawn(Props.Create(() => new DeviceActor()), "sink");
var rates = new List<double>();
for (int round = 0; round < 7; round++)
{
    long start = sink.MessagesProcessed;
    var watch = Stopwatch.StartNew();
    for (int i = 0; i < Tells; i++)
    {
        sink.Tell(PortWrite.Instance);
    }
    while (sink.MessagesProcessed < start + Tells)
    {
        Thread.Yield();
    }
    watch.Stop();
    if (round > 1)
    {
        rates.Add(Tells / watch.Elapsed.TotalSeconds);
    }
}
rates.Sort();
Console.WriteLine($"{"Tell throughput, 1 producer",-52} median {rates[rates.Count / 2] / 1e6:F2} M messages/s (min {rates[0] / 1e6:F2}, max {rates[^1] / 1e6:F2})");

await system.TerminateAsync();

static async Task<long> AskLoop(ActorRef<DeviceMessage> device, int count, TimeSpan timeout)
{
    long sum = 0;
    for (int i = 0; i < count; i++)
    {
        sum += await device.Ask<long>(reply => new PortRead(i, reply), timeout).ConfigureAwait(false);
    }
    return sum;
}

static void Measure(string name, int operationsPerBatch, Func<long> batch)
{
    for (int i = 0; i < 5; i++)
    {
        batch(); // warm-up: tiering, caches, the per-thread reply slot
    }
    var perOperation = new double[Batches];
    long checksum = 0;
    for (int b = 0; b < Batches; b++)
    {
        long started = Stopwatch.GetTimestamp();
        checksum += batch();
        perOperation[b] = Stopwatch.GetElapsedTime(started).TotalNanoseconds / operationsPerBatch;
    }
    Array.Sort(perOperation);
    Console.WriteLine(
        $"{name,-52} median {perOperation[Batches / 2],9:F1} ns/round trip (min {perOperation[0]:F1}, max {perOperation[^1]:F1}; checksum {checksum & 0xffff})");
}

public abstract record DeviceMessage;

public sealed record PortRead(long Port, ReplyTo<long> ReplyTo) : DeviceMessage;

public sealed record PortWrite : DeviceMessage
{
    public static readonly PortWrite Instance = new();
}

/// <summary>A device model reduced to a register file: the handler cost is near zero, so the figures are the runtime's.</summary>
public sealed class DeviceActor : Actor<DeviceMessage>
{
    private readonly long[] _registers = new long[8];
    private long _writes;

    protected override void Receive(DeviceMessage message)
    {
        switch (message)
        {
            case PortRead read:
                read.ReplyTo.Reply(_registers[read.Port & 7] + read.Port);
                break;
            case PortWrite:
                _writes++;
                break;
        }
    }
}
