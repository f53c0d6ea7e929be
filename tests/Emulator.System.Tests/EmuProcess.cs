using System.Diagnostics;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>The emu command line as a separate process, as a user runs it.</summary>
internal static class EmuProcess
{
    /// <summary>Runs emu to completion; checks its exit code and returns stdout and stderr together.</summary>
    public static string Run(int expectedExit, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "emu.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"emu {string.Join(' ', args)} did not finish within {timeout}");
        }

        string all = stdout + stderr.Result;
        Assert.True(p.ExitCode == expectedExit, $"emu {string.Join(' ', args)} exited {p.ExitCode}: {all}");
        return all;
    }
}
