namespace Emulator.Cluster.Discovery;

/// <summary>
/// What <see cref="KubernetesBootstrap.AddKubernetesBootstrap(Akka.Hosting.AkkaConfigurationBuilder, KubernetesBootstrapSettings)"/>
/// is told. The defaults are what deploy/kubernetes declares (the pod label, the name of the
/// Akka.Remote container port, the replica count); tests/Emulator.Deploy.Tests fails if either
/// side changes alone.
/// </summary>
public sealed record KubernetesBootstrapSettings
{
    public const string DefaultServiceName = "emu";

    public const string DefaultPodLabelSelector = "app.kubernetes.io/name=emu";

    public const string DefaultRemotingPortName = "remoting";

    /// <summary>The StatefulSet has three replicas: a new cluster forms once two of them are listed.</summary>
    public const int DefaultRequiredContactPoints = 2;

    /// <summary>The service name looked up; Kubernetes API discovery lists by <see cref="PodLabelSelector"/> whatever it is.</summary>
    public string ServiceName { get; init; } = DefaultServiceName;

    /// <summary>The label selector the API server's pod list is filtered with: the StatefulSet's pod template labels.</summary>
    public string PodLabelSelector { get; init; } = DefaultPodLabelSelector;

    /// <summary>The name of the container port Akka.Remote listens on: each listed pod's seed address is its IP and that port.</summary>
    public string RemotingPortName { get; init; } = DefaultRemotingPortName;

    /// <summary>How many pods must be listed before a node may found a new cluster (it joins an existing one as soon as it is listed).</summary>
    public int RequiredContactPoints { get; init; } = DefaultRequiredContactPoints;

    /// <summary>How long the list must stay the same before the nodes act on it, so that pods starting together agree on who founds the cluster.</summary>
    public TimeSpan StableMargin { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the pods are listed until the node is a member.</summary>
    public TimeSpan LookupInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The namespace to list pods in; null: the pod's own (read from its service account).</summary>
    public string? PodNamespace { get; init; }

    /// <summary>What makes these settings unusable, with the setting to fix; null when they are usable.</summary>
    public string? Problem()
    {
        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            return "the service name is empty";
        }

        if (string.IsNullOrWhiteSpace(PodLabelSelector) || PodLabelSelector.Split(',').Any(term => !term.Contains('=')))
        {
            return $"the pod label selector '{PodLabelSelector}' is not KEY=VALUE[,KEY=VALUE...]";
        }

        if (string.IsNullOrWhiteSpace(RemotingPortName) || RemotingPortName.Length > 15)
        {
            // A container port's name is an IANA service name: at most 15 characters.
            return $"the remoting port name '{RemotingPortName}' must be 1-15 characters";
        }

        if (RequiredContactPoints < 1)
        {
            return "at least one contact point is required";
        }

        if (StableMargin < TimeSpan.Zero || LookupInterval <= TimeSpan.Zero)
        {
            return "the stable margin must be 0 or more and the lookup interval more than 0";
        }

        return null;
    }
}
