using System.Collections.Concurrent;

namespace Emulator.Machine.Block;

/// <summary>
/// A few dedicated threads that run a block backend's file I/O (as QEMU's thread-pool AIO). Not
/// the .NET thread pool: on Linux, .NET's asynchronous file I/O is a blocking pread/pwrite on a
/// pool thread, and a guest with many requests in flight would starve the pool that the device
/// actors run on (it grows by about one thread per half second). See RATIONALE.md.
/// A job that throws is handed to the fault handler and the thread goes on with the next job: an
/// exception escaping a thread would end the process, and every machine in it.
/// </summary>
internal sealed class BlockIoThreads
{
    private readonly BlockingCollection<Action> work = [];
    private readonly Thread[] threads;
    private readonly Action<Exception> faulted;

    /// <param name="faulted">Called on the I/O thread with what a job threw.</param>
    public BlockIoThreads(string name, int count, Action<Exception> faulted)
    {
        this.faulted = faulted;
        threads = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            threads[i] = new Thread(Loop) { IsBackground = true, Name = $"{name}-io{i}" };
            threads[i].Start();
        }
    }

    /// <summary>Queues <paramref name="job"/>; false once <see cref="Shutdown"/> was called.</summary>
    public bool TryPost(Action job)
    {
        try
        {
            work.Add(job);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Lets queued jobs finish, then ends the threads (waiting at most <paramref name="timeout"/>).</summary>
    public void Shutdown(TimeSpan timeout)
    {
        work.CompleteAdding();
        var deadline = DateTime.UtcNow + timeout;
        foreach (var t in threads)
        {
            var left = deadline - DateTime.UtcNow;
            t.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
    }

    private void Loop()
    {
        foreach (var job in work.GetConsumingEnumerable())
        {
            try
            {
                job();
            }
            catch (Exception e)
            {
                faulted(e);
            }
        }
    }
}
