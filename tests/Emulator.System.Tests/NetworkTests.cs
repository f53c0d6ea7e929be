using System.Security.Cryptography;
using Emulator.Cli.Terminal;
using Emulator.Testing;
using Grpc.Core;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// virtio-net end to end, inside a network namespace the test makes (a TAP with the host side's
/// address): emu runs in the namespace with `-netdev tap` and `-device virtio-net-device`; the
/// guest loads virtio_net, gets its address from busybox udhcpd (DHCP over the TAP), pings the
/// host side and fetches a file from busybox httpd there, and the bytes match.
/// </summary>
public sealed class NetworkTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Command = TimeSpan.FromMinutes(3);

    /// <summary>The guest's DHCP client script: busybox udhcpc only runs one; this sets the leased address.</summary>
    public const string DhcpScript =
        "printf '#!/bin/sh\\n[ \"$1\" = bound ] && ifconfig $interface $ip netmask $subnet\\nexit 0\\n' > /tmp/dhcp.sh; chmod +x /tmp/dhcp.sh";

    /// <summary>Loads the drivers (virtio-mmio is loaded at boot only for a virtio-blk root) and brings eth0 up.</summary>
    public const string LoadDriver = "modprobe virtio_mmio; modprobe virtio_net; ip link set eth0 up";

    [NetworkFact]
    public void GuestGetsAnAddressByDhcpPingsTheHostAndFetchesAFileOverHttp()
    {
        const string mac = "52:54:00:12:34:56";
        string busybox = HostBusybox.Extract();
        string dir = Directory.CreateTempSubdirectory("emu-net-test-").FullName;
        try
        {
            using var ns = new NetNamespace($"emu-net-{Environment.ProcessId}", "emutap0", "10.0.2.1");
            var blob = new byte[3 << 20];
            new Random(14).NextBytes(blob);
            Directory.CreateDirectory(Path.Combine(dir, "www"));
            File.WriteAllBytes(Path.Combine(dir, "www", "blob"), blob);
            string expected = Convert.ToHexStringLower(SHA256.HashData(blob));
            File.WriteAllText(Path.Combine(dir, "udhcpd.conf"),
                $"start 10.0.2.15\nend 10.0.2.20\ninterface {ns.Tap}\nlease_file {Path.Combine(dir, "leases")}\noption subnet 255.255.255.0\nmax_leases 6\n");
            File.WriteAllText(Path.Combine(dir, "leases"), "");
            var dhcpd = ns.Start(busybox, "udhcpd", "-f", Path.Combine(dir, "udhcpd.conf"));
            var httpd = ns.Start(busybox, "httpd", "-f", "-p", "10.0.2.1:8080", "-h", Path.Combine(dir, "www"));

            var guest = ns.StartEmu(
                "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd,
                "-append", "console=ttyS0 panic=-1", "-m", "512", "-no-reboot",
                "-netdev", $"tap,id=n0,ifname={ns.Tap},script=no,downscript=no",
                "-device", $"virtio-net-device,netdev=n0,mac={mac}");
            guest.WaitFor(ConsoleSession.Prompt, Boot);
            guest.Type("\n");
            guest.WaitFor(ConsoleSession.Prompt, Command);
            guest.Run("stty cols 250; dmesg -n 1", Command);
            Assert.False(dhcpd.HasExited, "udhcpd ended early");
            Assert.False(httpd.HasExited, "httpd ended early");

            guest.Run(LoadDriver, Command);
            Assert.Equal(mac, guest.Run("cat /sys/class/net/eth0/address", Command).Trim());
            guest.Run(DhcpScript, Command);
            string dhcp = guest.Run("udhcpc -i eth0 -n -q -t 20 -T 3 -s /tmp/dhcp.sh 2>&1; echo dhcp-status=$?", Command);
            log.WriteLine(dhcp);
            Assert.Contains("dhcp-status=0", dhcp);
            string addr = guest.Run("ip addr show eth0", Command);
            log.WriteLine(addr);
            Assert.Contains("inet 10.0.2.15/24", addr);

            string ping = guest.Run("ping -c 3 10.0.2.1", Command);
            log.WriteLine(ping);
            Assert.Contains("3 packets received", ping);

            string fetched = guest.Run("wget -q -O /tmp/blob http://10.0.2.1:8080/blob; echo wget-status=$?; sha256sum /tmp/blob", Command);
            log.WriteLine(fetched);
            Assert.Contains("wget-status=0", fetched);
            Assert.Contains($"{expected}  /tmp/blob", fetched);

            guest.Type("poweroff -f\n");
            Assert.Equal(0, guest.WaitForExit(Command));
        }
        finally
        {
            HostBusybox.Remove(busybox);
            Directory.Delete(dir, recursive: true);
        }
    }

    [NetworkFact]
    public void ATapThatCannotBeOpenedIsAClearErrorAtCreation()
    {
        using var ns = new NetNamespace($"emu-net-busy-{Environment.ProcessId}", "emutap0", "10.0.4.1");

        // Busy: another emu has it open.
        var first = ns.StartEmu(
            "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd, "-append", "console=ttyS0 panic=-1", "-m", "256", "-no-reboot",
            "-nic", $"tap,ifname={ns.Tap}");
        first.WaitFor("Linux version", Boot);
        var second = ns.StartEmu(
            "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd, "-append", "console=ttyS0", "-m", "256",
            "-nic", $"tap,ifname={ns.Tap}");
        Assert.Equal(1, second.WaitForExit(Command));
        Assert.Contains($"TAP {ns.Tap} is busy", second.Errors);

        // Not a TAP: a name taken by another kind of interface.
        var notTap = ns.StartEmu(
            "-kernel", DefaultGuest.Kernel, "-initrd", DefaultGuest.Initrd, "-append", "console=ttyS0", "-m", "256",
            "-netdev", "tap,id=x,ifname=lo", "-device", "virtio-net-device,netdev=x");
        Assert.Equal(1, notTap.WaitForExit(Command));
        Assert.Contains("lo is not a TAP device", notTap.Errors);
    }
}

