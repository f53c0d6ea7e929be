using Emulator.Actors;
using Emulator.Devices.Virtio9p;

namespace Emulator.Machine.SharedFolders;

/// <summary>The messages of a <see cref="SharedFolderActor"/>.</summary>
public abstract record SharedFolderMessage
{
    private SharedFolderMessage()
    {
    }

    /// <summary>One 9P T-message from the device; the R-message (at most <see cref="Capacity"/> bytes) goes to <see cref="Reply"/>.</summary>
    public sealed record Submit(byte[] Request, int Capacity, ReplyTo<byte[]> Reply) : SharedFolderMessage;

    /// <summary>The session for a snapshot (the device asks only with no message in flight).</summary>
    public sealed record Save(ReplyTo<P9Session> Reply) : SharedFolderMessage;

    /// <summary>Re-opens a saved session's fids; the reply is how many could not be (stale fids).</summary>
    public sealed record Restore(P9Session Session, ReplyTo<int> Reply) : SharedFolderMessage;
}

/// <summary>
/// Owns one shared folder's <see cref="P9Server"/> and does its file operations on a thread of
/// its own, off the vCPU and device threads: a file system call may block (a slow disk, a network
/// file system under the share), and nothing else then waits but the guest's 9P requests, which
/// queue in order. Messages are handled one at a time, so the fid table needs no lock. A fault of
/// the server (a bug, not a guest's error: those are Rlerrors) fails only its request, with EIO,
/// and is reported to <paramref name="faulted"/>; the machine stops itself with it.
/// </summary>
public sealed class SharedFolderActor(P9Server server, Action<Exception>? faulted = null) : Actor<SharedFolderMessage>
{
    public static Props<SharedFolderMessage> Props(P9Server server, Action<Exception>? faulted = null) =>
        Actors.Props.Create(() => new SharedFolderActor(server, faulted)).WithDedicatedThread();

    protected override void Receive(SharedFolderMessage message)
    {
        switch (message)
        {
            case SharedFolderMessage.Submit s:
                byte[] reply;
                try
                {
                    reply = server.Handle(s.Request, s.Capacity);
                }
                catch (Exception e)
                {
                    ushort tag = s.Request.Length >= P9Type.HeaderSize ? BitConverter.ToUInt16(s.Request, 5) : P9Type.NoTag;
                    reply = new P9Writer(P9Type.Rlerror, tag).U32(P9Errno.EIO).Finish();
                    Report(e);
                }

                s.Reply.Reply(reply);
                break;
            case SharedFolderMessage.Save s:
                s.Reply.Reply(server.Save());
                break;
            case SharedFolderMessage.Restore r:
                r.Reply.Reply(server.Restore(r.Session));
                break;
        }
    }

    /// <summary>A restart keeps the server (it belongs to the machine, with its fids); stopping closes it.</summary>
    protected override void PreRestart(Exception reason)
    {
    }

    protected override void PostStop() => server.Dispose();

    private void Report(Exception fault)
    {
        try
        {
            faulted?.Invoke(fault);
        }
        catch (Exception)
        {
            // Reporting must not fail the actor.
        }
    }
}
