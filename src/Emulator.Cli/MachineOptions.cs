using System.Globalization;

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

    /// <summary>Notes for the user about accepted-but-ignored options.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>
    /// Parses QEMU's -m syntax: a number with an optional suffix (K, M, G, T; M when absent),
    /// or size=N[suffix]. Returns an error message, or null with the size.
    /// </summary>
    public static string? ParseMemory(string text, out ulong bytes)
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
            return $"invalid memory size '{text}' (examples: 512, 512M, 2G)";
        }

        bytes = n * unit;
        if (bytes < 32UL << 20)
        {
            return $"memory size {text} is too small: Linux needs at least 32 MiB";
        }

        if (bytes > 64UL << 30 || bytes / unit != n)
        {
            return $"memory size {text} is too large (at most 64G)";
        }

        bytes &= ~0xfffUL;
        return null;
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

    /// <summary>Checks -accel: tcg (its options are accepted and ignored, with a note); anything else is refused.</summary>
    public static string? ParseAccel(string text, List<string> notes)
    {
        string[] parts = text.Split(',');
        if (parts[0] != "tcg")
        {
            return $"accelerator '{parts[0]}' is not available: emu translates guest code itself (use -accel tcg or leave it out)";
        }

        if (parts.Length > 1)
        {
            notes.Add($"-accel tcg options ignored: {string.Join(',', parts[1..])} (emu has its own translator and tiers)");
        }

        return null;
    }

    /// <summary>Checks -serial: stdio, mon:stdio or none.</summary>
    public static string? ParseSerial(string text, out bool onStdio)
    {
        onStdio = text is "stdio" or "mon:stdio";
        return onStdio || text == "none" ? null : $"unsupported -serial '{text}': use stdio or none";
    }
}
