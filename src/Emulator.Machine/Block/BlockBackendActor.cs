using Emulator.Actors;
using Emulator.Devices.Bus;

namespace Emulator.Machine.Block;

/// <summary>The messages of a <see cref="BlockBackendActor"/>.</summary>
public abstract record BlockBackendMessage
{
    private BlockBackendMessage()
    {
    }

    /// <summary>A device's request; the completion goes to <see cref="Reply"/> (usually an adapter that posts it into the device's actor).</summary>
    public sealed record Submit(BlockRequest Request, ReplyTo<BlockCompletion> Reply) : BlockBackendMessage;

    /// <summary>Asks how many requests are in flight (for snapshots: save only at 0).</summary>
    public sealed record GetInFlight(ReplyTo<int> Reply) : BlockBackendMessage;

    /// <summary>
    /// Freezes the image's top layer for a snapshot and moves further writes to a new overlay at
    /// <see cref="NewOverlayPath"/> (<see cref="BlockImage.Freeze"/>); the reply is the frozen
    /// layer's path. Refused (the reply fails with <see cref="InvalidOperationException"/>) while
    /// requests are in flight; a failure to freeze fails the reply with the
    /// <see cref="BlockImageException"/> and leaves the image as it was.
    /// </summary>
    public sealed record Freeze(string NewOverlayPath, ReplyTo<string> Reply) : BlockBackendMessage;

    /// <summary>An I/O finished on an I/O thread; handled inside the actor, which then replies. <see cref="Fault"/>: what the I/O code threw, beyond an I/O error.</summary>
    internal sealed record Finished(BlockCompletion Completion, ReplyTo<BlockCompletion> Reply, Exception? Fault = null) : BlockBackendMessage;
}

