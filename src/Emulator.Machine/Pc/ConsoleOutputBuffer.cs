namespace Emulator.Machine.Pc;

/// <summary>Console output taken by a reader: the bytes, and how many older bytes were dropped since its previous read.</summary>
public sealed record ConsoleChunk(byte[] Data, long DroppedBefore);

/// <summary>
/// Guest console output waiting for a reader that may be slow or gone (an AttachConsole client
/// whose connection stalls): at most <see cref="Capacity"/> bytes. When more arrives than fits,
/// the oldest bytes are dropped and counted, so a reader that never reads costs
/// <see cref="Capacity"/> bytes and the guest never waits for it (a console shows the latest
/// output; the count tells the reader what it missed). Thread-safe: the UART writes from its
/// actor, one reader reads.
/// </summary>
public sealed class ConsoleOutputBuffer(int capacity = ConsoleOutputBuffer.DefaultCapacity)
{
    public const int DefaultCapacity = 1 << 20;

    private readonly Lock gate = new();
    private readonly byte[] ring = new byte[capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity))];
    private int start;
    private int count;
    private long dropped;
    private long reported;
    private TaskCompletionSource? waiting;

    public int Capacity => ring.Length;

    /// <summary>Bytes waiting for the reader (never more than <see cref="Capacity"/>).</summary>
    public int Buffered
    {
        get
        {
            lock (gate)
            {
                return count;
            }
        }
    }

    /// <summary>Bytes dropped so far because the reader did not keep up.</summary>
    public long Dropped
    {
        get
        {
            lock (gate)
            {
                return dropped;
            }
        }
    }

    /// <summary>Appends <paramref name="bytes"/>, dropping the oldest bytes that no longer fit.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        TaskCompletionSource? wake;
        lock (gate)
        {
            if (bytes.Length >= ring.Length)
            {
                dropped += count + bytes.Length - ring.Length;
                bytes = bytes[^ring.Length..];
                start = count = 0;
            }

            int overflow = count + bytes.Length - ring.Length;
            if (overflow > 0)
            {
                start = (start + overflow) % ring.Length;
                count -= overflow;
                dropped += overflow;
            }

            int end = (start + count) % ring.Length;
            int first = Math.Min(bytes.Length, ring.Length - end);
            bytes[..first].CopyTo(ring.AsSpan(end));
            bytes[first..].CopyTo(ring);
            count += bytes.Length;
            wake = waiting;
            waiting = null;
        }

        wake?.TrySetResult();
    }

    /// <summary>Waits until there is output, then takes up to <paramref name="maxBytes"/> of it, oldest first.</summary>
    public async Task<ConsoleChunk> ReadAsync(int maxBytes, CancellationToken cancel)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        while (true)
        {
            Task wait;
            lock (gate)
            {
                if (count > 0)
                {
                    var data = new byte[Math.Min(count, maxBytes)];
                    int first = Math.Min(data.Length, ring.Length - start);
                    ring.AsSpan(start, first).CopyTo(data);
                    ring.AsSpan(0, data.Length - first).CopyTo(data.AsSpan(first));
                    start = (start + data.Length) % ring.Length;
                    count -= data.Length;
                    long missed = dropped - reported;
                    reported = dropped;
                    return new ConsoleChunk(data, missed);
                }

                waiting ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = waiting.Task;
            }

            await wait.WaitAsync(cancel).ConfigureAwait(false);
        }
    }
}
