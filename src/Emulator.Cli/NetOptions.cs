using Emulator.Devices.VirtioNet;
using Emulator.Machine.Net;

namespace Emulator.Cli;

/// <summary>
/// QEMU's networking flags for the one backend emu has (a TAP): `-netdev tap,id=ID,ifname=TAP`
/// with `-device virtio-net-device,netdev=ID[,mac=MAC]`, or the short form `-nic tap,ifname=TAP[,mac=MAC]`.
/// script= and downscript= are accepted only as "no" (emu runs no scripts: set the TAP up beforehand).
/// </summary>
public sealed class NetOptions
{
    private readonly Dictionary<string, string> netdevs = new(StringComparer.Ordinal);
    private readonly List<(string Netdev, MacAddress? Mac)> devices = [];
    private readonly List<NetworkInterfaceConfig> nics = [];

    public const string DeviceHelp =
        "  virtio-net-device,netdev=ID[,mac=52:54:00:12:34:56]  a network interface on the TAP of -netdev tap,id=ID,ifname=TAP\n";

    /// <summary>Parses -netdev tap,id=ID,ifname=TAP[,script=no][,downscript=no].</summary>
    public string? ParseNetdev(string text)
    {
        string[] parts = text.Split(',');
        if (parts[0] != "tap")
        {
            return $"-netdev {parts[0]} is not supported: emu's only network backend is tap (-netdev tap,id=ID,ifname=TAP)";
        }

        string? id = null, ifname = null;
        foreach (string part in parts[1..])
        {
            string[] kv = part.Split('=', 2);
            string value = kv.Length == 2 ? kv[1] : "";
            switch (kv[0])
            {
                case "id": id = value; break;
                case "ifname": ifname = value; break;
                case "script" or "downscript" when value == "no": break;
                case "script" or "downscript":
                    return $"-netdev tap: {kv[0]}={value} is not supported: emu runs no scripts; set the TAP up beforehand and give {kv[0]}=no";
                default:
                    return $"-netdev tap: unsupported option '{part}' (it takes id, ifname, script=no and downscript=no)";
            }
        }

        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(ifname))
        {
            return $"-netdev '{text}' needs id= and ifname= (example: -netdev tap,id=n0,ifname=tap0,script=no,downscript=no)";
        }

        if (!netdevs.TryAdd(id, ifname))
        {
            return $"-netdev id={id} is given twice";
        }

        return null;
    }

    /// <summary>True when -device <paramref name="text"/> names a network device (parsed by <see cref="ParseDevice"/>).</summary>
    public static bool IsNetDevice(string text) => text.Split(',')[0] is "virtio-net-device" or "virtio-net";

    /// <summary>Parses -device virtio-net-device,netdev=ID[,mac=MAC].</summary>
    public string? ParseDevice(string text)
    {
        string[] parts = text.Split(',');
        string? netdev = null;
        MacAddress? mac = null;
        foreach (string part in parts[1..])
        {
            string[] kv = part.Split('=', 2);
            string value = kv.Length == 2 ? kv[1] : "";
            switch (kv[0])
            {
                case "netdev": netdev = value; break;
                case "mac":
                    if (!MacAddress.TryParse(value, out var m, out string? error))
                    {
                        return $"-device {parts[0]}: mac={error}";
                    }

                    mac = m;
                    break;
                default:
                    return $"-device {parts[0]}: unknown property '{part}' (it has netdev and mac)";
            }
        }

        if (string.IsNullOrEmpty(netdev))
        {
            return $"-device {parts[0]} needs netdev=ID of a -netdev tap,id=ID,ifname=TAP";
        }

        devices.Add((netdev, mac));
        return null;
    }

    /// <summary>Parses -nic tap,ifname=TAP[,mac=MAC][,model=virtio|virtio-net-device][,script=no][,downscript=no].</summary>
    public string? ParseNic(string text)
    {
        string[] parts = text.Split(',');
        if (parts[0] != "tap")
        {
            return $"-nic {parts[0]} is not supported: emu's only network backend is tap (-nic tap,ifname=TAP)";
        }

        string? ifname = null;
        MacAddress? mac = null;
        foreach (string part in parts[1..])
        {
            string[] kv = part.Split('=', 2);
            string value = kv.Length == 2 ? kv[1] : "";
            switch (kv[0])
            {
                case "ifname": ifname = value; break;
                case "id": break;
                case "model" when value is "virtio" or "virtio-net-device" or "virtio-net": break;
                case "model": return $"-nic: model={value} is not available: emu's network device is virtio (virtio-net-device)";
                case "script" or "downscript" when value == "no": break;
                case "script" or "downscript":
                    return $"-nic: {kv[0]}={value} is not supported: emu runs no scripts; set the TAP up beforehand and give {kv[0]}=no";
                case "mac":
                    if (!MacAddress.TryParse(value, out var m, out string? error))
                    {
                        return $"-nic: mac={error}";
                    }

                    mac = m;
                    break;
                default:
                    return $"-nic tap: unsupported option '{part}' (it takes ifname, mac, model=virtio, script=no and downscript=no)";
            }
        }

        if (string.IsNullOrEmpty(ifname))
        {
            return $"-nic '{text}' needs ifname= (example: -nic tap,ifname=tap0,script=no,downscript=no)";
        }

        nics.Add(new NetworkInterfaceConfig(ifname, mac));
        return null;
    }

    /// <summary>The interfaces, -device ones first in their order, then -nic ones; every -netdev must be used by exactly one device.</summary>
    public string? Resolve(out List<NetworkInterfaceConfig> interfaces)
    {
        interfaces = [];
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (netdev, mac) in devices)
        {
            if (!netdevs.TryGetValue(netdev, out string? ifname))
            {
                return $"-device virtio-net-device,netdev={netdev}: no -netdev has id={netdev}";
            }

            if (!used.Add(netdev))
            {
                return $"-netdev {netdev} is used by two devices";
            }

            interfaces.Add(new NetworkInterfaceConfig(ifname, mac));
        }

        if (netdevs.Keys.FirstOrDefault(id => !used.Contains(id)) is { } unused)
        {
            return $"-netdev id={unused} is not used by any device (add -device virtio-net-device,netdev={unused})";
        }

        interfaces.AddRange(nics);
        return null;
    }
}