/// <summary>
/// Owns one disk image and performs block requests on it, off the vCPU threads and off the
/// thread pool: each request is queued to the backend's I/O threads (<see cref="BlockIoThreads"/>,
/// positional reads and writes through the image's layers) and the actor goes on with the next
/// message; when the I/O ends, a <see cref="BlockBackendMessage.Finished"/> comes back into the
/// actor, which replies to the device. Requests may complete out of order, as on a real disk;
/// virtio-blk orders nothing but FLUSH, which covers writes already completed.
/// Discard and write-zeroes write zeroes (no hole punching), so discarded sectors read back as zeroes.
/// An I/O error is the request's IOERR. Anything else the I/O code throws is a fault of the backend:
/// the request still completes with IOERR (nothing waits for it forever) and
/// <paramref name="faulted"/> hears of it; the machine stops itself with it. The process goes on.
/// </summary>
/// <param name="faulted">Called with a fault of the backend (from the actor or an I/O thread); null: faults only fail their request.</param>
/// <param name="execute">Runs one request on an I/O thread; null: the image's reads and writes (tests pass code with a bug).</param>
public sealed class BlockBackendActor(BlockImage image, int ioThreads = 4, Action<Exception>? faulted = null, Func<BlockRequest, BlockCompletion>? execute = null)
    : Actor<BlockBackendMessage>
{
    private BlockIoThreads? io;
    private int inFlight;

    public static Props<BlockBackendMessage> Props(BlockImage image, int ioThreads = 4, Action<Exception>? faulted = null) =>
        Actors.Props.Create(() => new BlockBackendActor(image, ioThreads, faulted));

    /// <summary>A backend whose I/O is <paramref name="execute"/> instead of the image's (for tests of a faulty backend).</summary>
    internal static Props<BlockBackendMessage> Props(BlockImage image, Func<BlockRequest, BlockCompletion> execute, Action<Exception>? faulted) =>
        Actors.Props.Create(() => new BlockBackendActor(image, 4, faulted, execute));

    protected override void PreStart() => io = new BlockIoThreads(Path.GetFileName(image.Path), ioThreads, Report);

    protected override void Receive(BlockBackendMessage message)
    {
        switch (message)
        {
            case BlockBackendMessage.Submit s:
                Start(s.Request, s.Reply);
                break;
            case BlockBackendMessage.Finished f:
                inFlight--;
                f.Reply.Reply(f.Completion);
                if (f.Fault is not null)
                {
                    Report(f.Fault);
                }

                break;
            case BlockBackendMessage.GetInFlight g:
                g.Reply.Reply(inFlight);
                break;
            case BlockBackendMessage.Freeze f:
                FreezeImage(f);
                break;
        }
    }

    /// <summary>A restart keeps the image open (it belongs to the actor's life, not to one instance) but ends this instance's I/O threads.</summary>
    protected override void PreRestart(Exception reason) => io?.Shutdown(TimeSpan.FromSeconds(5));

    /// <summary>Lets the I/O under way finish, then closes the image.</summary>
    protected override void PostStop()
    {
        io?.Shutdown(TimeSpan.FromSeconds(5));
        image.Dispose();
    }

    /// <summary>Runs on the actor's thread: with nothing in flight no I/O thread touches the image, and new requests wait in the mailbox until the freeze is done.</summary>
    private void FreezeImage(BlockBackendMessage.Freeze f)
    {
        if (inFlight != 0)
        {
            f.Reply.Fail(new InvalidOperationException($"{image.Path}: cannot freeze the disk with {inFlight} requests in flight"));
            return;
        }

        try
        {
            f.Reply.Reply(image.Freeze(f.NewOverlayPath));
        }
        catch (Exception e) when (e is BlockImageException or IOException or UnauthorizedAccessException)
        {
            f.Reply.Fail(e);
        }
    }

    private void Start(BlockRequest request, ReplyTo<BlockCompletion> reply)
    {
        if (Refuse(request) is { } refusal)
        {
            reply.Reply(refusal);
            return;
        }

        var self = Self;
        void Job()
        {
            BlockCompletion completion;
            Exception? fault = null;
            try
            {
                completion = execute is null ? Execute(request) : execute(request);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                completion = new BlockCompletion(BlockStatus.IoError, Message: $"{image.Path}: {e.Message}");
            }
            catch (Exception e)
            {
                fault = e;
                completion = new BlockCompletion(BlockStatus.IoError, Message: $"{image.Path}: backend fault: {e.Message}");
            }

            self.Tell(new BlockBackendMessage.Finished(completion, reply, fault));
        }

        if (io is not null && io.TryPost(Job))
        {
            inFlight++;
        }
        else
        {
            reply.Reply(new BlockCompletion(BlockStatus.IoError, Message: $"{image.Path}: the backend is stopping"));
        }
    }

    /// <summary>Hands a backend fault on; a handler that throws is ignored (it runs on I/O threads too).</summary>
    private void Report(Exception fault)
    {
        try
        {
            faulted?.Invoke(fault);
        }
        catch (Exception)
        {
            // Reporting must not fail the thread it runs on.
        }
    }

    private BlockCompletion? Refuse(BlockRequest r)
    {
        bool writes = r.Operation is BlockOperation.Write or BlockOperation.Discard or BlockOperation.WriteZeroes;
        if (writes && image.IsReadOnly)
        {
            return new BlockCompletion(BlockStatus.ReadOnly, Message: $"{image.Path} is read-only");
        }

        bool inRange = r.Operation switch
        {
            BlockOperation.Read => r.Length >= 0 && Fits(r.Offset, (ulong)r.Length),
            BlockOperation.Write => r.Data is not null && Fits(r.Offset, (ulong)r.Data.Length),
            BlockOperation.Discard or BlockOperation.WriteZeroes => r.Ranges is not null && r.Ranges.All(x => Fits(x.Offset, x.Length)),
            _ => true,
        };
        return inRange ? null : new BlockCompletion(BlockStatus.OutOfRange, Message: $"request beyond the end of {image.Path}");
    }

    private bool Fits(ulong offset, ulong length) => offset <= image.SizeBytes && length <= image.SizeBytes - offset;

    private BlockCompletion Execute(BlockRequest r)
    {
        switch (r.Operation)
        {
            case BlockOperation.Read:
                var buffer = new byte[r.Length];
                image.Read(buffer, (long)r.Offset);
                return new BlockCompletion(BlockStatus.Ok, buffer);

            case BlockOperation.Write:
                image.Write(r.Data!, (long)r.Offset);
                WriteThroughIfAsked();
                return new BlockCompletion(BlockStatus.Ok);

            case BlockOperation.Discard:
            case BlockOperation.WriteZeroes:
                foreach (var range in r.Ranges!)
                {
                    image.WriteZeroes((long)range.Offset, (long)range.Length);
                }

                WriteThroughIfAsked();
                return new BlockCompletion(BlockStatus.Ok);

            case BlockOperation.Flush:
                image.FlushToDisk();
                return new BlockCompletion(BlockStatus.Ok);

            default:
                return new BlockCompletion(BlockStatus.IoError, Message: $"unknown operation {r.Operation}");
        }
    }

    private void WriteThroughIfAsked()
    {
        if (image.CacheMode != BlockCacheMode.Writeback)
        {
            image.FlushToDisk();
        }
    }
}
