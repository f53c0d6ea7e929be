using Emulator.Service.Machines;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Emulator.Service.Hosting;

/// <summary>How a node serves its control plane: where, to whom, with which limits.</summary>
public sealed record ControlPlaneOptions
{
    /// <summary>Loopback, a port the system chooses, unless told otherwise.</summary>
    public ListenAddress Listen { get; init; } = ListenAddress.Loopback(0);

    /// <summary>When set, every call needs "authorization: Bearer &lt;token&gt;". Empty is refused: unset it instead.</summary>
    public string? BearerToken { get; init; }

    /// <summary>Health may be asked without the token (load balancers, orchestrators' probes); every other service needs it.</summary>
    public bool AnonymousHealth { get; init; }

    /// <summary>PEM certificate chain and private key: TLS (HTTP/2 by ALPN). Both or neither.</summary>
    public string? TlsCertificatePath { get; init; }

    public string? TlsKeyPath { get; init; }

    /// <summary>Serve a non-loopback address without a token and TLS anyway (a trusted network, or TLS ended in front).</summary>
    public bool InsecureListen { get; init; }

    /// <summary>A larger request fails with RESOURCE_EXHAUSTED before the handler runs.</summary>
    public int MaxReceiveMessageBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>A larger response fails the call with RESOURCE_EXHAUSTED instead of being sent.</summary>
    public int MaxSendMessageBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Calls at once on one HTTP/2 connection; more wait for a free stream at the client.</summary>
    public int MaxConcurrentStreamsPerConnection { get; init; } = 100;

    /// <summary>Connections at once; more are refused.</summary>
    public long MaxConnections { get; init; } = 1024;

    /// <summary>
    /// After SIGTERM (or <see cref="ControlPlaneHost.StopAsync"/>) health reports NOT_SERVING for this
    /// long while calls are still served, so balancers move clients elsewhere; then streams end with UNAVAILABLE.
    /// </summary>
    public TimeSpan DrainDelay { get; init; } = TimeSpan.Zero;

    public MachineServiceOptions Machines { get; init; } = new();

    /// <summary>Joins an emu cluster (`emu serve --cluster`); null: the node works alone.</summary>
    public Emulator.Cluster.ClusterOptions? Cluster { get; init; }

    /// <summary>How long the start waits for the node to join the cluster before serving anyway (MachineService's health NOT_SERVING until it joins).</summary>
    public TimeSpan ClusterJoinWait { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Extra tracing set-up (an exporter for tests); OTLP is added when the standard OTEL_* variables name an endpoint.</summary>
    public Action<TracerProviderBuilder>? ConfigureTracing { get; init; }

    /// <summary>Extra metrics set-up (an exporter for tests); OTLP is added when the standard OTEL_* variables name an endpoint.</summary>
    public Action<MeterProviderBuilder>? ConfigureMetrics { get; init; }

    /// <summary>Why these options cannot be served, or null.</summary>
    public string? Problem()
    {
        if (BearerToken is { Length: 0 })
        {
            return "the bearer token is empty: set EMU_TOKEN to a secret, or unset it to serve without one";
        }

        if ((TlsCertificatePath is null) != (TlsKeyPath is null))
        {
            return "--tls-cert and --tls-key go together";
        }

        if (!Listen.IsLocal && !InsecureListen && (BearerToken is null || TlsCertificatePath is null))
        {
            return $"refusing to listen on {Listen}, reachable from other hosts, without {(BearerToken is null ? "a bearer token (EMU_TOKEN)" : "")}" +
                $"{(BearerToken is null && TlsCertificatePath is null ? " and " : "")}{(TlsCertificatePath is null ? "TLS (--tls-cert, --tls-key)" : "")}: " +
                "anyone who reaches it could run machines on this node and read the files they are allowed. " +
                "Listen on 127.0.0.1 or unix:PATH, add what is missing, or pass --insecure-listen if the network is trusted";
        }

        if (Cluster?.Problem() is { } clusterProblem)
        {
            return clusterProblem;
        }

        if (Cluster is not null && Cluster.NodeName != Machines.NodeName)
        {
            return "the cluster's node name and the machine service's differ";
        }

        return null;
    }
}
