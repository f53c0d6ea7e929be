using System.Collections.Concurrent;
using Emulator.Devices.Serial;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Pc;

/// <summary>
/// The user's side of a machine's COM1: bytes typed are queued and fed into the UART's receive
/// FIFO inside its actor as space frees (retried regularly, since a guest driver may clear its
/// FIFO without a callback); bytes the guest sends go to every listener.
/// </summary>
public sealed class SerialLine : IDisposable
{
    private readonly ConcurrentQueue<byte> pending = new();
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
                if (!pending.IsEmpty)
                {
                    machine.Post("uart0", Feed);
                }

                await Task.Delay(20).ConfigureAwait(false);
            }
        });
    }

    /// <summary>Queues bytes for the guest.</summary>
    public void Send(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            pending.Enqueue(b);
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
            int n = 0;
            while (n < chunk.Length && n < u.ReceiveSpace && pending.TryDequeue(out byte b))
            {
                chunk[n++] = b;
            }

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