/// <summary>
/// A snapshot of a machine with a network interface (emu serve running in the namespace, driven
/// over its Unix socket): while the original has the TAP, a restore is refused as busy; once the
/// original is gone, the restored machine has the same MAC and its network goes on working
/// (the driver's rings continue from the saved queue state).
/// </summary>
public sealed class NetworkSnapshotTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);

    [NetworkFact]
    public async Task ARestoredMachineKeepsItsMacAndItsNetwork()
    {
        const string mac = "52:54:00:65:6d:75";
        string dir = Directory.CreateTempSubdirectory("emu-net-snap-").FullName;
        string socket = Path.Combine(dir, "emu.sock");
        try
        {
            using var ns = new NetNamespace($"emu-snap-{Environment.ProcessId}", "emutap1", "10.0.3.1");
            ns.Start("dotnet", Path.Combine(AppContext.BaseDirectory, "emu.dll"), "serve", "--listen", $"unix:{socket}",
                "--allow", DefaultGuest.ImageDirectory, "--snapshot-dir", Path.Combine(dir, "snapshots"));
            for (int i = 0; i < 600 && !File.Exists(socket); i++)
            {
                await Task.Delay(100);
            }

            using var channel = Emulator.Service.Client.ControlPlaneChannel.Open($"unix:{socket}");
            var client = new Emulator.Service.V1.MachineService.MachineServiceClient(channel);
            await client.CreateMachineAsync(new Emulator.Service.V1.CreateMachineRequest
            {
                Id = "net1",
                Vcpus = 1,
                MemoryMib = 512,
                Kernel = DefaultGuest.Kernel,
                Initrd = DefaultGuest.Initrd,
                CommandLine = "console=ttyS0 panic=-1",
                NetworkInterfaces = { new Emulator.Service.V1.NetworkInterface { Tap = ns.Tap, Mac = mac } },
            });
            await client.StartMachineAsync(new Emulator.Service.V1.MachineRef { Id = "net1" });
            using (var console = new GrpcConsole(client, "net1"))
            {
                await console.WaitFor(ConsoleSession.Prompt, Boot);
                await console.Run("stty cols 250; dmesg -n 1");
                await console.Run(NetworkTests.LoadDriver);
                await console.Run("ip addr add 10.0.3.15/24 dev eth0");
                string ping = await console.Run("ping -c 2 10.0.3.1");
                log.WriteLine(ping);
                Assert.Contains("2 packets received", ping);
            }

            await client.CreateSnapshotAsync(new Emulator.Service.V1.CreateSnapshotRequest { MachineId = "net1", SnapshotId = "net-snap" });

            // The original still has the TAP open.
            var busy = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
                await client.RestoreSnapshotAsync(new Emulator.Service.V1.RestoreSnapshotRequest { SnapshotId = "net-snap", MachineId = "net2" }));
            Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, busy.StatusCode);
            Assert.Contains($"TAP {ns.Tap} is busy", busy.Status.Detail);

            await client.StopMachineAsync(new Emulator.Service.V1.MachineRef { Id = "net1" });
            await client.DeleteMachineAsync(new Emulator.Service.V1.MachineRef { Id = "net1" });

            var restored = await client.RestoreSnapshotAsync(new Emulator.Service.V1.RestoreSnapshotRequest { SnapshotId = "net-snap", MachineId = "net2" });
            Assert.Equal(Emulator.Service.V1.MachineState.Paused, restored.State);
            using (var console = new GrpcConsole(client, "net2"))
            {
                await client.ResumeMachineAsync(new Emulator.Service.V1.MachineRef { Id = "net2" });
                console.Type("\n");
                await console.WaitFor(ConsoleSession.Prompt, Boot);
                Assert.Equal(mac, (await console.Run("cat /sys/class/net/eth0/address")).Trim());
                string ping = await console.Run("ping -c 3 10.0.3.1");
                log.WriteLine(ping);
                Assert.Contains("3 packets received", ping);
            }

            await client.StopMachineAsync(new Emulator.Service.V1.MachineRef { Id = "net2" });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A machine's console over AttachConsole, read as text.</summary>
    private sealed class GrpcConsole : IDisposable
    {
        private readonly Grpc.Core.AsyncDuplexStreamingCall<Emulator.Service.V1.ConsoleInput, Emulator.Service.V1.ConsoleOutput> call;
        private readonly IAsyncEnumerator<Emulator.Service.V1.ConsoleOutput> output;
        private readonly global::System.Text.StringBuilder seen = new();
        private int from;

        public GrpcConsole(Emulator.Service.V1.MachineService.MachineServiceClient client, string machine)
        {
            call = client.AttachConsole();
            call.RequestStream.WriteAsync(new Emulator.Service.V1.ConsoleInput { MachineId = machine }).GetAwaiter().GetResult();
            output = call.ResponseStream.ReadAllAsync().GetAsyncEnumerator();
        }

        public void Type(string text) =>
            call.RequestStream.WriteAsync(new Emulator.Service.V1.ConsoleInput { Data = Google.Protobuf.ByteString.CopyFromUtf8(text) }).GetAwaiter().GetResult();

        public async Task<string> WaitFor(string text, TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            while (true)
            {
                string all = global::System.Text.RegularExpressions.Regex.Replace(seen.ToString(), @"\x1b\[[0-9;?]*[A-Za-z]", "").Replace("\r", "");
                int at = all.IndexOf(text, from, StringComparison.Ordinal);
                if (at >= 0)
                {
                    string before = all[from..at];
                    from = at + text.Length;
                    return before;
                }

                Assert.True(await output.MoveNextAsync().AsTask().WaitAsync(cancel.Token), $"console ended before '{text}': {all}");
                seen.Append(output.Current.Data.ToStringUtf8());
            }
        }

        public async Task<string> Run(string command)
        {
            Type(command + "\n");
            await WaitFor(command, TimeSpan.FromMinutes(3));
            return (await WaitFor(ConsoleSession.Prompt, TimeSpan.FromMinutes(3))).Trim('\n');
        }

        public void Dispose() => call.Dispose();
    }
}
