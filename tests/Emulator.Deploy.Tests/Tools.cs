using System.Diagnostics;
using System.Text;

namespace Emulator.Deploy.Tests;

/// <summary>Running the host tools the checks use (systemd-analyze, kubectl, the launcher) and where deploy/ is.</summary>
internal static class Tools
{
    public static string Deploy { get; } = Path.Combine(Repository.Root, "deploy");

    /// <summary>Runs <paramref name="file"/> to its end (killed after <paramref name="timeout"/>, which only bounds a failing test); returns its exit code and output.</summary>
    public static async Task<(int Exit, string Output, string Error)> RunAsync(
        string file, IEnumerable<string> arguments, TimeSpan timeout, string? standardInput = null, IDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }

        process.StandardInput.Close();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} ran longer than {timeout}:\n{await output}\n{await error}");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>The full path of <paramref name="name"/> on PATH (and the sbin directories a non-login root shell may lack), or null.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>A fact that needs systemd-analyze (Debian's systemd): skipped, or failed under CI, without it.</summary>
public sealed class SystemdAnalyzeFactAttribute() : DependencyFactAttribute(
    Tools.Find("systemd-analyze") is null ? "systemd-analyze is not installed: apt-get install systemd" : null);

/// <summary>A fact that needs kubectl (Debian's kubernetes-client): skipped, or failed under CI, without it.</summary>
public sealed class KubectlFactAttribute() : DependencyFactAttribute(
    Tools.Find("kubectl") is null ? "kubectl is not installed: apt-get install kubernetes-client" : null);
