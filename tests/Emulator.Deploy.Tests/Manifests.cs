using System.Text.RegularExpressions;
using Emulator.Cluster.Discovery;
using k8s;
using k8s.Models;

namespace Emulator.Deploy.Tests;

/// <summary>
/// deploy/kubernetes as kubectl renders it (`kubectl kustomize`, offline), read into the
/// Kubernetes client's typed models with a strict reader (an unknown or misspelled field, or a
/// value of the wrong type, is an error), and checked against each other and against the code.
/// </summary>
internal sealed partial record Manifests(V1ServiceAccount Account, V1Role Role, V1RoleBinding Binding, V1Service Service, V1StatefulSet Nodes)
{
    public static async Task<string> RenderAsync()
    {
        string kubectl = Tools.Find("kubectl") ?? throw new InvalidOperationException("kubectl is not installed: apt-get install kubernetes-client");
        (int exit, string yaml, string error) = await Tools.RunAsync(kubectl, ["kustomize", Path.Combine(Tools.Deploy, "kubernetes")], TimeSpan.FromMinutes(1));
        if (exit != 0)
        {
            throw new InvalidOperationException($"kubectl kustomize deploy/kubernetes exited with {exit}: {error}");
        }

        return yaml;
    }

    public static Manifests Read(string yaml)
    {
        List<object> objects = KubernetesYaml.LoadAllFromString(yaml, typeMap: null, strict: true);
        return new Manifests(One<V1ServiceAccount>(objects), One<V1Role>(objects), One<V1RoleBinding>(objects), One<V1Service>(objects), One<V1StatefulSet>(objects));
    }

    private static T One<T>(List<object> objects)
    {
        var found = objects.OfType<T>().ToList();
        return found.Count == 1 ? found[0] : throw new InvalidOperationException($"deploy/kubernetes has {found.Count} objects of kind {typeof(T).Name}, not one");
    }

    public V1PodSpec Pod => Nodes.Spec.Template.Spec;

    public V1Container Emu => Pod.Containers.Single();

    /// <summary>Everything that does not fit together, one line each; empty when the manifests agree with each other and with the code.</summary>
    public List<string> Problems(KubernetesBootstrapSettings discovery)
    {
        var problems = new List<string>();
        void Require(bool condition, string problem)
        {
            if (!condition)
            {
                problems.Add(problem);
            }
        }

        IDictionary<string, string> podLabels = Nodes.Spec.Template.Metadata?.Labels ?? new Dictionary<string, string>();
        bool Selects(IDictionary<string, string>? selector) =>
            selector is { Count: > 0 } && selector.All(l => podLabels.TryGetValue(l.Key, out string? v) && v == l.Value);

        // Selectors and names.
        Require(Selects(Nodes.Spec.Selector?.MatchLabels), "the StatefulSet's selector does not match its pod template's labels");
        Require(Selects(Service.Spec.Selector), "the Service's selector does not match the pods' labels");
        Require(Nodes.Spec.ServiceName == Service.Metadata.Name, $"the StatefulSet's serviceName '{Nodes.Spec.ServiceName}' is not the Service '{Service.Metadata.Name}'");
        Require(Service.Spec.ClusterIP == "None", "the Service is not headless (clusterIP: None): pods get no DNS names of their own");
        Require(Service.Spec.PublishNotReadyAddresses == true, "the Service does not publish not-ready addresses: pods cannot reach each other before the cluster forms");
        var discoveryLabels = discovery.PodLabelSelector.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim());
        Require(Selects(discoveryLabels), $"the pods do not carry the label discovery selects on ({discovery.PodLabelSelector})");
        Require((Nodes.Spec.Replicas ?? 1) >= discovery.RequiredContactPoints,
            $"{Nodes.Spec.Replicas} replicas can never give the {discovery.RequiredContactPoints} contact points bootstrap waits for");
        Require(Nodes.Spec.PodManagementPolicy == "Parallel", "pods start one after another (podManagementPolicy is not Parallel): a new cluster, which needs several pods listed, waits for each to be ready before the next is created");

        // Ports: the container's, the Service's, the arguments', the probes'.
        var ports = Emu.Ports?.ToDictionary(p => p.Name ?? "", p => p.ContainerPort) ?? [];
        int grpc = ports.GetValueOrDefault("grpc");
        int remoting = ports.GetValueOrDefault(discovery.RemotingPortName);
        Require(grpc > 0, "no container port named 'grpc'");
        Require(remoting > 0, $"no container port named '{discovery.RemotingPortName}' (discovery gives each pod's seed address as its IP and that port)");
        foreach (var port in Service.Spec.Ports ?? [])
        {
            string target = port.TargetPort?.Value ?? port.Port.ToString(global::System.Globalization.CultureInfo.InvariantCulture);
            Require(ports.TryGetValue(target, out int number) && number == port.Port, $"the Service's port {port.Name} ({port.Port}) targets '{target}', which is not a container port of that number");
        }

