using System.Text.RegularExpressions;
using Xunit;

namespace Emulator.Deploy.Tests;

/// <summary>
/// deploy/systemd/emu.service: `systemd-analyze verify` finds nothing to say about it (a warning
/// is a failure too), its sandboxing scores as "OK" in `systemd-analyze security`, and what its
/// command line expands is set. verify needs ExecStart's binary to exist, so the unit is checked
/// with /opt/emu/emu replaced by an executable that does.
/// </summary>
public sealed partial class SystemdUnitTests
{
    private static readonly string Unit = Path.Combine(Tools.Deploy, "systemd", "emu.service");
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    [SystemdAnalyzeFact]
    public async Task VerifyFindsNothingToSay()
    {
        (int exit, string output) = await VerifyAsync(await File.ReadAllTextAsync(Unit));
        Assert.True(exit == 0 && output.Length == 0, $"systemd-analyze verify exited {exit}:\n{output}");
    }

    [SystemdAnalyzeFact]
    public async Task VerifySpeaksUpAboutADamagedUnit()
    {
        // The check can fail: a misspelled key and a bad value are reported (verify still exits 0 for them).
        string damaged = (await File.ReadAllTextAsync(Unit))
            .Replace("ProtectSystem=strict", "ProtectSytem=strict", StringComparison.Ordinal)
            .Replace("Restart=on-failure", "Restart=sometimes", StringComparison.Ordinal);
        (_, string output) = await VerifyAsync(damaged);
        Assert.Contains("Unknown key name 'ProtectSytem'", output.Replace("Unknown key '", "Unknown key name '", StringComparison.Ordinal));
        Assert.Contains("sometimes", output);
    }

    [SystemdAnalyzeFact]
    public async Task ItsExposureIsLowAndItAllowsOnlyTheTapDevice()
    {
        string text = await File.ReadAllTextAsync(Unit);
        string copy = await WriteCopyAsync(text);
        try
        {
            // Exposure is 0.0 (locked down) to 10.0; --threshold takes it times ten. 2.0 and below is "OK".
            (int exit, string output, string error) = await Tools.RunAsync(Tools.Find("systemd-analyze")!,
                ["security", "--offline=true", "--threshold=20", copy], Timeout);
            Assert.True(exit == 0, $"exposure above 2.0:\n{output}{error}");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(copy)!, recursive: true);
        }

        Assert.Contains("DevicePolicy=closed", text);
        Assert.Equal(["/dev/net/tun rw"], Directives(text, "DeviceAllow"));
        Assert.Equal(["on-failure"], Directives(text, "Restart"));
        Assert.Equal(["emu"], Directives(text, "User"));
    }

    [Fact]
    public async Task WhatExecStartExpandsIsSetAndTheExampleEnvironmentNamesTheTokenAndTheSeeds()
    {
        string text = await File.ReadAllTextAsync(Unit);
        string example = await File.ReadAllTextAsync(Path.Combine(Tools.Deploy, "systemd", "emu.env.example"));
        var defaults = Directives(text, "Environment").Select(e => e.Split('=', 2)[0]).ToHashSet();
        var fromFile = example.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split('=', 2)[0]).ToHashSet();

        string execStart = Assert.Single(Directives(text, "ExecStart"));
        foreach (Match m in Variable().Matches(execStart))
        {
            string name = m.Groups[1].Value + m.Groups[2].Value;
            Assert.True(defaults.Contains(name) || fromFile.Contains(name), $"ExecStart uses {name}, set neither by Environment= nor in emu.env.example");
        }

        Assert.Contains("EMU_TOKEN", fromFile);
        Assert.Contains("EMU_CLUSTER_SEEDS", fromFile);
        Assert.Equal(["/etc/emu/emu.env"], Directives(text, "EnvironmentFile"));
        Assert.Contains("--snapshot-dir /var/lib/emu/snapshots", execStart);
        Assert.Contains("emu/snapshots", Assert.Single(Directives(text, "StateDirectory")));
    }

    private static async Task<(int Exit, string Output)> VerifyAsync(string unit)
    {
        string copy = await WriteCopyAsync(unit);
        try
        {
            (int exit, string output, string error) = await Tools.RunAsync(Tools.Find("systemd-analyze")!, ["verify", copy], Timeout);
            return (exit, (output + error).Trim());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(copy)!, recursive: true);
        }
    }

    /// <summary>The unit in a directory of its own, its binary replaced by one that exists here.</summary>
    private static async Task<string> WriteCopyAsync(string unit)
    {
        string binary = Tools.Find("true") ?? throw new InvalidOperationException("no 'true' on PATH");
        var dir = Directory.CreateTempSubdirectory("emu-unit-");
        string copy = Path.Combine(dir.FullName, "emu.service");
        Assert.Contains("ExecStart=/opt/emu/emu ", unit);
        await File.WriteAllTextAsync(copy, unit.Replace("ExecStart=/opt/emu/emu ", $"ExecStart={binary} ", StringComparison.Ordinal));
        return copy;
    }

    private static List<string> Directives(string unit, string key) =>
        unit.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith(key + "=", StringComparison.Ordinal)).Select(l => l[(key.Length + 1)..]).ToList();

    [GeneratedRegex(@"\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)")]
    private static partial Regex Variable();
}
