using System.Diagnostics;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>`emu serve` and the `emu machine ...` client commands, as separate processes, as a user runs them.</summary>
public sealed partial class ClientCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void MachineCommandsDriveAServer()
    {
        string image = DefaultGuest.ImageDirectory;
        var snapshots = Directory.CreateTempSubdirectory("emu-cli-snapshots-");
        using var server = ConsoleSession.StartEmu(null, "serve", "--listen", "127.0.0.1:0", "--allow", Path.GetFullPath(image), "--snapshot-dir", snapshots.FullName);
        server.WaitFor("serving on ", Timeout);
        string address = Address().Match(server.WaitFor(" (machines", Timeout)).Value;
        Assert.False(string.IsNullOrEmpty(address), "emu serve printed no address");

        string[] at = ["--server", address];
        Assert.Contains("vm-cli: Created", Emu(0, ["machine", "create", "vm-cli", "--kernel", Path.Combine(image, "vmlinux"), "--initrd", Path.Combine(image, "initramfs.cpio.gz"), .. at]));
        Assert.Contains("vm-cli: Running", Emu(0, ["machine", "start", "vm-cli", .. at]));
        Assert.Contains("vm-cli", Emu(0, ["machine", "ls", .. at]));
        Assert.Contains("FailedPrecondition", Emu(1, ["machine", "rm", "vm-cli", .. at]));
        Assert.Contains("vm-cli: Paused", Emu(0, ["machine", "pause", "vm-cli", .. at]));
        Assert.Contains("vm-cli: Running", Emu(0, ["machine", "resume", "vm-cli", .. at]));
        Assert.Contains("vm-cli: Running", Emu(0, ["machine", "reset", "vm-cli", .. at]));
        Assert.Matches(@"snap-cli: [\d.]+ [KM]iB in [\d.]+ s \(guest stopped \d+ ms; \d+ of 131072 RAM pages saved", Emu(0, ["snapshot", "create", "vm-cli", "--id", "snap-cli", .. at]));
        Assert.Contains("AlreadyExists", Emu(1, ["snapshot", "create", "vm-cli", "--id", "snap-cli", .. at]));
        Assert.Matches(@"snap-cli\s+.*vm-cli", Emu(0, ["snapshot", "ls", .. at]));
        Assert.Contains("vm-cli: Stopped", Emu(0, ["machine", "stop", "vm-cli", .. at]));
        Assert.Contains("deleted vm-cli", Emu(0, ["machine", "rm", "vm-cli", .. at]));
        Assert.Contains("NotFound", Emu(1, ["machine", "show", "vm-cli", .. at]));
        Assert.Contains("vm-back: Paused", Emu(0, ["snapshot", "restore", "snap-cli", "--id", "vm-back", .. at]));
        Assert.Contains("vm-back: Paused", Emu(0, ["machine", "reset", "vm-back", .. at])); // a restored machine resets too
        Assert.Contains("vm-back: Running", Emu(0, ["machine", "resume", "vm-back", .. at]));
        Assert.Contains("deleted snap-cli", Emu(0, ["snapshot", "rm", "snap-cli", .. at]));
        Assert.Contains("NotFound", Emu(1, ["snapshot", "restore", "snap-cli", .. at]));

        // SIGTERM ends the server in order: machines closed, exit code 0.
        using (var kill = Process.Start("kill", ["-TERM", server.ProcessId.ToString(global::System.Globalization.CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
        }

        Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(30)));
        snapshots.Delete(recursive: true);
    }

    private static string Emu(int expectedExit, string[] args) => EmuProcess.Run(expectedExit, args, Timeout);

    [GeneratedRegex(@"http://[0-9.]+:[0-9]+/?")]
    private static partial Regex Address();
}
