using Emulator.Cli;
using Emulator.Devices.VirtioNet;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>QEMU's networking flags as emu takes them: -netdev tap with -device virtio-net-device, and -nic tap.</summary>
public sealed class NetOptionTests
{
    [Fact]
    public void NetdevAndDeviceMakeOneInterfaceEach()
    {
        var net = new NetOptions();
        Assert.Null(net.ParseNetdev("tap,id=n0,ifname=tap0,script=no,downscript=no"));
        Assert.Null(net.ParseNetdev("tap,id=n1,ifname=tap1"));
        Assert.True(NetOptions.IsNetDevice("virtio-net-device,netdev=n1"));
        Assert.False(NetOptions.IsNetDevice("isa-debug-exit"));
        Assert.Null(net.ParseDevice("virtio-net-device,netdev=n1,mac=52:54:00:aa:bb:cc"));
        Assert.Null(net.ParseDevice("virtio-net-device,netdev=n0"));
        Assert.Null(net.ParseNic("tap,ifname=tap2,model=virtio"));
        Assert.Null(net.Resolve(out var interfaces));
        Assert.Equal(["tap1", "tap0", "tap2"], interfaces.Select(i => i.Tap));
        Assert.Equal(MacAddress.Parse("52:54:00:aa:bb:cc"), interfaces[0].Mac);
        Assert.Null(interfaces[1].Mac);
        Assert.Equal(interfaces[1].MacFor(1), interfaces[1].MacFor(1)); // derived, stable
        Assert.StartsWith("52:54:00:", interfaces[1].MacFor(1).ToString());
    }

    [Theory]
    [InlineData("user,id=n0", "only network backend is tap")]
    [InlineData("tap,id=n0", "needs id= and ifname=")]
    [InlineData("tap,id=n0,ifname=tap0,script=/etc/qemu-ifup", "emu runs no scripts")]
    [InlineData("tap,id=n0,ifname=tap0,vhost=on", "unsupported option 'vhost=on'")]
    public void BadNetdevsAreRefused(string option, string message)
    {
        Assert.Contains(message, new NetOptions().ParseNetdev(option));
    }

    [Fact]
    public void DevicesAndNetdevsMustPairUp()
    {
        var missing = new NetOptions();
        Assert.Null(missing.ParseDevice("virtio-net-device,netdev=n9"));
        Assert.Contains("no -netdev has id=n9", missing.Resolve(out _));

        var unused = new NetOptions();
        Assert.Null(unused.ParseNetdev("tap,id=n0,ifname=tap0"));
        Assert.Contains("not used by any device", unused.Resolve(out _));

        var twice = new NetOptions();
        Assert.Null(twice.ParseNetdev("tap,id=n0,ifname=tap0"));
        Assert.Contains("given twice", twice.ParseNetdev("tap,id=n0,ifname=tap1"));
        Assert.Null(twice.ParseDevice("virtio-net-device,netdev=n0"));
        Assert.Null(twice.ParseDevice("virtio-net-device,netdev=n0"));
        Assert.Contains("used by two devices", twice.Resolve(out _));

        Assert.Contains("multicast", new NetOptions().ParseDevice("virtio-net-device,netdev=n0,mac=01:00:5e:00:00:01"));
        Assert.Contains("not a MAC address", new NetOptions().ParseNic("tap,ifname=tap0,mac=52:54:00"));
        Assert.Contains("model=e1000 is not available", new NetOptions().ParseNic("tap,ifname=tap0,model=e1000"));
    }
}
