using Emulator.Cluster.Discovery;
using k8s;
using k8s.Models;
using Xunit;

namespace Emulator.Deploy.Tests;

/// <summary>
/// deploy/kubernetes: kubectl renders it offline (no cluster here), every object reads strictly
/// into its typed model, the objects fit together and fit what the code expects. Each structural
/// check is shown to fail on a manifest broken the way it guards against.
/// </summary>
public sealed class KubernetesManifestTests
{
    [KubectlFact]
    public async Task KubectlRendersTheObjectsAndTheyFitTogetherAndTheCode()
    {
        var manifests = Manifests.Read(await Manifests.RenderAsync());
        Assert.Empty(manifests.Problems(new KubernetesBootstrapSettings()));

        Assert.Equal(3, manifests.Nodes.Spec.Replicas);
        Assert.Equal("emu", manifests.Emu.Name);
        Assert.Equal([50051, 4053], manifests.Emu.Ports.Select(p => p.ContainerPort));
        Assert.Contains(manifests.Nodes.Spec.VolumeClaimTemplates, c => c.Metadata.Name == "data");
    }

    [KubectlFact]
    public async Task KubectlRefusesAManifestThatDoesNotParse()
    {
        var broken = Directory.CreateTempSubdirectory("emu-kustomize-");
        try
        {
            foreach (string file in Directory.GetFiles(Path.Combine(Tools.Deploy, "kubernetes")))
            {
                File.Copy(file, Path.Combine(broken.FullName, Path.GetFileName(file)));
            }

            string service = Path.Combine(broken.FullName, "service.yaml");
            await File.WriteAllTextAsync(service, (await File.ReadAllTextAsync(service)).Replace("  clusterIP: None", " clusterIP: None", StringComparison.Ordinal));
            (int exit, _, string error) = await Tools.RunAsync(Tools.Find("kubectl")!, ["kustomize", broken.FullName], TimeSpan.FromMinutes(1));
            Assert.NotEqual(0, exit);
            Assert.Contains("service.yaml", error);
        }
        finally
        {
            broken.Delete(recursive: true);
        }
    }

    [KubectlFact]
    public async Task AMisspelledOrMistypedFieldIsAnError()
    {
        string yaml = await Manifests.RenderAsync();
        Assert.ThrowsAny<Exception>(() => Manifests.Read(yaml.Replace("publishNotReadyAddresses:", "publishNotReadyAdresses:", StringComparison.Ordinal)));
        Assert.ThrowsAny<Exception>(() => Manifests.Read(yaml.Replace("replicas: 3", "replicas: three", StringComparison.Ordinal)));
    }

    [KubectlTheory]
    [InlineData("pod-label", "do not carry the label discovery selects on")]
    [InlineData("service-name", "is not the Service")]
    [InlineData("listen-port", "--listen 0.0.0.0:50052 is not the container port grpc")]
    [InlineData("remoting-port-name", "no container port named 'remoting'")]
    [InlineData("public-host", "--cluster-public-host is not the pod's IP")]
    [InlineData("pod-name-env", "use $(POD_NAME), which is not in the container's env")]
    [InlineData("role-verbs", "does not let the pods list pods")]
    [InlineData("ordered-start", "podManagementPolicy is not Parallel")]
    [InlineData("snapshot-dir", "is not on a volume from the volumeClaimTemplates")]
    [InlineData("no-anonymous-health", "needs --anonymous-health")]
    [InlineData("service-target", "which is not a container port of that number")]
    public async Task EachCheckFailsOnTheMistakeItGuardsAgainst(string mistake, string problem)
    {
        var m = Manifests.Read(await Manifests.RenderAsync());
        var args = m.Emu.Args;
        switch (mistake)
        {
            case "pod-label":
                m.Nodes.Spec.Template.Metadata.Labels["app.kubernetes.io/name"] = "emulator";
                break;
            case "service-name":
                m.Nodes.Spec.ServiceName = "emu-headless";
                break;
            case "listen-port":
                args[args.IndexOf("--listen") + 1] = "0.0.0.0:50052";
                break;
            case "remoting-port-name":
                m.Emu.Ports.Single(p => p.ContainerPort == 4053).Name = "akka";
                break;
            case "public-host":
                args[args.IndexOf("--cluster-public-host") + 1] = "$(POD_NAME).$(SERVICE_NAME).$(POD_NAMESPACE).svc.cluster.local";
                break;
            case "pod-name-env":
                m.Emu.Env.Remove(m.Emu.Env.Single(e => e.Name == "POD_NAME"));
                break;
            case "role-verbs":
                m.Role.Rules[0].Verbs = ["get"];
                break;
            case "ordered-start":
                m.Nodes.Spec.PodManagementPolicy = "OrderedReady";
                break;
            case "snapshot-dir":
                args[args.IndexOf("--snapshot-dir") + 1] = "/srv/snapshots";
                break;
            case "no-anonymous-health":
                args.Remove("--anonymous-health");
                break;
            case "service-target":
                m.Service.Spec.Ports[0].TargetPort = new IntstrIntOrString("http");
                break;
        }

        Assert.Contains(m.Problems(new KubernetesBootstrapSettings()), p => p.Contains(problem, StringComparison.Ordinal));
    }
}

/// <summary>A theory that needs kubectl: skipped, or failed under CI, without it.</summary>
public sealed class KubectlTheoryAttribute : TheoryAttribute
{
    public KubectlTheoryAttribute()
    {
        if (Tools.Find("kubectl") is null && !Ci.IsRunning)
        {
            Skip = "kubectl is not installed: apt-get install kubernetes-client";
        }
    }
}
