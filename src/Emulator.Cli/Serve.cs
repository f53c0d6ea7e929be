using Emulator.Service.Hosting;
using Emulator.Service.Machines;

namespace Emulator.Cli;

/// <summary>`emu serve`: the gRPC control plane (MachineService, grpc.health.v1, server reflection) on this node.</summary>
internal static class Serve
{
    /// <summary>What `emu serve` is told on its command line.</summary>
    public sealed record Settings(
        string Listen,
        string[] Allow,
        int MaxMachines,
        string? SnapshotDirectory,
        string SnapshotQuota,
        string Accel,
        string? TlsCertificate,
        string? TlsKey,
        bool InsecureListen,
        bool AnonymousHealth,
        double DrainSeconds);

    public static int Run(Settings settings)
    {
        var notes = new List<string>();
        if (MachineOptions.ParseAccel(settings.Accel, notes, out var tier1) is { } accelError)
        {
            return Refuse(accelError);
        }

        notes.ForEach(n => Console.Error.WriteLine($"emu: note: {n}"));

        if (ListenAddress.TryParse(settings.Listen, out string? listenError) is not { } listen)
        {
            return Refuse($"--listen {listenError}");
        }

        if (MachineOptions.ParseSize(settings.SnapshotQuota, "--snapshot-quota", out ulong quota) is { } quotaError)
        {
            return Refuse(quotaError);
        }

        if (quota < 1UL << 20)
        {
            return Refuse("--snapshot-quota must be at least 1M");
        }

        if (settings.DrainSeconds < 0)
        {
            return Refuse("--drain-seconds must be 0 or more");
        }

        // Set but empty is a mistake (an unset variable in a script), not "no token": refuse it.
        string? token = Environment.GetEnvironmentVariable("EMU_TOKEN");
        if (token is { Length: 0 })
        {
            return Refuse("EMU_TOKEN is set but empty: set it to a secret, or unset it to serve without a token");
        }

        var allowed = settings.Allow.Length > 0 ? settings.Allow : [Path.GetFullPath(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "emu"))];
        string snapshots = Path.GetFullPath(settings.SnapshotDirectory ?? MachineServiceOptions.DefaultSnapshotDirectory);
        var options = new ControlPlaneOptions
        {
            Listen = listen,
            BearerToken = token,
            AnonymousHealth = settings.AnonymousHealth,
            TlsCertificatePath = settings.TlsCertificate is null ? null : Path.GetFullPath(settings.TlsCertificate),
            TlsKeyPath = settings.TlsKey is null ? null : Path.GetFullPath(settings.TlsKey),
            InsecureListen = settings.InsecureListen,
            DrainDelay = TimeSpan.FromSeconds(settings.DrainSeconds),
            Machines = new MachineServiceOptions { AllowedDirectories = allowed, MaxMachines = settings.MaxMachines, SnapshotDirectory = snapshots, SnapshotQuotaBytes = (long)quota, Tier1 = tier1 },
        };
        if (options.Problem() is { } problem)
        {
            return Refuse(problem);
        }

        ControlPlaneHost host;
        try
        {
            host = ControlPlaneHost.StartAsync(options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            return Refuse($"cannot serve on {listen}: {e.Message}");
        }

        Console.WriteLine($"emu: serving on {host.Address} (machines may use files under: {string.Join(", ", allowed)}; snapshots in {snapshots}; tier 1: {tier1?.Engine.Name ?? "off"})" +
            $"{(token is null ? "" : "; a bearer token is required")}{(options.TlsCertificatePath is null ? "" : "; TLS")}");
        Console.Out.Flush();

        // SIGTERM (systemd, docker stop, kill) and Ctrl-C: health turns NOT_SERVING, streams end
        // UNAVAILABLE, calls under way finish, then the machines are closed and emu exits 0.
        using var stopping = host.Stopping.Register(() => Console.WriteLine("emu: stopping: draining, then closing the machines"));
        host.WaitForShutdownAsync().GetAwaiter().GetResult();
        host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine("emu: stopped");
        return 0;
    }

    private static int Refuse(string message)
    {
        Console.Error.WriteLine($"emu: {message}");
        return 2;
    }
}
