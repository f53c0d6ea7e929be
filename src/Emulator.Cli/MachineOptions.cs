using System.Globalization;
using Emulator.Execution.Tiering;
using Emulator.Machine.Block;
using Emulator.Machine.Pc;

namespace Emulator.Cli;

/// <summary>A machine as the command line describes it, validated.</summary>
public sealed record MachineOptions
{
    public const int MaxCpus = 64;

    public required string Kernel { get; init; }

    public string? Initrd { get; init; }

    public string CommandLine { get; init; } = "";

    public ulong MemoryBytes { get; init; } = 512UL << 20;

    public int Cpus { get; init; } = 1;

    /// <summary>Serial port on standard input/output (-nographic or -serial stdio).</summary>
    public bool SerialOnStdio { get; init; } = true;

    /// <summary>-no-reboot: a guest reboot ends the process (exit code 0) instead of resetting.</summary>
    public bool NoReboot { get; init; }

    /// <summary>-device isa-debug-exit, or null.</summary>
    public IsaDebugExitConfig? DebugExit { get; init; }

    /// <summary>virtio-blk disks from -drive, in order (/dev/vda first).</summary>
    public List<DiskConfig> Disks { get; } = [];

    /// <summary>virtio-net interfaces from -netdev/-device and -nic (NetOptions), eth0 first.</summary>
    public List<Emulator.Machine.Net.NetworkInterfaceConfig> NetworkInterfaces { get; } = [];

    /// <summary>Host folders from -virtfs, in order.</summary>
    public List<Emulator.Machine.SharedFolders.SharedFolderConfig> SharedFolders { get; } = [];

    /// <summary>Tier 1 from -accel (null: the interpreter alone).</summary>
    public Tier1Options? Tier1 { get; init; }

    /// <summary>The CPU model from -cpu (x86-64-v2 by default).</summary>
    public Emulator.X86.CpuModel CpuModel { get; init; } = Emulator.X86.CpuModel.Default;

    /// <summary>Notes for the user about accepted-but-ignored options.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>
    /// Parses QEMU's -m syntax: a number with an optional suffix (K, M, G, T; M when absent),
    /// or size=N[suffix]. Returns an error message, or null with the size.
    /// </summary>
    public static string? ParseMemory(string text, out ulong bytes)
    {
        if (ParseSize(text, "memory size", out bytes) is { } error)
        {
            return error;
        }

        if (bytes < 32UL << 20)
        {
            return $"memory size {text} is too small: Linux needs at least 32 MiB";
        }

        if (bytes > 64UL << 30)
        {
            return $"memory size {text} is too large (at most 64G)";
        }

        bytes &= ~0xfffUL;
        return null;
    }

    /// <summary>A size: N (MiB), N with K, M, G or T (optionally KiB...), or size=N[suffix]. Returns an error naming <paramref name="what"/>, or null.</summary>
    public static string? ParseSize(string text, string what, out ulong bytes)
    {
        bytes = 0;
        string s = text.Trim();
        if (s.StartsWith("size=", StringComparison.OrdinalIgnoreCase))
        {
            s = s[5..];
        }

        ulong unit = 1UL << 20;
        if (s.Length > 0 && char.IsLetter(s[^1]))
        {
            unit = char.ToUpperInvariant(s[^1]) switch
            {
                'K' => 1UL << 10,
                'M' => 1UL << 20,
                'G' => 1UL << 30,
                'T' => 1UL << 40,
                _ => 0,
            };
            s = s[..^1];
            if (s.EndsWith('i'))
            {
                s = s[..^1];
            }
        }

        if (unit == 0 || !ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
        {
            return $"invalid {what} '{text}' (examples: 512, 512M, 2G)";
        }

        bytes = n * unit;
        return bytes / unit != n || bytes > long.MaxValue ? $"{what} {text} is too large" : null;
    }

    /// <summary>Parses -smp N or -smp cpus=N[,...].</summary>
    public static string? ParseSmp(string text, out int cpus)
    {
        cpus = 0;
        string first = text.Split(',')[0];
        string value = first.StartsWith("cpus=", StringComparison.Ordinal) ? first[5..] : first;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out cpus) || cpus < 1 || cpus > MaxCpus)
        {
            return $"invalid -smp '{text}': give a number of vCPUs from 1 to {MaxCpus}";
        }

