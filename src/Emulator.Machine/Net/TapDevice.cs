using System.Runtime.InteropServices;

namespace Emulator.Machine.Net;

/// <summary>
/// A Linux TAP interface opened through /dev/net/tun (Documentation/networking/tuntap.rst):
/// TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a vnet header of 12 bytes
/// (TUNSETVNETHDRSZ, struct virtio_net_hdr_mrg_rxbuf, so frames pass to and from virtio-net
/// unchanged) and no receive offloads (TUNSETOFFLOAD 0: the kernel hands over complete,
/// checksummed frames). Writes take a lock that <see cref="Dispose"/> also takes, so no write
/// reaches a descriptor number the process has reused; the reader stops before the descriptor
/// is closed.
/// </summary>
public sealed partial class TapDevice : IDisposable
{
    /// <summary>Bytes of the vnet header on every frame, both ways.</summary>
    public const int VnetHeaderSize = 12;

    /// <summary>The largest read: a header and a 64 KiB frame with room to spare (the kernel never sends more with offloads off).</summary>
    public const int MaxRead = VnetHeaderSize + 65536 + 64;

    private const int ORdwr = 2, OCloexec = 0x80000;
    private const short IffTap = 0x0002, IffNoPi = 0x1000, IffVnetHdr = 0x4000;
    private const nuint TunSetIff = 0x400454ca, TunSetOffload = 0x400454d0, TunSetVnetHdrSz = 0x400454d8;
    private const int Enoent = 2, Eintr = 4, Eio = 5, Eacces = 13, Ebusy = 16, Enodev = 19, Einval = 22, Eperm = 1, Eagain = 11;
    private const short PollIn = 1;

    private readonly object gate = new();
    private readonly int fd;
    private readonly int wakeRead, wakeWrite;
    private Thread? reader;
    private volatile bool stopping;
    private bool closed;

    private TapDevice(string name, int fd, int wakeRead, int wakeWrite)
    {
        Name = name;
        this.fd = fd;
        this.wakeRead = wakeRead;
        this.wakeWrite = wakeWrite;
    }

    public string Name { get; }

    /// <summary>Frames the kernel refused (a malformed offload request, the interface down).</summary>
    public long WriteErrors => Interlocked.Read(ref writeErrors);

    private long writeErrors;

    /// <summary>Opens the TAP named <paramref name="name"/> (created, as QEMU does, if it does not exist and the process may); a clear <see cref="NetworkBackendException"/> otherwise.</summary>
    public static TapDevice Open(string name)
    {
        if (name.Length is 0 or > 15 || name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || c < ' '))
        {
            throw new NetworkBackendException($"'{name}' is not a network interface name (1 to 15 characters, no '/', ':' or spaces)");
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new NetworkBackendException($"TAP {name}: TAP devices are a Linux feature");
        }

        int fd = open("/dev/net/tun", ORdwr | OCloexec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new NetworkBackendException(errno switch
            {
                Enoent or Enodev => $"TAP {name}: /dev/net/tun does not exist (the kernel has no TUN/TAP support loaded: modprobe tun)",
                Eacces or Eperm => $"TAP {name}: permission denied opening /dev/net/tun",
                _ => $"TAP {name}: cannot open /dev/net/tun: {Marshal.GetPInvokeErrorMessage(errno)}",
            });
        }

