using System.Diagnostics;
using System.Runtime.InteropServices;
using Emulator.Actors;
using Emulator.Machine.Net;
using Emulator.Machine.Runtime;
using Emulator.Testing;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>Needs root, ip and /dev/net/tun: skipped without them, failed under CI.</summary>
public sealed class TapFactAttribute() : DependencyFactAttribute(MissingDependency())
{
    private static string? MissingDependency()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return "TAP tests need Linux and root (a network namespace and a TAP are made for them)";
        }

        string[] dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return !File.Exists("/dev/net/tun") ? "/dev/net/tun is missing (modprobe tun)"
            : dirs.Any(d => File.Exists(Path.Combine(d, "ip"))) ? null : "ip not on PATH (apt-get install iproute2)";
    }
}

/// <summary>
/// The TAP backend against the host kernel, in a network namespace made for the test (the TAP is
/// opened on a thread that entered it: a TAP belongs to the namespace of the thread that opens
/// /dev/net/tun). An ARP request written through the backend actor is answered by the kernel, and
/// the answer comes back through the reader thread.
/// </summary>
public sealed partial class TapBackendTests
{
    private const string HostIp = "10.0.5.1";

    [Fact]
    public void BadNamesAreRefusedBeforeAnythingIsOpened()
    {
        Assert.Contains("not a network interface name", Assert.Throws<NetworkBackendException>(() => TapDevice.Open("")).Message);
        Assert.Contains("not a network interface name", Assert.Throws<NetworkBackendException>(() => TapDevice.Open("a-name-far-too-long")).Message);
        Assert.Contains("not a network interface name", Assert.Throws<NetworkBackendException>(() => TapDevice.Open("../x")).Message);
    }

    [TapFact]
    public async Task AnArpRequestSentThroughTheBackendIsAnsweredByTheKernel()
    {
        string ns = $"emu-tap-test-{Environment.ProcessId}";
        Ip(true, "netns", "del", ns);
        Ip(false, "netns", "add", ns);
        var system = ActorSystem.Create("tap-test");
        try
        {
            Ip(false, "-n", ns, "tuntap", "add", "dev", "emutapt", "mode", "tap");
            Ip(false, "-n", ns, "addr", "add", $"{HostIp}/24", "dev", "emutapt");
            Ip(false, "-n", ns, "link", "set", "emutapt", "up");

            TapDevice? tap = null;
            var opener = new Thread(() =>
            {
                int fd = open($"/var/run/netns/{ns}", 0);
                Assert.True(fd >= 0 && setns(fd, 0x40000000) == 0, "cannot enter the namespace");
                close(fd);
                tap = TapDevice.Open("emutapt");
            });
            opener.Start();
            opener.Join();
            Assert.NotNull(tap);

            // Busy: a second open of the same TAP is refused with a clear reason.
            var second = new Thread(() =>
            {
                int fd = open($"/var/run/netns/{ns}", 0);
                setns(fd, 0x40000000);
                close(fd);
                Assert.Contains("is busy", Assert.Throws<NetworkBackendException>(() => TapDevice.Open("emutapt")).Message);
            });
            second.Start();
            second.Join();

            var replies = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            var backend = system.Spawn(TapBackendActor.Props(tap!, frame =>
            {
                // vnet header (12 bytes), then Ethernet: type 0x0806 (ARP), opcode 2 (reply).
                if (frame.Length >= 12 + 42 && frame[12 + 12] == 0x08 && frame[12 + 13] == 0x06 && frame[12 + 21] == 2)
                {
                    replies.TrySetResult(frame);
                }
            }, e => replies.TrySetException(e)), "tap");

            byte[] mac = [0x52, 0x54, 0x00, 0x11, 0x22, 0x33];
            var sent = await backend.Ask<bool>(r => new NetBackendMessage.Transmit(ArpRequest(mac, [10, 0, 5, 2], [10, 0, 5, 1]), r), TimeSpan.FromSeconds(10));
            Assert.True(sent);
            var reply = await replies.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(mac, reply[12..18]);                       // to us
            Assert.Equal(new byte[] { 10, 0, 5, 1 }, reply[(12 + 28)..(12 + 32)]); // sender IP: the host side

            // A frame the kernel refuses (a header length beyond the frame) is a failed write, counted, not an exception.
            var bad = ArpRequest(mac, [10, 0, 5, 2], [10, 0, 5, 1]);
            bad[2] = 0xff; bad[3] = 0xff; // hdr_len
            Assert.False(await backend.Ask<bool>(r => new NetBackendMessage.Transmit(bad, r), TimeSpan.FromSeconds(10)));
            Assert.Equal(1, tap!.WriteErrors);
        }
        finally
        {
            await system.TerminateAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Ip(true, "netns", "del", ns);
        }
    }

    [Fact]
    public void ReceivedFramesWaitingForTheDeviceAreBounded()
    {
        var posted = new List<Action>();
        var client = new NetBackendClient(() => throw new InvalidOperationException("no device actor in this test"), a =>
        {
            posted.Add(a);
            return true;
        });
        var received = new List<byte[]>();
        client.Receiver = received.Add;
        for (int i = 0; i < NetBackendClient.MaxPending + 10; i++)
        {
            client.Deliver(new byte[64]);
        }

        Assert.Equal(NetBackendClient.MaxPending, posted.Count);
        Assert.Equal(10, client.DroppedPending);
        posted.ForEach(a => a());
        Assert.Equal(NetBackendClient.MaxPending, received.Count);
        client.Deliver(new byte[64]); // room again once the device has taken them
        Assert.Equal(NetBackendClient.MaxPending + 1, posted.Count);
    }

    /// <summary>A zero vnet header and an Ethernet broadcast ARP request (RFC 826) for <paramref name="targetIp"/>.</summary>
    private static byte[] ArpRequest(byte[] mac, byte[] senderIp, byte[] targetIp)
    {
        var f = new byte[12 + 42];
        var e = f.AsSpan(12);
        e[..6].Fill(0xff);
        mac.CopyTo(e[6..]);
        e[12] = 0x08; e[13] = 0x06;          // ARP
        e[14] = 0; e[15] = 1;                // Ethernet
        e[16] = 0x08; e[17] = 0x00;          // IPv4
        e[18] = 6; e[19] = 4; e[20] = 0; e[21] = 1; // request
        mac.CopyTo(e[22..]);
        senderIp.CopyTo(e[28..]);
        targetIp.CopyTo(e[38..]);
        return f;
    }

    private static void Ip(bool allowFailure, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(allowFailure || p.ExitCode == 0, $"ip {string.Join(' ', args)}: {err}");
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int close(int fd);
}
