using Akka.Discovery.KubernetesApi;
using Akka.Hosting;

namespace Emulator.Cluster.Discovery;

/// <summary>
/// Seed discovery inside Kubernetes (`emu serve --cluster --discovery kubernetes`):
/// Akka.Discovery.KubernetesApi lists, through the API server, the pods that carry
/// <see cref="KubernetesBootstrapSettings.PodLabelSelector"/>, and <see cref="DiscoverySeeding"/>
/// joins the cluster they form (or, when none has formed and enough pods are listed, founds it at
/// the lowest address). Not Akka.Management's Cluster Bootstrap: its HTTP endpoint cannot start
/// with the packages the registry holds (RATIONALE.md beside this file). deploy/kubernetes is
/// written to these settings' defaults; tests/Emulator.Deploy.Tests checks that the two agree.
/// </summary>
public static class KubernetesBootstrap
{
    /// <summary>Where a pod's service account token is mounted (Akka.Discovery.KubernetesApi's api-token-path).</summary>
    public const string ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    /// <summary>The variables the kubelet sets in every pod and Akka.Discovery.KubernetesApi reads to reach the API server.</summary>
    public const string ApiHostVariable = "KUBERNETES_SERVICE_HOST";

    public const string ApiPortVariable = "KUBERNETES_SERVICE_PORT";

    /// <summary>
    /// Adds Kubernetes API discovery and the seeding that uses it to <paramref name="builder"/>.
    /// The node must have no seed nodes configured, and its Akka.Remote public host name must be
    /// its pod IP (discovery names pods by IP). Throws <see cref="InvalidOperationException"/> with
    /// the reason, before changing the builder, when the settings are unusable or the process is
    /// not in a Kubernetes pod (no API server variables or no service account token): outside
    /// Kubernetes the lookups would fail forever and the node never join.
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

        builder.WithKubernetesDiscovery(discovery =>
        {
            discovery.PodLabelSelector = settings.PodLabelSelector;
            if (settings.PodNamespace is { } ns)
            {
                discovery.PodNamespace = ns;
            }
        });
        return DiscoverySeeding.Add(builder, settings, KubernetesDiscoveryMethod);
    }

    /// <summary>Why this process cannot use Kubernetes discovery with these settings (not in a pod, say), or null.</summary>
    public static string? Refusal(KubernetesBootstrapSettings settings) =>
        (settings.Problem() ?? OutsideKubernetes(Environment.GetEnvironmentVariable, File.Exists)) is { } problem ? $"--discovery kubernetes: {problem}" : null;

    /// <summary>The discovery method Akka.Discovery.KubernetesApi registers (its config section under akka.discovery).</summary>
    public const string KubernetesDiscoveryMethod = "kubernetes-api";

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