        IList<string> args = Emu.Args ?? [];
        string? Arg(string flag) => args.IndexOf(flag) is int i and >= 0 && i + 1 < args.Count ? args[i + 1] : null;
        Require(args.Contains("--cluster") && Arg("--discovery") == "kubernetes", "emu serve is not told --cluster --discovery kubernetes");
        Require(Port(Arg("--listen")) == grpc, $"--listen {Arg("--listen")} is not the container port grpc ({grpc})");
        Require(Port(Arg("--cluster-listen")) == remoting, $"--cluster-listen {Arg("--cluster-listen")} is not the container port {discovery.RemotingPortName} ({remoting})");
        Require(Arg("--node-name") == "$(POD_NAME)", "--node-name is not the pod's name");
        const string podHost = "$(POD_NAME).$(SERVICE_NAME).$(POD_NAMESPACE).svc.cluster.local";
        // Discovery names a pod by its IP: that must be the node's own Akka.Remote address, or peers' messages to it are dropped.
        Require(Arg("--cluster-public-host") == "$(POD_IP)", "--cluster-public-host is not the pod's IP, the address discovery gives the other nodes");
        Require(Arg("--advertise") == $"{podHost}:{grpc}", $"--advertise is not {podHost}:{grpc}");
        Require(Emu.ReadinessProbe?.Grpc?.Port == grpc, "the readiness probe is not grpc.health.v1 on the grpc port");
        Require(Emu.LivenessProbe?.Grpc?.Port is null || Emu.LivenessProbe.Grpc.Port == grpc, "the liveness probe is not on the grpc port");

        // The environment: what the arguments expand, and what emu reads.
        var env = Emu.Env?.ToDictionary(e => e.Name) ?? [];
        foreach (string name in Reference().Matches(string.Join(' ', args)).Select(m => m.Groups[1].Value).Distinct())
        {
            // Kubernetes leaves $(NAME) as it is when NAME is not defined: the node would get a literal "$(NAME)".
            Require(env.ContainsKey(name), $"the arguments use $({name}), which is not in the container's env");
        }

        Require(env.GetValueOrDefault("POD_NAME")?.ValueFrom?.FieldRef?.FieldPath == "metadata.name", "POD_NAME is not the pod's metadata.name");
        Require(env.GetValueOrDefault("POD_NAMESPACE")?.ValueFrom?.FieldRef?.FieldPath == "metadata.namespace", "POD_NAMESPACE is not the pod's metadata.namespace");
        Require(env.GetValueOrDefault("POD_IP")?.ValueFrom?.FieldRef?.FieldPath == "status.podIP", "POD_IP is not the pod's status.podIP");
        Require(env.GetValueOrDefault("SERVICE_NAME")?.Value == Service.Metadata.Name, $"SERVICE_NAME is not the Service's name '{Service.Metadata.Name}'");
        Require(env.GetValueOrDefault("EMU_TOKEN")?.ValueFrom?.SecretKeyRef is { Name.Length: > 0, Key.Length: > 0 }, "EMU_TOKEN does not come from a Secret");
        Require(!env.ContainsKey("EMU_TOKEN") || args.Contains("--anonymous-health"), "with EMU_TOKEN set the kubelet's gRPC probe (which sends no token) needs --anonymous-health");

        // Discovery's permission to list the pods.
        Require(Pod.ServiceAccountName == Account.Metadata.Name, $"the pods run as '{Pod.ServiceAccountName}', not the ServiceAccount '{Account.Metadata.Name}'");
        Require(Binding.Subjects?.Any(s => s.Kind == "ServiceAccount" && s.Name == Account.Metadata.Name) == true, "the RoleBinding does not bind the ServiceAccount");
        Require(Binding.RoleRef.Kind == "Role" && Binding.RoleRef.Name == Role.Metadata.Name, "the RoleBinding does not refer to the Role");
        Require(Role.Rules?.Any(r => r.ApiGroups?.Contains("") == true && r.Resources?.Contains("pods") == true && r.Verbs?.Contains("list") == true) == true,
            "the Role does not let the pods list pods (Akka.Discovery.KubernetesApi's one request)");

        // Snapshots on the claimed volume.
        string? snapshots = Arg("--snapshot-dir");
        var claims = Nodes.Spec.VolumeClaimTemplates?.Select(c => c.Metadata.Name).ToHashSet() ?? [];
        Require(snapshots is not null && Emu.VolumeMounts?.Any(v => claims.Contains(v.Name) && snapshots.StartsWith(v.MountPath.TrimEnd('/') + "/", StringComparison.Ordinal)) == true,
            $"--snapshot-dir {snapshots} is not on a volume from the volumeClaimTemplates");
        return problems;
    }

    private static int Port(string? endpoint) =>
        endpoint is not null && int.TryParse(endpoint.AsSpan(endpoint.LastIndexOf(':') + 1), out int port) ? port : -1;

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex Reference();
}
