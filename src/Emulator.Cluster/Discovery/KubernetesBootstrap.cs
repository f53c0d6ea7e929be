using Akka.Discovery.KubernetesApi;
using Akka.Hosting;
using Akka.Management;
using Akka.Management.Cluster.Bootstrap;

namespace Emulator.Cluster.Discovery;

/// <summary>
/// Seed discovery inside Kubernetes (`emu serve --cluster --discovery kubernetes`): Akka.Management's
/// HTTP endpoint, Akka.Discovery.KubernetesApi (which lists the pods that carry
/// <see cref="KubernetesBootstrapSettings.PodLabelSelector"/> through the API server) and Cluster
/// Bootstrap (which asks the contact points found that way for seed nodes, and forms a new cluster
/// at the lowest address when none has one). deploy/kubernetes is written to these settings'
/// defaults; tests/Emulator.Deploy.Tests checks that the two agree.
/// </summary>
public static class KubernetesBootstrap
{
    /// <summary>Where a pod's service account token is mounted (Akka.Discovery.KubernetesApi's api-token-path).</summary>
    public const string ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    /// <summary>The variables the kubelet sets in every pod and Akka.Discovery.KubernetesApi reads to reach the API server.</summary>
    public const string ApiHostVariable = "KUBERNETES_SERVICE_HOST";

    public const string ApiPortVariable = "KUBERNETES_SERVICE_PORT";

    /// <summary>
    /// Adds Akka.Management, Kubernetes API discovery and Cluster Bootstrap to <paramref name="builder"/>.
    /// The node must have no seed nodes configured (Cluster Bootstrap finds them). Throws
    /// <see cref="InvalidOperationException"/> with the reason, before changing the builder, when
    /// the settings are unusable or the process is not in a Kubernetes pod (no API server
    /// variables or no service account token): outside Kubernetes discovery would otherwise retry
    /// forever and the node would never join.
    /// </summary>
    public static AkkaConfigurationBuilder AddKubernetesBootstrap(this AkkaConfigurationBuilder builder, KubernetesBootstrapSettings settings)
        => AddKubernetesBootstrap(builder, settings, Environment.GetEnvironmentVariable, File.Exists);

    /// <summary>
    /// As <see cref="AddKubernetesBootstrap(AkkaConfigurationBuilder, KubernetesBootstrapSettings)"/>, judging
    /// whether this is a pod by the given environment and file system (tests give their own).
    /// </summary>
    public static AkkaConfigurationBuilder AddKubernetesBootstrap(
        this AkkaConfigurationBuilder builder, KubernetesBootstrapSettings settings, Func<string, string?> environment, Func<string, bool> fileExists)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        if ((settings.Problem() ?? OutsideKubernetes(environment, fileExists)) is { } problem)
        {
            throw new InvalidOperationException($"--discovery kubernetes: {problem}");
        }

        builder.WithAkkaManagement(management =>
        {
            // Peers reach this endpoint by the pod IP discovery returns (use-raw-ip), so it binds
            // every interface; the name it reports is the pod's own DNS name.
            management.HostName = settings.ManagementHostname;
            management.Port = settings.ManagementPort;
            management.BindHostName = settings.ManagementBindHostname;
            management.BindPort = settings.ManagementPort;
        });

        builder.WithKubernetesDiscovery(discovery =>
        {
            discovery.PodLabelSelector = settings.PodLabelSelector;
            if (settings.PodNamespace is { } ns)
            {
                discovery.PodNamespace = ns;
            }
        });

        builder.WithClusterBootstrap(bootstrap =>
        {
            bootstrap.ContactPointDiscovery.ServiceName = settings.ServiceName;
            bootstrap.ContactPointDiscovery.PortName = settings.ManagementPortName;
            bootstrap.ContactPointDiscovery.RequiredContactPointsNr = settings.RequiredContactPoints;
            bootstrap.ContactPointDiscovery.DiscoveryMethod = "kubernetes-api";
            bootstrap.NewClusterEnabled = true;
        });

        return builder;
    }

    /// <summary>Why this process cannot reach the Kubernetes API as a pod does; null inside a pod.</summary>
    private static string? OutsideKubernetes(Func<string, string?> environment, Func<string, bool> fileExists)
    {
        var missing = new List<string>();
        foreach (string name in new[] { ApiHostVariable, ApiPortVariable })
        {
            if (string.IsNullOrEmpty(environment(name)))
            {
                missing.Add($"{name} is not set");
            }
        }

        if (!fileExists(ServiceAccountTokenPath))
        {
            missing.Add($"no service account token at {ServiceAccountTokenPath} (automountServiceAccountToken off?)");
        }

        return missing.Count == 0 ? null
            : $"this process is not in a Kubernetes pod ({string.Join("; ", missing)}); outside Kubernetes use --discovery seeds with --seed HOST:PORT";
    }
}
