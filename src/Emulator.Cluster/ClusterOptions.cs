namespace Emulator.Cluster;

/// <summary>
/// How one `emu serve --cluster` node joins the others: its Akka.Remote endpoint, how it finds
/// the cluster (seed nodes, or Kubernetes discovery), its name, where peers reach its control
/// plane, and how patient the split-brain resolver is.
/// </summary>
public sealed record ClusterOptions
{
    /// <summary>The address Akka.Remote binds (`--cluster-listen HOST:PORT`).</summary>
    public string Hostname { get; init; } = "127.0.0.1";

    public int Port { get; init; } = DefaultPort;

    public const int DefaultPort = 4053;

    /// <summary>The host name other nodes reach this one by, when it differs from the bound one (`--cluster-public-host`; a pod's DNS name).</summary>
    public string? PublicHostname { get; init; }

    /// <summary>Seed nodes as HOST:PORT (`--seed`, or EMU_CLUSTER_SEEDS, comma separated). Empty with <see cref="ClusterDiscovery.Seeds"/>: this node starts a new cluster.</summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    public ClusterDiscovery Discovery { get; init; } = ClusterDiscovery.Seeds;

    /// <summary>The node's name in the cluster (ListMachines' node, MigrateMachine's target); unique.</summary>
    public string NodeName { get; init; } = Environment.MachineName;

    /// <summary>The control-plane address other nodes call this one by (`--advertise`; as `emu --server` takes it).</summary>
    public string ControlPlaneAddress { get; init; } = "";

    /// <summary>How long membership must be stable before the split-brain resolver downs unreachable nodes (keep-majority).</summary>
    public TimeSpan DowningStableAfter { get; init; } = TimeSpan.FromSeconds(7);

    /// <summary>Refuses what cannot work, with the flag to fix; null when the options are usable.</summary>
    public string? Problem()
    {
        if (Port is < 0 or > 65535)
        {
            return "--cluster-listen: the port must be 0 to 65535";
        }

        if (string.IsNullOrWhiteSpace(NodeName) || NodeName.Length > 64 || NodeName.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')))
        {
            return "--node-name must be 1-64 letters, digits, '-', '_' or '.'";
        }

        if (Discovery == ClusterDiscovery.Kubernetes && Emulator.Cluster.Discovery.KubernetesBootstrap.Refusal(new Emulator.Cluster.Discovery.KubernetesBootstrapSettings()) is { } outside)
        {
            return outside;
        }

        foreach (string seed in Seeds)
        {
            if (!TryParseEndpoint(seed, out _, out _))
            {
                return $"--seed '{seed}' is not HOST:PORT";
            }
        }

        return null;
    }

    /// <summary>HOST:PORT, with a port of 1 to 65535 (IPv6 hosts in brackets).</summary>
    public static bool TryParseEndpoint(string text, out string host, out int port)
    {
        host = "";
        port = 0;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        host = text[..colon].Trim('[', ']');
        return host.Length > 0 && !host.Any(char.IsWhiteSpace);
    }
}

/// <summary>How a node finds the cluster it joins.</summary>
public enum ClusterDiscovery
{
    /// <summary>The seed nodes given (`--seed`).</summary>
    Seeds,

    /// <summary>Akka.Management's cluster bootstrap with Kubernetes API discovery (`--discovery kubernetes`; deploy/kubernetes).</summary>
    Kubernetes,
}
