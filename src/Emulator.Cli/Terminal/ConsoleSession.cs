using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Emulator.Cli.Terminal;

/// <summary>
/// Drives a machine process as a user would (emu, or QEMU for comparison): its standard input and
/// output are the guest's serial console. Waits for text such as the shell prompt, types
/// commands, and collects what each printed. Used by the full-system tests and `emu bench boot`.
/// </summary>
public sealed partial class ConsoleSession : IDisposable
{
    /// <summary>The default guest's shell prompt (images/build-guest.sh).</summary>
    public const string Prompt = "emu-guest:~# ";
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly object gate = new();
    private int consumed;

    private ConsoleSession(Process process)
    {
        this.process = process;
        var reader = new Thread(ReadLoop) { IsBackground = true, Name = "guest serial" };
        reader.Start();
    }

    /// <summary>Everything the guest printed so far (escape sequences and carriage returns removed).</summary>
    public string Transcript
    {
        get
        {
            lock (gate)
            {
                return Clean(output.ToString());
            }
        }
    }

    /// <summary>Standard error of the process, once it has exited.</summary>
    public string Errors => process.HasExited ? process.StandardError.ReadToEnd() : "";

    /// <summary>Starts this build's emu (the emu.dll beside the running assembly) with <paramref name="args"/>.</summary>
    public static ConsoleSession StartEmu(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Start("dotnet", environment, [Path.Combine(AppContext.BaseDirectory, "emu.dll"), .. args]);

    /// <summary>Starts any program with its console on pipes.</summary>
    public static ConsoleSession Start(string program, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryRoot() ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        return new ConsoleSession(Process.Start(psi)!);
    }

    /// <summary>Waits until the guest has printed <paramref name="text"/> after what was consumed; returns what came before it.</summary>
    public string WaitFor(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            lock (gate)
            {
                string all = Clean(output.ToString());
                int at = all.IndexOf(text, consumed, StringComparison.Ordinal);
                if (at >= 0)
                {
                    string before = all[consumed..at];
                    consumed = at + text.Length;
                    return before;
                }

                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the machine exited with {process.ExitCode} while waiting for '{text}'. stderr: {process.StandardError.ReadToEnd()}\n{Tail(all)}");
                }

                Monitor.Wait(gate, 200);
            }
        }

        throw new TimeoutException($"no '{text}' from the guest within {timeout.TotalSeconds:F0} s:\n{Tail(Transcript)}");
    }

    /// <summary>Types a command and returns its output (between the echoed command and the next prompt).</summary>
    public string Run(string command, TimeSpan timeout)
    {
        Type(command + "\n");
        WaitFor(command, timeout);
        return WaitFor(Prompt, timeout).Trim('\n');
    }

    public void Type(string text)
    {
        process.StandardInput.Write(text);
        process.StandardInput.Flush();
    }

    /// <summary>The process's id (to send it signals).</summary>
    public int ProcessId => process.Id;

    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            throw new TimeoutException($"the machine did not exit within {timeout.TotalSeconds:F0} s");
        }

        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        process.Dispose();
    }

    private void ReadLoop()
    {
        var buffer = new char[4096];
        int n;
        while ((n = process.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
        {
            lock (gate)
            {
                output.Append(buffer, 0, n);
                Monitor.PulseAll(gate);
            }
        }
    }

    private static string Clean(string s) => AnsiEscape().Replace(s, "").Replace("\r", "");

    private static string Tail(string s) => s.Length > 3000 ? s[^3000..] : s;

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex AnsiEscape();

    /// <summary>The checkout this build came from, if it runs from one.</summary>
    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Emulator.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
