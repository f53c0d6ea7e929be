using System.Text.RegularExpressions;
using Xunit;

namespace Emulator.Deploy.Tests;

/// <summary>
/// Every `emu serve` flag that deploy/ passes is one the emu built beside these tests accepts
/// (its `serve --help`), so a renamed flag fails here rather than in a unit or pod that no test starts.
/// </summary>
public sealed partial class ServeFlagsTests
{
    [Fact]
    public async Task TheSystemdUnitAndItsExampleUseOnlyFlagsEmuServeHas()
    {
        var known = await KnownFlagsAsync();
        string unit = await File.ReadAllTextAsync(Path.Combine(Tools.Deploy, "systemd", "emu.service"));
        string example = await File.ReadAllTextAsync(Path.Combine(Tools.Deploy, "systemd", "emu.env.example"));
        string execStart = unit.Split('\n').Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        string serveArgs = example.Split('\n').Single(l => l.StartsWith("EMU_SERVE_ARGS=", StringComparison.Ordinal));
        var used = Flag().Matches(execStart + " " + serveArgs).Select(m => m.Value).ToHashSet();
        Assert.Contains("--cluster", used);
        Assert.Empty(used.Except(known));
    }

    [KubectlFact]
    public async Task TheStatefulSetUsesOnlyFlagsEmuServeHas()
    {
        var known = await KnownFlagsAsync();
        var args = Manifests.Read(await Manifests.RenderAsync()).Emu.Args;
        Assert.Equal("serve", args[0]);
        var used = args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToHashSet();
        Assert.Contains("--discovery", used);
        Assert.Empty(used.Except(known));
    }

    private static async Task<HashSet<string>> KnownFlagsAsync()
    {
        (int exit, string help, string error) = await Tools.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "emu.dll"), "serve", "--help"], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"emu serve --help exited {exit}: {error}");
        var flags = Flag().Matches(help).Select(m => m.Value).ToHashSet();
        Assert.Contains("--listen", flags);
        return flags;
    }

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z0-9-]*")]
    private static partial Regex Flag();
}
