using Emulator.Devices.Serial;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Pc;

/// <summary>
/// The user's side of a machine's COM1: bytes typed are queued and fed into the UART's receive
/// FIFO inside its actor as space frees (retried regularly, since a guest driver may clear its
/// FIFO without a callback); bytes the guest sends go to every listener, as they are sent.
/// At most <see cref="InputCapacity"/> bytes of input wait for a guest that does not read:
/// <see cref="SendAsync"/> waits for room (back-pressure to the sender: a console client's
/// stream), <see cref="Send"/> drops what does not fit and counts it in <see cref="InputDropped"/>
/// (a local terminal, which must not block).
/// </summary>
public sealed class SerialLine : IDisposable
{
    /// <summary>Input bytes that may wait for the guest.</summary>
    public const int InputCapacity = 64 * 1024;

    private readonly Lock inputGate = new();
    private readonly Queue<byte> pending = new();
    private TaskCompletionSource? room;
    private long inputDropped;
    private readonly List<Action<ReadOnlyMemory<byte>>> listeners = [];
    private readonly CancellationTokenSource stop = new();
    private VirtualMachine? vm;
    private Serial16550? uart;

    /// <summary>What the machine's UART writes to: pass this as PcConfig.SerialOutput.</summary>
    public void Output(ReadOnlySpan<byte> bytes)
    {
        Action<ReadOnlyMemory<byte>>[] targets;
        lock (listeners)
        {
            targets = [.. listeners];
        }

        if (targets.Length == 0)
        {
            return;
        }

        var copy = bytes.ToArray();
        foreach (var t in targets)
        {
            t(copy);
        }
    }

    /// <summary>Starts feeding input to the machine's "uart0".</summary>
    public void Connect(VirtualMachine machine)
    {
        vm = machine;
        uart = machine.Device<Serial16550>("uart0");
        uart.ReceiveSpaceAvailable = Feed;
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (PendingInput > 0)
                {
                    machine.Post("uart0", Feed);
                }

                await Task.Delay(20).ConfigureAwait(false);
            }
        });
    }

    /// <summary>Input bytes waiting for the guest (at most <see cref="InputCapacity"/>).</summary>
    public int PendingInput
    {
        get
        {
            lock (inputGate)
            {
                return pending.Count;
            }
        }
    }

    /// <summary>Bytes <see cref="Send"/> dropped because <see cref="InputCapacity"/> bytes were already waiting.</summary>
    public long InputDropped => Interlocked.Read(ref inputDropped);

    /// <summary>Queues bytes for the guest; what does not fit in <see cref="InputCapacity"/> is dropped and counted.</summary>
    public void Send(ReadOnlySpan<byte> bytes)
    {
        int accepted = Enqueue(bytes);
        if (accepted < bytes.Length)
        {
            Interlocked.Add(ref inputDropped, bytes.Length - accepted);
        }

        vm?.Post("uart0", Feed);
    }

    /// <summary>Queues bytes for the guest, waiting for room while <see cref="InputCapacity"/> bytes wait already; nothing is dropped.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancel = default)
    {
        while (true)
        {
            Task wait;
            lock (inputGate)
            {
                int accepted = EnqueueLocked(bytes.Span);
                bytes = bytes[accepted..];
                if (bytes.IsEmpty)
                {
                    break;
                }

                room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = room.Task;
            }

            vm?.Post("uart0", Feed);
            await wait.WaitAsync(cancel).ConfigureAwait(false);
        }

        vm?.Post("uart0", Feed);
    }

    /// <summary>Adds a listener for guest output; dispose the result to remove it.</summary>
    public IDisposable Listen(Action<ReadOnlyMemory<byte>> listener)
    {
        lock (listeners)
        {
            listeners.Add(listener);
        }

        return new Unsubscribe(() =>
        {
            lock (listeners)
            {
                listeners.Remove(listener);
            }
        });
    }

    public void Dispose() => stop.Cancel();

    /// <summary>Queues as much of <paramref name="bytes"/> as fits; returns how many.</summary>
    private int Enqueue(ReadOnlySpan<byte> bytes)
    {
        lock (inputGate)
        {
            return EnqueueLocked(bytes);
        }
    }

    private int EnqueueLocked(ReadOnlySpan<byte> bytes)
    {
        int n = Math.Min(bytes.Length, InputCapacity - pending.Count);
        foreach (byte b in bytes[..n])
        {
            pending.Enqueue(b);
        }

        return n;
    }

    /// <summary>Takes up to <paramref name="into"/>.Length queued bytes and wakes a sender waiting for room.</summary>
    private int Dequeue(Span<byte> into)
    {
        TaskCompletionSource? wake = null;
        int n = 0;
        lock (inputGate)
        {
            while (n < into.Length && pending.TryDequeue(out byte b))
            {
                into[n++] = b;
            }

            if (n > 0)
            {
                wake = room;
                room = null;
            }
        }

        wake?.TrySetResult();
        return n;
    }

    /// <summary>Runs inside the UART's actor: moves queued input into the receive FIFO while it has room.</summary>
    private void Feed()
    {
        var u = uart;
        if (u is null)
        {
            return;
        }

        Span<byte> chunk = stackalloc byte[16];
        while (true)
        {
            int n = Dequeue(chunk[..Math.Min(chunk.Length, u.ReceiveSpace)]);
            if (n == 0)
            {
                return;
            }

            u.Receive(chunk[..n]);
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