        return null;
    }

    /// <summary>
    /// Parses -accel tcg[,tier1=wasmtime|cil|off][,tier1-threshold=N][,tier1-merge=N]: which engine
    /// runs hot blocks compiled to WebAssembly (off: the interpreter alone), after how many runs a
    /// block is compiled, and from how many entries a second from other modules the modules are compiled
    /// as one (0: never). QEMU's other tcg options (thread, tb-size ...) are accepted and ignored, with a
    /// note; an accelerator other than tcg is refused. Without tier1=, the default
    /// (<see cref="MachineCode.Default"/>).
    /// </summary>
    public static string? ParseAccel(string text, List<string> notes, out Tier1Options? tier1)
    {
        tier1 = MachineCode.Default();
        string[] parts = text.Split(',');
        if (parts[0] != "tcg")
        {
            return $"accelerator '{parts[0]}' is not available: emu translates guest code itself (use -accel tcg or leave it out)";
        }

        string? engine = null;
        int? threshold = null;
        int? merge = null;
        var ignored = new List<string>();
        foreach (string option in parts[1..])
        {
            string[] kv = option.Split('=', 2);
            switch (kv[0])
            {
                case "tier1" when kv.Length == 2 && (kv[1] == "off" || Tier1Options.EngineNames.Contains(kv[1])):
                    engine = kv[1];
                    break;
                case "tier1":
                    return $"-accel tcg,tier1= takes {string.Join(", ", Tier1Options.EngineNames)} or off, not '{(kv.Length == 2 ? kv[1] : "")}'";
                case "tier1-threshold" when kv.Length == 2 && int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1:
                    threshold = n;
                    break;
                case "tier1-threshold":
                    return $"-accel tcg,tier1-threshold= takes a number of runs of 1 or more, not '{(kv.Length == 2 ? kv[1] : "")}'";
                case "tier1-merge" when kv.Length == 2 && int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int m):
                    merge = m;
                    break;
                case "tier1-merge":
                    return $"-accel tcg,tier1-merge= takes a number of entries a second from other modules (0: never merge), not '{(kv.Length == 2 ? kv[1] : "")}'";
                default:
                    ignored.Add(option);
                    break;
            }
        }

        if (ignored.Count > 0)
        {
            notes.Add($"-accel tcg options ignored: {string.Join(',', ignored)} (emu has its own translator and tiers)");
        }

        if (engine == "off")
        {
            tier1 = null;
        }
        else if (engine is not null || threshold is not null || merge is not null)
        {
            tier1 = new Tier1Options(Tier1Options.CreateEngine(engine ?? tier1?.Engine.Name ?? MachineCode.DefaultEngine))
            {
                Threshold = threshold ?? tier1?.Threshold ?? Tier1Options.DefaultThreshold,
                MergeTransfersPerSecond = merge ?? tier1?.MergeTransfersPerSecond ?? Tier1Options.DefaultMergeTransfersPerSecond,
            };
        }

        return null;
    }

    /// <summary>
    /// Parses QEMU's -drive file=PATH[,format=raw|emucow][,if=virtio][,readonly=on|off][,cache=writeback|writethrough|none].
    /// A comma inside the path is written twice, as in QEMU. The format is raw unless it says
    /// emucow: unlike QEMU without format=, the file's contents never choose it (a guest writes
    /// them). An emucow overlay's backing files are the local user's to name (no confinement:
    /// `emu` runs with the user's own rights; `emu serve` confines them).
    /// </summary>
    public static string? ParseDrive(string text, out DiskConfig disk)
    {
        disk = null!;
        string? file = null;
        var format = BlockFormat.Raw;
        bool readOnly = false;
        var cache = BlockCacheMode.Writeback;
        foreach (string part in SplitOptions(text))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
            switch (key)
            {
                case "file": file = value; break;
                case "format" when BlockFormats.TryParse(value, out format) && value.Length > 0: break;
                case "format": return $"-drive format={value} is not supported: {BlockFormats.RawName} or {BlockFormats.EmuCowName} (the emulator's copy-on-write overlay)";
                case "if" when value == "virtio": break;
                case "if": return $"-drive if={value} is not supported: disks are virtio-blk (if=virtio)";
                case "media" when value == "disk": break;
                case "readonly" when value is "on" or "true" or "yes" or "": readOnly = true; break;
                case "readonly" when value is "off" or "false" or "no": readOnly = false; break;
                case "cache" when value is "writeback" or "unsafe": cache = BlockCacheMode.Writeback; break;
                case "cache" when value is "writethrough" or "directsync": cache = BlockCacheMode.Writethrough; break;
                case "cache" when value == "none": cache = BlockCacheMode.None; break;
                default: return $"-drive: unsupported option '{part}'";
            }
        }

        if (string.IsNullOrEmpty(file))
        {
            return $"-drive '{text}' names no file= (example: -drive file=disk.img,format=raw,if=virtio)";
        }

        disk = new DiskConfig(file, readOnly, cache, format) { Backing = BackingPolicy.Unconfined };
        return null;
    }

    /// <summary>QEMU's comma-separated options, with ",," for a comma inside a value.</summary>
    public static List<string> SplitOptionList(string text) => [.. SplitOptions(text)];

    private static IEnumerable<string> SplitOptions(string text)
    {
        var current = new System.Text.StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == ',' && i + 1 < text.Length && text[i + 1] == ',')
            {
                current.Append(',');
                i++;
            }
            else if (text[i] == ',')
            {
                yield return current.ToString();
                current.Clear();
            }
            else
            {
                current.Append(text[i]);
            }
        }

        if (current.Length > 0)
        {
            yield return current.ToString();
        }
    }

    /// <summary>What `-device help` prints.</summary>
    public const string DeviceHelp =
        "Devices emu adds with -device (the rest of the machine is fixed):\n" +
        "  isa-debug-exit[,iobase=PORT][,iosize=N]  a write of V to the port ends emu with exit status (V << 1) | 1 (defaults iobase=0x501, iosize=0x02, as QEMU)\n";

    /// <summary>
    /// Parses QEMU's -device DRIVER[,prop=value...] for the devices emu has: isa-debug-exit with
    /// iobase and iosize (numbers as QEMU takes them: decimal, 0x hex or 0 octal). An unknown
    /// device or property, or a second isa-debug-exit, is an error.
    /// </summary>
    public static string? ParseDevice(string text, ref IsaDebugExitConfig? debugExit)
    {
        string[] parts = text.Split(',');
        if (parts[0] != "isa-debug-exit")
        {
            return $"-device '{parts[0]}' is not a device emu has (isa-debug-exit is; -device help lists them)";
        }

        if (debugExit is not null)
        {
            return "-device isa-debug-exit is given twice";
        }

        ushort iobase = Devices.DebugExit.IsaDebugExit.DefaultIoBase, iosize = Devices.DebugExit.IsaDebugExit.DefaultIoSize;
        foreach (string option in parts[1..])
        {
            string[] kv = option.Split('=', 2);
            if (kv.Length != 2 || kv[0] is not ("iobase" or "iosize"))
            {
                return $"-device isa-debug-exit: unknown property '{option}' (it has iobase and iosize)";
            }

            if (!TryParseNumber(kv[1], out ulong n) || n > 0xffff || (kv[0] == "iosize" && n is 0 or > 8))
            {
                return $"-device isa-debug-exit: {kv[0]}={kv[1]} is not a valid {(kv[0] == "iobase" ? "I/O port (0 to 0xffff)" : "size (1 to 8 ports)")}";
            }

            if (kv[0] == "iobase")
            {
                iobase = (ushort)n;
            }
            else
            {
                iosize = (ushort)n;
            }
        }

        if (iobase + iosize > 0x10000)
        {
            return $"-device isa-debug-exit: iobase=0x{iobase:x} with iosize={iosize} goes past port 0xffff";
        }

        debugExit = new IsaDebugExitConfig(iobase, iosize);
        return null;
    }

    private static bool TryParseNumber(string text, out ulong value)
    {
        value = 0;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return text.Length > 2 && ulong.TryParse(text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Checks -serial: stdio, mon:stdio or none.</summary>
    /// <summary>
    /// Parses QEMU's -cpu: a model name (qemu64, x86-64-v2, max). QEMU's +feature/-feature
    /// suffixes are refused with a clear error; "help" is handled by the caller.
    /// </summary>
    public static string? ParseCpu(string text, out Emulator.X86.CpuModel model)
    {
        model = Emulator.X86.CpuModel.Default;
        string name = text.Trim();
        if (name.Contains(','))
        {
            return $"-cpu takes a model name only (feature flags such as '{name[(name.IndexOf(',') + 1)..]}' are not supported); known models: {string.Join(", ", Emulator.X86.CpuModel.All.Select(m => m.Name))}";
        }

        try
        {
            model = Emulator.X86.CpuModel.Parse(name);
            return null;
        }
        catch (ArgumentException e)
        {
            return $"-cpu: {e.Message.Split(" (Parameter")[0]} (-cpu help lists them)";
        }
    }

    public static string? ParseSerial(string text, out bool onStdio)
    {
        onStdio = text is "stdio" or "mon:stdio";
        return onStdio || text == "none" ? null : $"unsupported -serial '{text}': use stdio or none";
    }
}
