using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Emulator.Cli.Terminal;

namespace Emulator.Cli.Bench;

/// <summary>
/// `emu bench guest net`: TCP throughput from the guest to the host over virtio-net on a TAP,
/// emu beside qemu-system-x86_64 -accel tcg (its pc machine with virtio-net-pci) on the same
/// kernel, initramfs and TAP setup, in one run. The TAP lives in a network namespace made for the
/// run (root needed). Two transfers of <see cref="MiB"/> MiB, both guest to host: the guest sends
/// zeros with dd | nc to a listener in that namespace (busybox nc writes a few KiB per system
/// call, so the guest's CPU bounds it), and the host fetches a file of zeros from the guest's
/// busybox httpd (sendfile: large writes, so the device path bounds it more). The host's end is
/// a socket made on a thread that entered the namespace; it counts the bytes and times them from
/// the first to the last. Figures, not a test.
/// </summary>
internal static partial class NetBenchmark
{
    private const int MiB = 64;
    private const int Port = 5001;
    private const string HostAddress = "10.0.9.1", GuestAddress = "10.0.9.15", Tap = "emubench0";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    public static void Run(string? qemu, string kernel, string initrd, string[] emuPrefix)
    {
        Console.WriteLine($"virtio-net TCP throughput guest -> host: dd of {MiB} MiB | nc, over a TAP in a network namespace (MB/s = 10^6 bytes/s)");
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess || !File.Exists("/dev/net/tun"))
        {
            Console.WriteLine("  skipped: needs Linux, root and /dev/net/tun (a network namespace and a TAP are made for the run)");
            return;
        }

