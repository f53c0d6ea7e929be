using System.Diagnostics;
using Emulator.Cli.Terminal;
using Emulator.Testing;

namespace Emulator.System.Tests;

/// <summary>Needs root, iproute2's ip and /dev/net/tun (network namespaces and TAP devices): skipped without them, failed under CI.</summary>
public sealed class NetworkFactAttribute() : DependencyFactAttribute(MissingDependency())
{
    private static string? MissingDependency()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network tests need Linux (network namespaces and TAP devices)";
        }

        if (!Environment.IsPrivilegedProcess)
        {
            return "network tests need root (ip netns add, TAP devices)";
        }

        if (!File.Exists("/dev/net/tun"))
        {
            return "/dev/net/tun is missing (modprobe tun)";
        }

        string[] dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return dirs.Any(d => File.Exists(Path.Combine(d, "ip"))) ? null : "ip not on PATH (apt-get install iproute2)";
    }
}

/// <summary>
/// A network namespace made for one test, with a TAP device in it that has the host side's
/// address (/24) and is up; processes started through it run in the namespace. Disposing kills
/// them and deletes the namespace, and the TAP with it.
/// </summary>
public sealed class NetNamespace : IDisposable
{
    private readonly List<Process> processes = [];
    private readonly List<ConsoleSession> sessions = [];

    public NetNamespace(string name, string tap, string hostAddress)
    {
        Name = name;
        Tap = tap;
        HostAddress = hostAddress;
        Ip("netns", "del", name, allowFailure: true); // left over from a run that was killed
        Ip("netns", "add", name);
        try
        {
            Ip("-n", name, "link", "set", "lo", "up");
            Ip("-n", name, "tuntap", "add", "dev", tap, "mode", "tap");
            Ip("-n", name, "addr", "add", $"{hostAddress}/24", "dev", tap);
            Ip("-n", name, "link", "set", tap, "up");
        }
        catch
        {
            Ip("netns", "del", name, allowFailure: true);
            throw;
        }
    }

    public string Name { get; }

    public string Tap { get; }

    public string HostAddress { get; }

    /// <summary>Starts <paramref name="program"/> in the namespace (output discarded unless read by the caller).</summary>
    public Process Start(string program, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["netns", "exec", Name, program, .. args])
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        processes.Add(p);
        return p;
    }

    /// <summary>This build's emu in the namespace, its console on pipes.</summary>
    public ConsoleSession StartEmu(params string[] args)
    {
        var s = ConsoleSession.Start("ip", null, ["netns", "exec", Name, "dotnet", Path.Combine(AppContext.BaseDirectory, "emu.dll"), .. args]);
        sessions.Add(s);
        return s;
    }

    public void Dispose()
    {
        sessions.ForEach(s => s.Dispose());
        foreach (var p in processes)
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }

            p.Dispose();
        }

        Ip("netns", "del", Name, allowFailure: true);
    }

    public static string Ip(params string[] args) => Ip(args, allowFailure: false);

    private static string Ip(string a, string b, string c, bool allowFailure) => Ip([a, b, c], allowFailure);

    private static string Ip(string[] args, bool allowFailure)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}");
        }

        return output;
    }
}
