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
        double DrainSeconds,
        int? NodeVcpus,
        string NodeMemory,
        ClusterSettings Cluster);

    /// <summary>What `emu serve` is told about the cluster it joins.</summary>
    public sealed record ClusterSettings(
        bool Enabled,
        string? NodeName,
        string Listen,
        string? PublicHost,
        string[] Seeds,
        string Discovery,
        string? Advertise);

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

        if (MachineOptions.ParseSize(settings.NodeMemory, "--node-memory", out ulong nodeMemory) is { } nodeMemoryError)
        {
            return Refuse(nodeMemoryError);
        }

        if (settings.NodeVcpus is < 1)
        {
            return Refuse("--node-vcpus must be at least 1");
        }

        if (ClusterOptionsOf(settings.Cluster, out string? clusterError) is var cluster && clusterError is not null)
        {
            return Refuse(clusterError);
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
            Machines = new MachineServiceOptions
            {
                AllowedDirectories = allowed,
                MaxMachines = settings.MaxMachines,
                MaxVcpusPerNode = settings.NodeVcpus ?? 4 * Environment.ProcessorCount,
                MaxMemoryMibPerNode = nodeMemory >> 20,
                SnapshotDirectory = snapshots,
                SnapshotQuotaBytes = (long)quota,
                Tier1 = tier1,
                NodeName = cluster?.NodeName ?? Environment.MachineName,
            },
            Cluster = cluster,
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

        if (cluster is not null)
        {
            Console.WriteLine($"emu: node {cluster.NodeName} of the cluster: endpoint {cluster.PublicHostname ?? cluster.Hostname}:{cluster.Port}, " +
                (cluster.Discovery == Emulator.Cluster.ClusterDiscovery.Kubernetes ? "seeds found through Kubernetes" : cluster.Seeds.Count > 0 ? $"seeds {string.Join(", ", cluster.Seeds)}" : "starting a new cluster"));
        }

        if (host.ClusterJoined is { IsCompleted: false } joined)
        {
            Console.WriteLine("emu: not yet a member of the cluster; MachineService reports NOT_SERVING and cluster calls are UNAVAILABLE until it joins");
            _ = joined.ContinueWith(_ => Console.WriteLine("emu: joined the cluster"), TaskScheduler.Default);
        }

        Console.WriteLine($"emu: serving on {host.Address} (machines may use files under: {string.Join(", ", allowed)}; snapshots in {snapshots}; tier 1: {tier1?.Engine.Name ?? "off"})" +
            $"{(token is null ? "" : "; a bearer token is required")}{(options.TlsCertificatePath is null ? "" : "; TLS")}");
        Console.Out.Flush();

        // SIGTERM (systemd, docker stop, kill) and Ctrl-C: health turns NOT_SERVING, streams end
        // UNAVAILABLE, calls under way finish, then the machines are closed and emu exits 0.
        using var stopping = host.Stopping.Register(() => Console.WriteLine("emu: stopping: draining, then closing the machines"));
        bool stopAsked = false;
        using var signal = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => stopAsked = true);
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, _ => stopAsked = true);
        host.WaitForShutdownAsync().GetAwaiter().GetResult();
        host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (!stopAsked && host.ClusterRemoved is { IsCompleted: true })
        {
            // Downed by the split-brain resolver (or it left the cluster on its own): its machines
            // were stopped with it, since the rest of the cluster may start them again elsewhere.
            Console.WriteLine("emu: stopped: this node is no longer a member of the cluster (downed); restart it to rejoin");
            return 3;
        }

        Console.WriteLine("emu: stopped");
        return 0;
    }

    /// <summary>The cluster options the flags give (null without --cluster), or why they cannot work.</summary>
    private static Emulator.Cluster.ClusterOptions? ClusterOptionsOf(ClusterSettings c, out string? error)
    {
        error = null;
        if (!c.Enabled)
        {
            bool clusterFlags = c.NodeName is not null || c.PublicHost is not null || c.Seeds.Length > 0 || c.Advertise is not null || c.Discovery != "seeds";
            error = clusterFlags ? "--node-name, --seed, --discovery, --advertise and --cluster-public-host need --cluster" : null;
            return null;
        }

        if (!Emulator.Cluster.ClusterOptions.TryParseEndpoint(c.Listen, out string host, out int port))
        {
            error = $"--cluster-listen '{c.Listen}' is not HOST:PORT";
            return null;
        }

        var discovery = c.Discovery switch
        {
            "seeds" => Emulator.Cluster.ClusterDiscovery.Seeds,
            "kubernetes" => Emulator.Cluster.ClusterDiscovery.Kubernetes,
            _ => (Emulator.Cluster.ClusterDiscovery?)null,
        };
        if (discovery is null)
        {
            error = $"--discovery must be seeds or kubernetes, not '{c.Discovery}'";
            return null;
        }

        string[] seeds = c.Seeds.Length > 0 ? c.Seeds
            : (Environment.GetEnvironmentVariable("EMU_CLUSTER_SEEDS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var options = new Emulator.Cluster.ClusterOptions
        {
            Hostname = host,
            Port = port,
            PublicHostname = c.PublicHost,
            Seeds = seeds,
            Discovery = discovery.Value,
            NodeName = c.NodeName ?? Environment.MachineName,
            ControlPlaneAddress = c.Advertise ?? "",
        };
        error = options.Problem();
        return error is null ? options : null;
    }

    private static int Refuse(string message)
    {
        Console.Error.WriteLine($"emu: {message}");
        return 2;
    }
}