        string ns = $"emu-bench-net-{Environment.ProcessId}";
        try
        {
            Ip("netns", "add", ns);
            Ip("-n", ns, "link", "set", "lo", "up");
            Ip("-n", ns, "tuntap", "add", "dev", Tap, "mode", "tap");
            Ip("-n", ns, "addr", "add", $"{HostAddress}/24", "dev", Tap);
            Ip("-n", ns, "link", "set", Tap, "up");

            var emu = Measure(ns, "dotnet", [.. emuPrefix, "-netdev", $"tap,id=n0,ifname={Tap},script=no,downscript=no", "-device", "virtio-net-device,netdev=n0"], kernel, initrd);
            Console.WriteLine($"  {"",-6} {"dd | nc",14} {"httpd -> host",14}");
            Console.WriteLine($"  {"emu",-6} {emu.Nc,9:F1} MB/s {emu.Httpd,9:F1} MB/s");
            if (qemu is null)
            {
                Console.WriteLine("  QEMU: not installed");
                return;
            }

            var q = Measure(ns, qemu, ["-accel", "tcg", "-nographic", "-netdev", $"tap,id=n0,ifname={Tap},script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0"], kernel, initrd);
            Console.WriteLine($"  {"QEMU",-6} {q.Nc,9:F1} MB/s {q.Httpd,9:F1} MB/s");
            Console.WriteLine($"  {"emu/QEMU",-6} {emu.Nc / q.Nc,9:F2}      {emu.Httpd / q.Httpd,9:F2}");
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or SocketException or TimeoutException)
        {
            Console.WriteLine($"  failed: {e.Message}");
        }
        finally
        {
            Ip(["netns", "del", ns], allowFailure: true);
        }
    }

    /// <summary>Boots the guest in the namespace, gives it an address, and times both transfers at the host's end; MB/s.</summary>
    private static (double Nc, double Httpd) Measure(string ns, string program, string[] args, string kernel, string initrd)
    {
        using var session = ConsoleSession.Start("ip", null,
            ["netns", "exec", ns, program, .. args, "-kernel", kernel, "-initrd", initrd, "-append", GuestImage.DefaultAppend, "-m", "512", "-no-reboot"]);
        session.WaitFor(ConsoleSession.Prompt, Timeout);
        session.Type("\n");
        session.WaitFor(ConsoleSession.Prompt, Timeout);
        session.Run("stty cols 250; dmesg -n 1", Timeout);
        session.Run("modprobe virtio_mmio 2>/dev/null; modprobe virtio_pci 2>/dev/null; modprobe virtio_net; ip link set eth0 up", Timeout);
        session.Run($"ip addr add {GuestAddress}/24 dev eth0; ping -c 1 -w 10 {HostAddress}", Timeout);

        long total = (long)MiB << 20;
        using var listening = new ManualResetEventSlim();
        var sink = Task.Factory.StartNew(() => InNamespace(ns, () => Listen(total, listening)), TaskCreationOptions.LongRunning);
        if (!listening.Wait(Timeout))
        {
            throw new TimeoutException("the listener did not start");
        }

        session.Type($"dd if=/dev/zero bs=65536 count={MiB * 16} 2>/dev/null | nc {HostAddress} {Port}\n");
        if (!sink.Wait(Timeout))
        {
            throw new TimeoutException("the guest's transfer did not finish");
        }

        session.WaitFor(ConsoleSession.Prompt, Timeout);
        double nc = Rate(sink.Result, total);

        session.Run($"mkdir -p /tmp/www; dd if=/dev/zero of=/tmp/www/z bs=1048576 count={MiB} 2>/dev/null; httpd -p 8080 -h /tmp/www", Timeout);
        var fetch = Task.Factory.StartNew(() => InNamespace(ns, () => Fetch(total)), TaskCreationOptions.LongRunning);
        if (!fetch.Wait(Timeout))
        {
            throw new TimeoutException("the fetch from the guest did not finish");
        }

        double httpd = Rate(fetch.Result, total);
        session.Type("poweroff -f\n");
        session.WaitForExit(Timeout);
        return (nc, httpd);
    }

    private static double Rate((long Bytes, double Seconds) r, long total) =>
        r.Bytes == total ? r.Bytes / r.Seconds / 1e6 : throw new IOException($"{r.Bytes} of {total} bytes arrived");

    /// <summary>
    /// Runs <paramref name="work"/> on this thread (a dedicated one) after entering the namespace:
    /// setns affects only the calling thread, and a socket belongs to the namespace it was made in.
    /// </summary>
    private static T InNamespace<T>(string ns, Func<T> work)
    {
        int fd = open($"/var/run/netns/{ns}", 0);
        if (fd < 0 || setns(fd, CloneNewNet) != 0)
        {
            throw new IOException($"cannot enter network namespace {ns}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        close(fd);
        return work();
    }

    /// <summary>Accepts one connection and reads until <paramref name="total"/> bytes have come (then closes, which ends the guest's nc).</summary>
    private static (long Bytes, double Seconds) Listen(long total, ManualResetEventSlim listening)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(IPAddress.Parse(HostAddress), Port));
        listener.Listen(1);
        listening.Set();
        using var connection = listener.Accept();
        return Count(connection, total, skipHeaders: false);
    }

    /// <summary>GETs the guest's file over HTTP/1.0 and counts the body's bytes.</summary>
    private static (long Bytes, double Seconds) Fetch(long total)
    {
        using var connection = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        connection.Connect(new IPEndPoint(IPAddress.Parse(GuestAddress), 8080));
        connection.Send("GET /z HTTP/1.0\r\n\r\n"u8);
        return Count(connection, total, skipHeaders: true);
    }

    /// <summary>Reads until <paramref name="total"/> bytes (of body, after the HTTP headers when asked) or the end; times from the first byte.</summary>
    private static (long Bytes, double Seconds) Count(Socket connection, long total, bool skipHeaders)
    {
        var buffer = new byte[1 << 20];
        long received = 0;
        int headerMatch = skipHeaders ? 0 : 4;
        Stopwatch? clock = null;
        while (received < total)
        {
            int n = connection.Receive(buffer);
            if (n == 0)
            {
                break;
            }

            clock ??= Stopwatch.StartNew();
            int i = 0;
            for (; headerMatch < 4 && i < n; i++)
            {
                // The body starts after the first "\r\n\r\n".
                headerMatch = buffer[i] == "\r\n\r\n"[headerMatch] ? headerMatch + 1 : buffer[i] == '\r' ? 1 : 0;
            }

            received += n - i;
        }

        return (received, clock?.Elapsed.TotalSeconds ?? double.NaN);
    }

    private const int CloneNewNet = 0x40000000;

    private static void Ip(params string[] args) => Ip(args, allowFailure: false);

    private static void Ip(string[] args, bool allowFailure)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)}: {err.Trim()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}
