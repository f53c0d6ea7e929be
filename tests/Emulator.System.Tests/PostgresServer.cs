using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Emulator.System.Tests;

/// <summary>
/// A PostgreSQL server of the test's own: initdb into a temporary directory, pg_ctl start on a free
/// loopback port, trust authentication for the user "emu"; stopped and removed on Dispose. Debian's
/// binaries (package postgresql, under /usr/lib/postgresql/VERSION/bin); as root the server runs
/// as the user postgres, which the package makes (PostgreSQL refuses to run as root).
/// </summary>
internal sealed class PostgresServer : IDisposable
{
    private readonly string bin;
    private readonly string directory;
    private readonly bool asPostgres;

    private PostgresServer(string bin, string directory, bool asPostgres, int port)
    {
        this.bin = bin;
        this.directory = directory;
        this.asPostgres = asPostgres;
        Port = port;
    }

    public int Port { get; }

    /// <summary>What `emu serve --catalogue` takes for this server.</summary>
    public string Catalogue => $"postgres:Host=127.0.0.1;Port={Port};Username=emu;Database=postgres";

    /// <summary>The directory of initdb and pg_ctl, or null when PostgreSQL is not installed.</summary>
    public static string? Binaries =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.EnumerateDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).Order(StringComparer.Ordinal).LastOrDefault()
            : null;

    public static string? Missing => Binaries is null ? "PostgreSQL's server is missing (apt-get install postgresql)" : null;

    public static PostgresServer Start()
    {
        string bin = Binaries ?? throw new InvalidOperationException(Missing);
        bool root = Environment.UserName == "root";
        string directory = Directory.CreateTempSubdirectory("emu-postgres-").FullName;
        if (root)
        {
            Run("chown", ["postgres", directory], asPostgres: false);
        }

        var server = new PostgresServer(bin, directory, root, FreePort());
        try
        {
            Run(Path.Combine(bin, "initdb"), ["-D", Path.Combine(directory, "data"), "-U", "emu", "--auth=trust", "--no-sync"], root);
            Run(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(directory, "data"), "-l", Path.Combine(directory, "log"), "-w", "-t", "120",
                "-o", $"-p {server.Port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], root);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            if (File.Exists(Path.Combine(directory, "data", "postmaster.pid")))
            {
                Run(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(directory, "data"), "-m", "immediate", "-w", "stop"], asPostgres);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Runs a command to its end (as postgres when asked, through runuser); throws with its output when it fails.</summary>
    private static void Run(string program, string[] args, bool asPostgres)
    {
        var psi = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        if (asPostgres)
        {
            foreach (string a in new[] { "-u", "postgres", "--", program })
            {
                psi.ArgumentList.Add(a);
            }
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish in 3 minutes");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {p.ExitCode}: {stdout}{stderr.Result}");
        }
    }
}

/// <summary>A test that needs PostgreSQL's server binaries: skipped without them, failed under CI.</summary>
public sealed class PostgresFactAttribute() : DependencyFactAttribute(PostgresServer.Missing);
