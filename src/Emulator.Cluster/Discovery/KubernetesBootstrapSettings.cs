namespace Emulator.Cluster.Discovery;

/// <summary>
/// What <see cref="KubernetesBootstrap.AddKubernetesBootstrap(Akka.Hosting.AkkaConfigurationBuilder, KubernetesBootstrapSettings)"/>
/// is told. The defaults are what deploy/kubernetes declares (the pod label, the
/// management port's name and number, the replica count); tests/Emulator.Deploy.Tests fails if
/// either side changes alone.
/// </summary>
public sealed record KubernetesBootstrapSettings
{
    public const string DefaultServiceName = "emu";

    public const string DefaultPodLabelSelector = "app.kubernetes.io/name=emu";

    public const string DefaultManagementPortName = "management";

    public const int DefaultManagementPort = 8558;

    /// <summary>The StatefulSet has three replicas: a new cluster forms once two of them see each other.</summary>
    public const int DefaultRequiredContactPoints = 2;

    /// <summary>The name Cluster Bootstrap looks up; with Kubernetes API discovery it is only a label, the selector decides.</summary>
    public string ServiceName { get; init; } = DefaultServiceName;

    /// <summary>The label selector the API server's pod list is filtered with: the StatefulSet's pod template labels.</summary>
    public string PodLabelSelector { get; init; } = DefaultPodLabelSelector;

    /// <summary>The name of the container port that serves Akka.Management (discovery returns that port of each pod).</summary>
    public string ManagementPortName { get; init; } = DefaultManagementPortName;

    public int ManagementPort { get; init; } = DefaultManagementPort;

    /// <summary>The host name the management endpoint reports (the pod's DNS name, `--cluster-public-host`); null: Akka.Remote's public host name.</summary>
    public string? ManagementHostname { get; init; }

    /// <summary>The interface the management endpoint binds: every one, as contact points are reached by pod IP.</summary>
    public string ManagementBindHostname { get; init; } = "0.0.0.0";

    /// <summary>How many pods discovery must find before a new cluster may be formed.</summary>
    public int RequiredContactPoints { get; init; } = DefaultRequiredContactPoints;

    /// <summary>The namespace to list pods in; null: the pod's own (read from its service account).</summary>
    public string? PodNamespace { get; init; }

    /// <summary>What makes these settings unusable, with the setting to fix; null when they are usable.</summary>
    public string? Problem()
    {
        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            return "the service name is empty";
        }

        if (string.IsNullOrWhiteSpace(PodLabelSelector) || !PodLabelSelector.Contains('='))
        {
            return $"the pod label selector '{PodLabelSelector}' is not KEY=VALUE";
        }

        if (string.IsNullOrWhiteSpace(ManagementPortName) || ManagementPortName.Length > 15)
        {
            // A container port's name is an IANA service name: at most 15 characters.
            return $"the management port name '{ManagementPortName}' must be 1-15 characters";
        }

        if (ManagementPort is < 1 or > 65535)
        {
            return "the management port must be 1 to 65535";
        }

        if (RequiredContactPoints < 1)
        {
            return "at least one contact point is required";
        }

        return null;
    }
}