        try
        {
            Span<byte> ifreq = stackalloc byte[40];
            ifreq.Clear();
            System.Text.Encoding.ASCII.GetBytes(name, ifreq);
            BitConverter.TryWriteBytes(ifreq[16..], (short)(IffTap | IffNoPi | IffVnetHdr));
            unsafe
            {
                // Safe: ifreq is a 40-byte stack buffer, the size of struct ifreq the ioctl reads and writes.
                fixed (byte* p = ifreq)
                {
                    if (ioctl(fd, TunSetIff, (nint)p) < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        throw new NetworkBackendException(errno switch
                        {
                            Ebusy => $"TAP {name} is busy: another process (or machine) has it open",
                            Eperm or Eacces => $"TAP {name}: not permitted (it belongs to another user, or creating it needs CAP_NET_ADMIN; create it first with: ip tuntap add dev {name} mode tap user USER)",
                            Einval => $"{name} is not a TAP device (a TUN device or another kind of interface has that name)",
                            _ => $"TAP {name}: TUNSETIFF failed: {Marshal.GetPInvokeErrorMessage(errno)}",
                        });
                    }
                }

                int size = VnetHeaderSize;
                if (ioctl(fd, TunSetVnetHdrSz, (nint)(&size)) < 0)
                {
                    throw new NetworkBackendException($"TAP {name}: the kernel does not take a 12-byte vnet header: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }
            }

            // No receive offloads: every frame read is complete and checksummed.
            if (ioctl(fd, TunSetOffload, 0) < 0)
            {
                throw new NetworkBackendException($"TAP {name}: TUNSETOFFLOAD failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }

            Span<int> wake = stackalloc int[2];
            if (pipe2(ref MemoryMarshal.GetReference(wake), OCloexec) < 0)
            {
                throw new NetworkBackendException($"TAP {name}: cannot make a pipe: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }

            return new TapDevice(name, fd, wake[0], wake[1]);
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    /// <summary>Writes one frame (vnet header first); false, counted, when the kernel refuses it or the device is closed.</summary>
    public bool Write(byte[] frame)
    {
        lock (gate)
        {
            if (closed)
            {
                return false;
            }

            while (true)
            {
                nint n = write(fd, frame, frame.Length);
                if (n == frame.Length)
                {
                    return true;
                }

                if (n < 0 && Marshal.GetLastPInvokeError() == Eintr)
                {
                    continue;
                }

                Interlocked.Increment(ref writeErrors);
                return false;
            }
        }
    }

    /// <summary>
    /// Starts the reader thread: it waits in poll(2) for a frame (or the stop pipe) and hands each
    /// frame read, vnet header first, to <paramref name="deliver"/> on that thread. What the
    /// callback throws goes to <paramref name="faulted"/> and the reader stops.
    /// </summary>
    public void StartReading(Action<byte[]> deliver, Action<Exception> faulted)
    {
        lock (gate)
        {
            if (reader is not null || closed)
            {
                return;
            }

            reader = new Thread(() => ReadLoop(deliver, faulted)) { IsBackground = true, Name = $"tap-{Name}" };
            reader.Start();
        }
    }

    private unsafe void ReadLoop(Action<byte[]> deliver, Action<Exception> faulted)
    {
        var buffer = new byte[MaxRead];
        Span<PollFd> fds = stackalloc PollFd[2];
        try
        {
            while (!stopping)
            {
                fds[0] = new PollFd { Fd = fd, Events = PollIn };
                fds[1] = new PollFd { Fd = wakeRead, Events = PollIn };

                // Safe: fds is a stack array of two pollfd structs, as the count says.
                int ready;
                fixed (PollFd* p = fds)
                {
                    ready = poll(p, 2, -1);
                }

                if (ready < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Eintr)
                    {
                        continue;
                    }

                    throw new IOException($"TAP {Name}: poll failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }

                if (stopping || fds[1].Revents != 0)
                {
                    return;
                }

                if (fds[0].Revents == 0)
                {
                    continue;
                }

                nint n = read(fd, buffer, buffer.Length);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is Eintr or Eagain or Eio)
                    {
                        // EIO: the interface is down (no carrier); poll says when it is back.
                        if (errno == Eio)
                        {
                            Thread.Sleep(10);
                        }

                        continue;
                    }

                    throw new IOException($"TAP {Name}: read failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                }

                if (n > VnetHeaderSize)
                {
                    deliver(buffer.AsSpan(0, (int)n).ToArray());
                }
            }
        }
        catch (Exception e)
        {
            faulted(e);
        }
    }

    /// <summary>Stops the reader (waking its poll), then closes the descriptors. Idempotent.</summary>
    public void Dispose()
    {
        Thread? r;
        lock (gate)
        {
            if (closed)
            {
                return;
            }

            stopping = true;
            r = reader;
            write(wakeWrite, [1], 1);
        }

        // Close only once the reader is out of poll and read; if it does not stop (it always
        // should), the descriptors are leaked rather than closed under it.
        if (r is not null && r != Thread.CurrentThread && !r.Join(TimeSpan.FromSeconds(5)))
        {
            return;
        }

        lock (gate)
        {
            if (closed)
            {
                return; // another Dispose finished first
            }

            closed = true;
            close(fd);
            close(wakeRead);
            close(wakeWrite);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, nint arg);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static partial int pipe2(ref int fds, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint read(int fd, byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint write(int fd, byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}
